//! The xDS form of a config, for `serve`: the resources Envoy fetches over ADS, and the
//! snapshot that serves them (encoded through `crate::xds::assemble`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{gateway_listener, router_filter, translate_parts, Options, ROUTER_FILTER_NAME, ROUTE_CONFIG_NAME};
use crate::config::Config;
use crate::xds::assemble::{assemble, AssembleError, EncodeCache, JsonResources};
use crate::xds::snapshot::{Snapshot, CLUSTER, EXTENSION_CONFIG, LISTENER, ROUTE, SECRET};

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
    build_snapshot_cached(cfg, opts, &mut EncodeCache::default())
}

/// [`build_snapshot`], reusing (and then replacing) `cache`.
pub fn build_snapshot_cached(cfg: &Config, opts: &Options, cache: &mut EncodeCache) -> Result<Snapshot, AssembleError> {
    let r = translate_xds(cfg, opts);
    let mut types = vec![
        JsonResources { type_url: LISTENER, what: "listener", items: &r.listeners },
        JsonResources { type_url: ROUTE, what: "route configuration", items: &r.route_configs },
        JsonResources { type_url: CLUSTER, what: "cluster", items: &r.clusters },
        JsonResources { type_url: EXTENSION_CONFIG, what: "extension config", items: &r.extension_configs },
    ];
    // Envoy asks for secrets only when a cluster refers to one; an empty type would never be
    // ACKed and would keep every proxy from counting as converged.
    if !r.secrets.is_empty() {
        types.push(JsonResources { type_url: SECRET, what: "secret", items: &r.secrets });
    }
    // What the listener and the clusters refer to must be in the snapshot with them; and a
    // secret no cluster refers to is not served at all.
    let mut references = vec![
        (ROUTE.to_string(), ROUTE_CONFIG_NAME.to_string()),
        (EXTENSION_CONFIG.to_string(), ROUTER_FILTER_NAME.to_string()),
    ];
    references.extend(sds_references(&r.clusters).into_iter().map(|name| (SECRET.to_string(), name)));
    assemble(&types, &references, cache)
}

/// The SDS secrets `resources` refer to: every `{"name": N, "sds_config": ...}` in them.
fn sds_references(resources: &[Value]) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let (Some(Value::String(name)), Some(_)) = (map.get("name"), map.get("sds_config")) {
                    out.insert(name.clone());
                }
                map.values().for_each(|child| walk(child, out));
            }
            Value::Array(items) => items.iter().for_each(|child| walk(child, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    resources.iter().for_each(|r| walk(r, &mut out));
    out
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
        let mut cache = EncodeCache::default();
        let a = build_snapshot_cached(&example("active-passive.yaml"), &opts(), &mut cache).expect("builds");
        let b = build_snapshot_cached(&example("active-passive.yaml"), &opts(), &mut cache).expect("builds");
        let cluster = |s: &Snapshot| s.of_type(CLUSTER).and_then(|t| t.items.values().next().cloned());
        let (ca, cb) = (cluster(&a).expect("a cluster"), cluster(&b).expect("a cluster"));
        assert!(Arc::ptr_eq(&ca, &cb), "an unchanged cluster is reused, not re-encoded");
        let fresh = build_snapshot(&example("active-passive.yaml"), &opts()).expect("builds");
        assert_eq!(fresh.version, b.version);
    }
}
