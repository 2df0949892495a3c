//! `llm-router serve`: the composition root of the control plane. It wires the config
//! watcher and the reloader, the Vertex token store, the xDS server and the operations
//! endpoints together; the work is elsewhere: `config` loads, `servable` decides whether a
//! config can be served, `translate` turns it into a snapshot, `reload` keeps the last good
//! one serving and `xds` serves it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::config::{self, Severity};
use crate::ratelimit::{self, LimitsConfig, LimitsSender, RateLimiterService};
use crate::reload::{Builder, Built, ConfigWatcher, Outcome, Reloader, Shape};
use crate::servable;
use crate::telemetry::{self, ConfigStatus, Metrics};
use crate::translate;
use crate::vertex_tokens::TokenStore;
use crate::xds::cache::{CacheReader, SnapshotCache};
use crate::xds::server::{AdsService, ServeError, TlsFiles};

/// How long `serve` waits for the first Vertex tokens before it answers Envoy.
const FIRST_TOKEN_WAIT: Duration = Duration::from_secs(5);

/// Default quiet time after a file event before the config is read. 50 ms collapses an
/// editor's burst of events (and a Kubernetes volume's symlink swap) and keeps a rename ->
/// Envoy-ACK under 100 ms at p99 (`xds-bench envoy`: about 60 ms p50, 65-72 ms p99 on a
/// 2-core machine; docs/benchmarks.md).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub config: PathBuf,
    pub translate: translate::Options,
    pub xds_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub debounce: Duration,
}

/// The builder the reloader runs on every edit: YAML text -> snapshot, or diagnostics.
/// With `tokens`, Vertex deployments get their service account's current access token (and
/// the store starts refreshing tokens for accounts it has not seen). With `limits`, each built
/// config's rpm/tpm and Redis go to the rate limit service.
pub fn snapshot_builder(
    file: String,
    opts: translate::Options,
    tokens: Option<TokenStore>,
    limits: Option<LimitsSender>,
) -> Builder {
    let cache = Mutex::new(translate::BuildCache::default());
    Box::new(move |text: &str| {
        let loaded = config::load_str(text, &file).map_err(|diags| {
            diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.to_string()).collect::<Vec<_>>()
        })?;
        let mut opts = opts.clone();
        if let Some(tokens) = &tokens {
            opts.vertex = tokens.sync(&loaded.config.deployments).into_iter().collect();
        }
        let refused = |why: String| vec![format!("{file}:1:1: the config cannot be served: {why}")];
        let servable = servable::check(&loaded.config, &opts);
        if !servable.is_servable() {
            return Err(refused(servable.problems.join("; ")));
        }
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot =
            translate::build_snapshot_cached(&loaded.config, &opts, &mut cache).map_err(|e| refused(e.to_string()))?;
        if let Some(limits) = &limits {
            let new = LimitsConfig::of(&loaded.config);
            limits.send_if_modified(|current| (**current != new).then(|| *current = Arc::new(new)).is_some());
        }
        let warnings = loaded.warnings.iter().map(|w| w.to_string());
        let warnings = warnings.chain(servable.warnings.iter().map(|w| format!("{file}:1:1: warning: {w}")));
        Ok(Built { snapshot, warnings: warnings.collect(), shape: Shape::of(&loaded.config) })
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
    let (limits, limits_rx) = watch::channel(Arc::new(LimitsConfig::default()));
    let builder = snapshot_builder(file.clone(), opts.translate.clone(), Some(tokens.clone()), Some(limits));
    let mut reloader =
        Reloader::new(opts.config.clone(), builder, cache, reader.clone(), metrics.clone(), status.clone());
    reloader.stable_window = opts.debounce;
    // Watch before the first read, so an edit made in between is not missed.
    let mut watcher = ConfigWatcher::new(&opts.config, opts.debounce)?;
    first_load(&mut reloader, &file).await?;
    first_tokens(&tokens, &mut token_changes, &mut reloader).await;
    // The rate limit service counts from the first config on; it follows every applied one.
    let rate_limits = RateLimiterService::new(None, &metrics.registry);
    tokio::spawn(ratelimit::follow_config(rate_limits.clone(), limits_rx));
    let mut servers = Servers::start(&opts, reader, metrics, status, rate_limits).await?;
    info!(
        xds = %servers.xds_addr,
        tls = opts.tls.is_some(),
        mtls = opts.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
        metrics = %servers.http_addr,
        config = %file,
        version = reloader.current().map(|s| s.version.clone()).unwrap_or_default(),
        "control plane serving"
    );
    ready(servers.xds_addr);
    let failure = follow_changes(shutdown, &mut servers, &mut watcher, &mut reloader, &mut token_changes).await;
    info!("shutting down: closing ADS streams (Envoys keep their config)");
    drop(reloader); // drops the snapshot writer: every stream ends
    servers.stop(failure).await
}

/// Serves the config for the first time; refuses to start without a good one.
async fn first_load(reloader: &mut Reloader, file: &str) -> anyhow::Result<()> {
    match reloader.reload().await {
        Outcome::Applied { .. } => Ok(()),
        Outcome::Refused(errors) => anyhow::bail!(
            "{file}: {} error(s); fix the config and start again (`llm-router validate --config {file}` lists them)",
            errors.len()
        ),
        Outcome::Unchanged | Outcome::Deferred(_) => anyhow::bail!("{file}: not loaded"),
    }
}

/// Envoy should start with Vertex tokens, not find out a moment later that it has them.
async fn first_tokens(tokens: &TokenStore, token_changes: &mut watch::Receiver<u64>, reloader: &mut Reloader) {
    if tokens.has_accounts() {
        tokens.first_round(FIRST_TOKEN_WAIT).await;
        token_changes.borrow_and_update();
        reloader.rebuild().await;
    }
}

/// Rebuilds on every edit of the file and every token change until `shutdown` resolves or the
/// xDS server stops; returns why it stopped when that is a failure.
async fn follow_changes(
    shutdown: impl std::future::Future<Output = ()> + Send,
    servers: &mut Servers,
    watcher: &mut ConfigWatcher,
    reloader: &mut Reloader,
    token_changes: &mut watch::Receiver<u64>,
) -> Option<anyhow::Error> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return None,
            res = &mut servers.xds_task => {
                return Some(match res {
                    Ok(Ok(())) => anyhow::anyhow!("the xDS server stopped"),
                    Ok(Err(e)) => e.into(),
                    Err(e) => anyhow::anyhow!("the xDS server task failed: {e}"),
                });
            }
            more = watcher.changed() => {
                if !more {
                    error!("the config watcher stopped; edits are no longer picked up");
                    return None;
                }
                if let Outcome::Deferred(_) = reloader.reload().await {
                    watcher.recheck(); // read it again once the file has been stable for a window
                }
            }
            changed = token_changes.changed() => {
                if changed.is_ok() {
                    reloader.rebuild().await;
                }
            }
        }
    }
}

/// The xDS server and the operations endpoints, running on their own tasks.
struct Servers {
    xds_addr: SocketAddr,
    http_addr: SocketAddr,
    xds_task: JoinHandle<Result<(), ServeError>>,
    http_task: JoinHandle<std::io::Result<()>>,
    stop: watch::Sender<bool>,
}

impl Servers {
    /// Binds both ports and starts serving on them.
    async fn start(
        opts: &ServeOptions,
        reader: CacheReader,
        metrics: Arc<Metrics>,
        status: Arc<Mutex<ConfigStatus>>,
        rate_limits: RateLimiterService,
    ) -> anyhow::Result<Servers> {
        let xds_listener = telemetry::bind(opts.xds_addr, "--xds-addr").await?;
        let xds_addr = xds_listener.local_addr().context("xDS listener address")?;
        let http_listener = telemetry::bind(opts.metrics_addr, "--metrics-addr").await?;
        let http_addr = http_listener.local_addr().context("metrics listener address")?;

        let (stop, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        // ADS and the rate limit service share the port and its TLS / client-certificate rules.
        let routes = tonic::service::Routes::new(AdsService::new(reader.clone(), metrics.clone()).into_server())
            .add_service(rate_limits.into_server());
        let tls = opts.tls.clone();
        let xds_task = tokio::spawn({
            let stop = stopped(stop_rx.clone());
            async move { crate::xds::server::serve_routes(xds_listener, routes, tls.as_ref(), stop).await }
        });
        let http_task =
            tokio::spawn(telemetry::serve_http(http_listener, metrics, reader, status, stopped(stop_rx.clone())));
        Ok(Servers { xds_addr, http_addr, xds_task, http_task, stop })
    }

    /// Stops both servers, giving them a few seconds to finish. `failure` (the xDS task
    /// ended, and was awaited, already) is the result.
    async fn stop(self, failure: Option<anyhow::Error>) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + Duration::from_secs(3);
        if failure.is_none() {
            let _ = tokio::time::timeout_at(deadline.into(), self.xds_task).await;
        }
        let _ = tokio::time::timeout_at(deadline.into(), self.http_task).await;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> translate::Options {
        translate::Options { filter_wasm: "/x/llm_router_filter.wasm".into(), ..Default::default() }
    }

    #[test]
    fn a_broken_config_gives_file_line_col_diagnostics() {
        let build = snapshot_builder("litellm.yaml".into(), opts(), None, None);
        let errors = build("model_list:\n  - model_name: x\n    litellm_params: [\n").expect_err("refused");
        assert!(errors.iter().all(|e| e.starts_with("litellm.yaml:")), "{errors:?}");
        let ok = build("model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\n");
        assert!(ok.is_ok(), "{:?}", ok.err());
    }
}
