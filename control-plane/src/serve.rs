//! `llm-router serve`: the composition root of the control plane. It loads the config,
//! builds snapshots (config -> `translate` -> `xds::encode` -> `xds::snapshot`), serves them
//! over ADS, watches the file, and serves the operations endpoints.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;
use tracing::{error, info};

use crate::config::{self, Config, Severity};
use crate::reload::{Builder, ConfigWatcher, Outcome, Reloader};
use crate::telemetry::{self, ConfigStatus, Metrics};
use crate::translate;
use crate::vertex_auth::TokenStore;
use crate::xds::cache::SnapshotCache;
use crate::xds::encode::{encode_json, EncodeError};
use crate::xds::server::{AdsService, TlsFiles};
use crate::xds::snapshot::{Resource, Snapshot, SnapshotError, CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE};

/// How long `serve` waits for the first Vertex tokens before it answers Envoy.
const FIRST_TOKEN_WAIT: Duration = Duration::from_secs(5);

/// Default quiet time after a file event before the config is read.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub translate: translate::Options,
    pub xds_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub debounce: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("inconsistent snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("a {0} resource without a name")]
    Unnamed(&'static str),
    #[error("{}", .0.join("; "))]
    Secrets(Vec<String>),
}

/// Type URL of SDS secrets (provider API keys), served over ADS.
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// Encoded resources of the previous build, by (type URL, name): an edit re-encodes only the
/// resources whose content changed (encoding dominates the build of a large config).
#[derive(Debug, Default)]
pub struct EncodeCache {
    entries: std::collections::HashMap<(String, String), Arc<Resource>>,
}

fn encode_all(
    type_url: &str,
    what: &'static str,
    list: &[Value],
    cache: &mut EncodeCache,
    next: &mut EncodeCache,
) -> Result<(String, Vec<Arc<Resource>>), BuildError> {
    let mut out = Vec::with_capacity(list.len());
    for v in list {
        let name = v.get("name").and_then(Value::as_str).ok_or(BuildError::Unnamed(what))?;
        // serde_json keeps key order, so the JSON text is a deterministic content key.
        let canonical = serde_json::to_vec(v).unwrap_or_default();
        let key = (type_url.to_string(), name.to_string());
        let version = Resource::with_canonical(name, Vec::new(), &canonical).version;
        let resource = match cache.entries.remove(&key) {
            Some(r) if r.version == version => r,
            _ => Arc::new(Resource { name: name.to_string(), body: encode_json(type_url, name, v)?, version }),
        };
        next.entries.insert(key, resource.clone());
        out.push(resource);
    }
    Ok((type_url.to_string(), out))
}

/// The xDS snapshot of a config.
pub fn build_snapshot(cfg: &Config, opts: &translate::Options) -> Result<Snapshot, BuildError> {
    build_snapshot_cached(cfg, opts, &mut EncodeCache::default())
}

/// [`build_snapshot`], reusing (and then replacing) `cache`.
pub fn build_snapshot_cached(
    cfg: &Config,
    opts: &translate::Options,
    cache: &mut EncodeCache,
) -> Result<Snapshot, BuildError> {
    let problems = translate::secret_problems(cfg, opts);
    if !problems.is_empty() {
        return Err(BuildError::Secrets(problems));
    }
    let r = translate::translate_xds(cfg, opts);
    let mut next = EncodeCache::default();
    let mut resources = vec![
        encode_all(LISTENER, "listener", &r.listeners, cache, &mut next)?,
        encode_all(ROUTE, "route configuration", &r.route_configs, cache, &mut next)?,
        encode_all(CLUSTER, "cluster", &r.clusters, cache, &mut next)?,
        encode_all(EXTENSION_CONFIG, "extension config", &r.extension_configs, cache, &mut next)?,
    ];
    // Envoy asks for secrets only when a cluster refers to one; an empty type would never be
    // ACKed and would keep every proxy from counting as converged.
    if !r.secrets.is_empty() {
        resources.push(encode_all(SECRET, "secret", &r.secrets, cache, &mut next)?);
    }
    let references = [
        (ROUTE.to_string(), translate::ROUTE_CONFIG_NAME.to_string()),
        (EXTENSION_CONFIG.to_string(), translate::ROUTER_FILTER_NAME.to_string()),
    ];
    let snapshot = Snapshot::new(resources, &references)?;
    *cache = next;
    Ok(snapshot)
}

/// The builder the reloader runs on every edit: YAML text -> snapshot, or diagnostics.
/// With `tokens`, Vertex deployments get their service account's current access token (and
/// the store starts refreshing tokens for accounts it has not seen).
pub fn snapshot_builder(file: String, opts: translate::Options, tokens: Option<TokenStore>) -> Builder {
    let cache = Mutex::new(EncodeCache::default());
    Box::new(move |text: &str| {
        let loaded = config::load_str(text, &file).map_err(|diags| {
            diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect::<Vec<_>>()
        })?;
        let mut opts = opts.clone();
        if let Some(tokens) = &tokens {
            opts.vertex = tokens.sync(&loaded.config.deployments).into_iter().collect();
        }
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = build_snapshot_cached(&loaded.config, &opts, &mut cache)
            .map_err(|e| vec![format!("{file}:1:1: the config cannot be served: {e}")])?;
        Ok((snapshot, loaded.warnings.iter().map(|w| w.to_string()).collect()))
    })
}

/// Runs the control plane until `shutdown` resolves. `ready` is called once both ports
/// listen and the first config is served (with the bound xDS address).
pub async fn run(
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send,
    ready: impl FnOnce(SocketAddr) + Send,
) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let status = Arc::new(Mutex::new(ConfigStatus::default()));
    let (cache, reader) = SnapshotCache::new();
    let file = opts.config.display().to_string();
    let tokens = TokenStore::new(metrics.clone());
    let mut token_changes = tokens.changes();
    let mut reloader = Reloader::new(
        opts.config.clone(),
        snapshot_builder(file.clone(), opts.translate.clone(), Some(tokens.clone())),
        cache,
        reader.clone(),
        metrics.clone(),
        status.clone(),
    );
    // Watch before the first read, so an edit made in between is not missed.
    let mut watcher = ConfigWatcher::new(&opts.config, opts.debounce)?;
    match reloader.reload().await {
        Outcome::Applied { .. } => {}
        Outcome::Refused(errors) => {
            anyhow::bail!(
                "{file}: {} error(s); fix the config and start again (`llm-router validate --config {file}` lists them)",
                errors.len()
            )
        }
        Outcome::Unchanged => anyhow::bail!("{file}: not loaded"),
    }
    // Envoy should start with Vertex tokens, not find out a moment later that it has them.
    if tokens.has_accounts() {
        tokens.first_round(FIRST_TOKEN_WAIT).await;
        token_changes.borrow_and_update();
        reloader.rebuild().await;
    }

    let xds_listener = telemetry::bind(opts.xds_addr, "--xds-addr").await?;
    let xds_bound = xds_listener.local_addr().context("xDS listener address")?;
    let http_listener = telemetry::bind(opts.metrics_addr, "--metrics-addr").await?;
    let http_bound = http_listener.local_addr().context("metrics listener address")?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let service = AdsService::new(reader.clone(), metrics.clone());
    let tls = opts.tls.clone();
    let xds_task = tokio::spawn({
        let stop = stopped(stop_rx.clone());
        async move { crate::xds::server::serve(xds_listener, service, tls.as_ref(), stop).await }
    });
    let http_task = tokio::spawn(telemetry::serve_http(
        http_listener,
        metrics.clone(),
        reader.clone(),
        status,
        stopped(stop_rx.clone()),
    ));
    info!(
        xds = %xds_bound,
        tls = opts.tls.is_some(),
        mtls = opts.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        metrics = %http_bound,
        config = %file,
        version = reloader.current().map(|s| s.version.clone()).unwrap_or_default(),
        "control plane serving"
    );
    ready(xds_bound);

    tokio::pin!(shutdown);
    let mut xds_task = xds_task;
    let mut failure: Option<anyhow::Error> = None;
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            res = &mut xds_task => {
                failure = Some(match res {
                    Ok(Ok(())) => anyhow::anyhow!("the xDS server stopped"),
                    Ok(Err(e)) => e.into(),
                    Err(e) => anyhow::anyhow!("the xDS server task failed: {e}"),
                });
                break;
            }
            more = watcher.changed() => {
                if !more {
                    error!("the config watcher stopped; edits are no longer picked up");
                    break;
                }
                reloader.reload().await;
            }
            changed = token_changes.changed() => {
                if changed.is_ok() {
                    reloader.rebuild().await;
                }
            }
        }
    }
    info!("shutting down: closing ADS streams (Envoys keep their config)");
    drop(reloader); // drops the snapshot writer: every stream ends
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + Duration::from_secs(3);
    if failure.is_none() {
        let _ = tokio::time::timeout_at(deadline.into(), xds_task).await;
    }
    let _ = tokio::time::timeout_at(deadline.into(), http_task).await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn example(name: &str) -> Config {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
        config::load(&path).unwrap_or_else(|d| panic!("{name}: {d:?}")).config
    }

    fn opts() -> translate::Options {
        translate::Options { filter_wasm: "/x/llm_router_filter.wasm".into(), ..Default::default() }
    }

    #[test]
    fn the_same_config_always_builds_the_same_version() {
        let a = build_snapshot(&example("active-passive.yaml"), &opts()).expect("builds");
        let b = build_snapshot(&example("active-passive.yaml"), &opts()).expect("builds");
        assert_eq!(a.version, b.version);
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn a_config_edit_never_changes_the_listener() {
        let a = build_snapshot(&example("active-passive.yaml"), &opts()).expect("builds");
        let b = build_snapshot(&example("weighted.yaml"), &opts()).expect("builds");
        assert_ne!(a.version, b.version);
        assert_eq!(a.type_version(LISTENER), b.type_version(LISTENER));
        assert_ne!(a.type_version(EXTENSION_CONFIG), b.type_version(EXTENSION_CONFIG));
        assert_eq!(a.names(LISTENER), [translate::LISTENER_NAME.to_string()].into());
        assert_eq!(a.names(ROUTE), [translate::ROUTE_CONFIG_NAME.to_string()].into());
        assert_eq!(a.names(EXTENSION_CONFIG), [translate::ROUTER_FILTER_NAME.to_string()].into());
        assert!(a.names(CLUSTER).contains(translate::NO_ROUTE_CLUSTER));
    }

    #[test]
    fn the_xds_listener_refers_to_rds_and_ecds() {
        let l = translate::xds_listener(&opts());
        let hcm = &l["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(hcm["rds"]["route_config_name"], translate::ROUTE_CONFIG_NAME);
        let f = &hcm["http_filters"][0];
        assert_eq!(f["name"], translate::ROUTER_FILTER_NAME);
        assert_eq!(f["config_discovery"]["type_urls"][0], translate::WASM_FILTER_TYPE_URL);
    }

    #[test]
    fn an_edit_reencodes_only_what_changed() {
        let mut cache = EncodeCache::default();
        let a = build_snapshot_cached(&example("active-passive.yaml"), &opts(), &mut cache).expect("builds");
        let b = build_snapshot_cached(&example("active-passive.yaml"), &opts(), &mut cache).expect("builds");
        let cluster = |s: &Snapshot| s.of_type(CLUSTER).and_then(|t| t.items.values().next().cloned());
        let (ca, cb) = (cluster(&a).expect("a cluster"), cluster(&b).expect("a cluster"));
        assert!(Arc::ptr_eq(&ca, &cb), "an unchanged cluster is reused, not re-encoded");
        let fresh = build_snapshot(&example("active-passive.yaml"), &opts()).expect("builds");
        assert_eq!(fresh.version, b.version);
    }

    #[test]
    fn a_broken_config_gives_file_line_col_diagnostics() {
        let build = snapshot_builder("litellm.yaml".into(), opts(), None);
        let errors = build("model_list:\n  - model_name: x\n    litellm_params: [\n").expect_err("refused");
        assert!(errors.iter().all(|e| e.starts_with("litellm.yaml:")), "{errors:?}");
        let ok = build("model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\n");
        assert!(ok.is_ok(), "{:?}", ok.err());
    }
}
