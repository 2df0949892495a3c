//! The xDS form of a config, for `serve`: the resources Envoy fetches over ADS, and the
//! snapshot that serves them (encoded through `crate::xds::assemble`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};

use super::clusters::{for_each_cluster, ClusterPart};
use super::{
    gateway_listener, route_config, router_config, router_filter, translate_parts, Options, ROUTER_FILTER_NAME,
    ROUTE_CONFIG_NAME,
};
use crate::config::{Config, Deployment, RouterSettings};
use crate::xds::assemble::{AssembleError, Assembler, EncodeCache};
use crate::xds::snapshot::{Resource, Snapshot, CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE, SECRET};

/// Envoy's dynamic resources for `serve` (xDS), all as canonical JSON.
///
/// The listener depends on [`Options`] only, never on the config, so a config edit never
/// replaces it (a replaced listener drains its connections): the router filter's
/// configuration comes by ECDS ([`XdsResources::extension_configs`]) and the routes by RDS.
/// Clusters, with each deployment's upstream wasm filter, come by CDS.
#[derive(Debug, Clone, PartialEq)]
pub struct XdsResources {
    pub listeners: Vec<Value>,
    pub route_configs: Vec<Value>,
    pub clusters: Vec<Value>,
    /// `TypedExtensionConfig`s (`{name, typed_config}`) for ECDS.
    pub extension_configs: Vec<Value>,
    /// Provider API keys as SDS secrets (`/config_dump` shows them redacted).
    pub secrets: Vec<Value>,
    /// Short content hash of the filter configuration, logged by the filter.
    pub config_hash: String,
}

/// Type URL of the router filter's ECDS resource (`config_discovery.type_urls`).
pub const WASM_FILTER_TYPE_URL: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/// An xDS config source that says "over the ADS stream".
pub fn ads_config_source() -> Value {
    json!({"ads": {}, "resource_api_version": "V3"})
}

/// Translates a config into the xDS form: the listener refers to its routes (RDS) and to the
/// router filter (ECDS); the routes, clusters and filter configuration are the same as
/// [`translate`](super::translate)'s.
pub fn translate_xds(cfg: &Config, opts: &Options) -> XdsResources {
    let parts = translate_parts(cfg, opts);
    XdsResources {
        listeners: vec![xds_listener(opts)],
        route_configs: vec![parts.route_config],
        clusters: parts.clusters,
        extension_configs: vec![router_filter(opts, &parts.router_config)],
        secrets: parts.secrets,
        config_hash: parts.router_config.config_hash,
    }
}

/// The gateway listener of xDS mode: a function of the command line only.
pub fn xds_listener(opts: &Options) -> Value {
    let ecds = json!({
        "name": ROUTER_FILTER_NAME,
        "config_discovery": {
            "config_source": ads_config_source(),
            "type_urls": [WASM_FILTER_TYPE_URL],
        },
    });
    let rds = json!({"rds": {"route_config_name": ROUTE_CONFIG_NAME, "config_source": ads_config_source()}});
    gateway_listener(opts, ecds, rds)
}

/// The xDS snapshot of a config. It does not ask whether the config can be served: that is
/// [`crate::servable::check`]'s, which `serve` asks first.
pub fn build_snapshot(cfg: &Config, opts: &Options) -> Result<Snapshot, AssembleError> {
    build_snapshot_cached(cfg, opts, &mut BuildCache::default())
}

/// What one build leaves for the next: the encoded resources, and each deployment's cluster
/// with the inputs it was made from. An edit then translates and encodes only the clusters
/// whose inputs changed (with 10,000 deployments, translating every cluster again costs more
/// than reading the YAML).
#[derive(Debug, Default)]
pub struct BuildCache {
    encode: EncodeCache,
    /// The router settings and the options (less the Vertex state, which is per deployment)
    /// the clusters below were made with: every cluster depends on them.
    shared: Option<(RouterSettings, Options)>,
    /// By deployment id.
    clusters: HashMap<String, BuiltCluster>,
    /// Clusters the last build translated (the others were its predecessor's).
    translated: usize,
}

impl BuildCache {
    /// Deployments' clusters the last build translated rather than took from the one before.
    pub fn translated(&self) -> usize {
        self.translated
    }
}

/// A deployment's cluster and what it was made from (see [`super::clusters::ClusterInputs`]).
#[derive(Debug)]
struct BuiltCluster {
    deployment: Deployment,
    group_size: usize,
    auth_filters: Vec<Value>,
    resource: Arc<Resource>,
    /// The SDS secrets it refers to.
    secrets: Vec<String>,
}

/// [`build_snapshot`], reusing (and then replacing) `cache`.
///
/// Each cluster is built, encoded (or found unchanged) and dropped before the next one is
/// built: the JSON of every cluster is never in memory at once.
pub fn build_snapshot_cached(cfg: &Config, opts: &Options, cache: &mut BuildCache) -> Result<Snapshot, AssembleError> {
    let mut snapshot = Assembler::new(&mut cache.encode);
    snapshot.add(LISTENER, "listener", &xds_listener(opts))?;
    snapshot.add(ROUTE, "route configuration", &route_config(cfg, opts))?;
    snapshot.add(EXTENSION_CONFIG, "extension config", &router_filter(opts, &router_config(cfg, opts)))?;
    let shared = (cfg.router.clone(), Options { vertex: Default::default(), ..opts.clone() });
    let reuse = cache.shared.as_ref() == Some(&shared);
    let previous = &mut cache.clusters;
    let mut built = HashMap::with_capacity(cfg.deployments.len());
    let mut translated = 0;
    // What the listener and the clusters refer to must be in the snapshot with them. Envoy
    // asks for secrets only when a cluster refers to one, so the secret type exists only when
    // some cluster has one (an empty type would never be ACKed and would keep every proxy
    // from counting as converged), and a secret no cluster refers to is refused.
    let mut secrets = BTreeSet::new();
    for_each_cluster(cfg, opts, |part| {
        match part {
            ClusterPart::Deployment(inputs) => {
                let d = inputs.deployment;
                let same = |b: &BuiltCluster| {
                    b.group_size == inputs.group_size && b.deployment == *d && b.auth_filters == inputs.auth_filters
                };
                let cluster = match previous.remove(&d.id).filter(|b| reuse && same(b)) {
                    Some(b) => {
                        snapshot.add_resource(CLUSTER, b.resource.clone());
                        b
                    }
                    None => {
                        translated += 1;
                        let (deployment, group_size, auth_filters) =
                            (d.clone(), inputs.group_size, inputs.auth_filters.clone());
                        let json = inputs.build();
                        let mut refers_to = BTreeSet::new();
                        sds_references(&json, &mut refers_to);
                        let resource = snapshot.add(CLUSTER, "cluster", &json)?;
                        BuiltCluster {
                            deployment,
                            group_size,
                            auth_filters,
                            resource,
                            secrets: refers_to.into_iter().collect(),
                        }
                    }
                };
                secrets.extend(cluster.secrets.iter().cloned());
                built.insert(d.id.clone(), cluster);
            }
            ClusterPart::Secret(secret) => {
                snapshot.add(SECRET, "secret", &secret)?;
            }
            ClusterPart::NoRoute(cluster) => {
                snapshot.add(CLUSTER, "cluster", &cluster)?;
            }
        }
        Ok::<(), AssembleError>(())
    })?;
    let mut references = vec![
        (ROUTE.to_string(), ROUTE_CONFIG_NAME.to_string()),
        (EXTENSION_CONFIG.to_string(), ROUTER_FILTER_NAME.to_string()),
    ];
    references.extend(secrets.into_iter().map(|name| (SECRET.to_string(), name)));
    let snapshot = snapshot.finish(&references)?;
    cache.shared = Some(shared);
    cache.clusters = built;
    cache.translated = translated;
    Ok(snapshot)
}

/// Adds to `out` the SDS secrets `resource` refers to: every `{"name": N, "sds_config": ...}`
/// in it.
fn sds_references(resource: &Value, out: &mut BTreeSet<String>) {
    match resource {
        Value::Object(map) => {
            if let (Some(Value::String(name)), Some(_)) = (map.get("name"), map.get("sds_config")) {
                out.insert(name.clone());
            }
            map.values().for_each(|child| sds_references(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| sds_references(child, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config;
    use crate::translate::{LISTENER_NAME, NO_ROUTE_CLUSTER};

    fn example(name: &str) -> Config {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
        config::load(&path).unwrap_or_else(|d| panic!("{name}: {d:?}")).config
    }

    fn opts() -> Options {
        Options { filter_wasm: "/x/llm_router_filter.wasm".into(), ..Default::default() }
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
        assert_eq!(a.names(LISTENER), [LISTENER_NAME.to_string()].into());
        assert_eq!(a.names(ROUTE), [ROUTE_CONFIG_NAME.to_string()].into());
        assert_eq!(a.names(EXTENSION_CONFIG), [ROUTER_FILTER_NAME.to_string()].into());
        assert!(a.names(CLUSTER).contains(NO_ROUTE_CLUSTER));
    }

    #[test]
    fn the_xds_listener_refers_to_rds_and_ecds() {
        let l = xds_listener(&opts());
        let hcm = &l["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(hcm["rds"]["route_config_name"], ROUTE_CONFIG_NAME);
        let f = &hcm["http_filters"][0];
        assert_eq!(f["name"], ROUTER_FILTER_NAME);
        assert_eq!(f["config_discovery"]["type_urls"][0], WASM_FILTER_TYPE_URL);
    }

    #[test]
    fn an_edit_reencodes_only_what_changed() {
        let mut cache = BuildCache::default();
        let a = build_snapshot_cached(&example("active-passive.yaml"), &opts(), &mut cache).expect("builds");
        let b = build_snapshot_cached(&example("active-passive.yaml"), &opts(), &mut cache).expect("builds");
        let cluster = |s: &Snapshot| s.of_type(CLUSTER).and_then(|t| t.items.values().next().cloned());
        let (ca, cb) = (cluster(&a).expect("a cluster"), cluster(&b).expect("a cluster"));
        assert!(Arc::ptr_eq(&ca, &cb), "an unchanged cluster is reused, not re-encoded");
        let fresh = build_snapshot(&example("active-passive.yaml"), &opts()).expect("builds");
        assert_eq!(fresh.version, b.version);
    }

    fn three(weight: u32, base: &str, cooldown: u32) -> Config {
        let yaml = format!(
            "model_list:\n  - model_name: g\n    litellm_params: {{model: openai/m, api_base: 'http://127.0.0.1:1/v1', region_name: us-east-1}}\n    weight: {weight}\n  - model_name: g\n    litellm_params: {{model: openai/m, api_base: '{base}', region_name: eu-west-1}}\n  - model_name: h\n    litellm_params: {{model: openai/m, api_base: 'http://127.0.0.1:3/v1'}}\nrouter_settings:\n  cooldown_time: {cooldown}\n"
        );
        config::load_str(&yaml, "t.yaml").expect("loads").config
    }

    #[test]
    fn an_edit_translates_only_the_clusters_whose_inputs_changed() {
        // One salt for all builds, as in one serve process (opts() draws a new one).
        let opts = opts();
        let mut cache = BuildCache::default();
        let base = "http://127.0.0.1:2/v1";
        build_snapshot_cached(&three(1, base, 5), &opts, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 3, "a first build translates every deployment");
        build_snapshot_cached(&three(1, base, 5), &opts, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 0, "nothing changed");
        build_snapshot_cached(&three(2, base, 5), &opts, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 1, "one deployment's weight");
        build_snapshot_cached(&three(2, "http://127.0.0.1:9/v1", 5), &opts, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 1, "one endpoint moved");
        build_snapshot_cached(&three(2, "http://127.0.0.1:9/v1", 9), &opts, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 3, "cooldown_time is in every cluster");
        let other = Options { ca_file: "/other/ca.pem".into(), ..opts.clone() };
        build_snapshot_cached(&three(2, "http://127.0.0.1:9/v1", 9), &other, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 3, "so are the options");
    }

    #[test]
    fn a_build_from_the_cache_is_the_build_from_scratch() {
        let opts = opts();
        let mut cache = BuildCache::default();
        let mut configs: Vec<Config> =
            ["active-passive.yaml", "weighted.yaml", "health-checks.yaml", "active-passive.yaml"]
                .into_iter()
                .map(example)
                .collect();
        configs.extend([three(1, "http://127.0.0.1:2/v1", 5), three(3, "https://api.example.com/v1", 5)]);
        configs.push(three(3, "https://api.example.com/v1", 6));
        for (i, cfg) in configs.iter().enumerate() {
            let cached = build_snapshot_cached(cfg, &opts, &mut cache).expect("builds");
            assert_eq!(cached, build_snapshot(cfg, &opts).expect("builds"), "config {i}");
        }
    }

    #[test]
    fn a_key_read_from_the_environment_is_read_again_on_every_build() {
        let yaml = "model_list:\n  - model_name: g\n    litellm_params: {model: openai/m, api_base: 'http://127.0.0.1:1/v1', api_key: os.environ/XDS_BUILD_CACHE_TEST_KEY}\n";
        let cfg = config::load_str(yaml, "t.yaml").expect("loads").config;
        let opts = Options { secret_mode: crate::translate::SecretMode::Inline, ..opts() };
        let mut cache = BuildCache::default();
        std::env::set_var("XDS_BUILD_CACHE_TEST_KEY", "sk-one");
        let one = build_snapshot_cached(&cfg, &opts, &mut cache).expect("builds");
        std::env::set_var("XDS_BUILD_CACHE_TEST_KEY", "sk-two");
        let two = build_snapshot_cached(&cfg, &opts, &mut cache).expect("builds");
        assert_eq!(cache.translated(), 0, "the cluster only names the secret");
        assert_ne!(one.type_version(SECRET), two.type_version(SECRET), "the secret holds the new key");
        assert_eq!(two, build_snapshot(&cfg, &opts).expect("builds"));
    }
}
