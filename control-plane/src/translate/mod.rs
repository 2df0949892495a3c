//! Translation: a validated `Config` becomes Envoy resources. A pure function — no I/O, no
//! clock, no randomness — so the same input always gives the same output (golden-tested),
//! and `render` (static bootstrap) and `serve` (xDS) share it.
//!
//! Resources are built as Envoy's canonical JSON (`serde_json::Value`): `render` prints them as
//! YAML and `envoy --mode validate` checks them in the tests.
//!
//! How a request flows through what is built here:
//! 1. the gateway listener's HTTP filters: the llm-router wasm filter (router role) reads
//!    `model`, plans the deployment order and writes it as a header; header-to-metadata turns
//!    that header into dynamic metadata; a one-line Lua filter clears the route cache so the
//!    route is picked with the metadata in place; then the router.
//! 2. the route's priority group cluster specifier takes attempt N to the Nth planned cluster;
//!    the retry policy (`num_retries`, `refresh_cluster_on_retry`) moves failed attempts on.
//! 3. each deployment cluster runs the wasm filter again (upstream role) once per attempt to
//!    rewrite model, path and host for that deployment; then outlier detection and active
//!    health checks mirror the filter's view on Envoy's admin pages.
//!
//! One file per resource kind: `filter` (the wasm filter and its configuration in both
//! roles), `listener`, `routes`, `clusters`, [`upstream_auth`] (each cluster's credentials
//! and the secrets they use); `bootstrap` and `xds` put them together as a static config or
//! as xDS resources and a snapshot; `envoy` has the small values they all write. This file
//! holds what they share: the options, the names resources refer to each other by, and the
//! parts both forms are built from.

mod bootstrap;
mod clusters;
mod envoy;
mod filter;
mod listener;
mod routes;
pub mod upstream_auth;
mod xds;

use llm_router_proto as pb;
use serde_json::{json, Value};

use crate::config::vertex_credentials::VertexAuth;
use crate::config::{Config, Deployment};

pub use bootstrap::{bootstrap_common, render_yaml, static_bootstrap};
pub use filter::{router_config, router_filter};
pub use listener::gateway_listener;
pub use routes::route_config;
pub use upstream_auth::SecretMode;
pub use xds::{
    ads_config_source, build_snapshot, build_snapshot_cached, translate_xds, xds_listener, XdsResources,
    WASM_FILTER_TYPE_URL,
};

/// What the command line adds to the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Path of `llm_router_filter.wasm` as Envoy will see it.
    pub filter_wasm: String,
    /// Gateway listener port.
    pub port: u16,
    /// Address the gateway listener binds.
    pub listen_address: String,
    /// Envoy admin port (always bound to 127.0.0.1).
    pub admin_port: u16,
    /// The gateway's own region for /health; overrides `router_settings.gateway_region`.
    pub region: Option<String>,
    /// CA bundle for verifying https upstreams.
    pub ca_file: String,
    /// How provider secrets reach Envoy: references (static files) or values (xDS).
    pub secret_mode: SecretMode,
    /// Vertex credential state by deployment id (filled by `serve` on every build; a
    /// static config has none, so its Vertex deployments take no traffic).
    pub vertex: std::collections::BTreeMap<String, VertexAuth>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            filter_wasm: "llm_router_filter.wasm".into(),
            port: 4000,
            listen_address: "0.0.0.0".into(),
            admin_port: 9901,
            region: None,
            ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
            secret_mode: SecretMode::Reference,
            vertex: Default::default(),
        }
    }
}

pub const LISTENER_NAME: &str = "llm_gateway";
/// Name of the router-role wasm filter in the listener, and of its ECDS resource.
pub const ROUTER_FILTER_NAME: &str = "llm_router";
pub const ROUTE_CONFIG_NAME: &str = "llm_routes";
/// Cluster of the route's default priority group. It has no endpoints: a request that somehow
/// reaches the router without a plan gets 503 instead of an arbitrary region.
pub const NO_ROUTE_CLUSTER: &str = "llm_router_no_route";
/// Dynamic metadata namespace the priority group specifier reads the plan from.
pub const PLAN_METADATA_NAMESPACE: &str = "llm_router.plan";

/// Defaults when the config is silent (seconds).
const DEFAULT_FIRST_BYTE_TIMEOUT_S: f64 = 120.0;
/// Limit of the request body the filter reads; Envoy's buffer is a little larger so the
/// filter, not Envoy, answers oversize bodies (in OpenAI's error shape).
pub const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// Envoy's dynamic resources for one config.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub listeners: Vec<Value>,
    pub route_configs: Vec<Value>,
    pub clusters: Vec<Value>,
    /// Provider secrets (API keys) the clusters' credential injectors refer to.
    pub secrets: Vec<Value>,
    /// Short content hash of the filter configuration, logged by the filter.
    pub config_hash: String,
}

/// Cluster name of a deployment.
pub fn cluster_name(d: &Deployment) -> String {
    format!("llm-{}", d.id)
}

/// The gateway's own region: `--region`, else `router_settings.gateway_region`.
fn gateway_region(cfg: &Config, opts: &Options) -> String {
    opts.region.clone().or_else(|| cfg.router.gateway_region.clone()).unwrap_or_default()
}

/// Translates a config into listeners, routes and clusters.
pub fn translate(cfg: &Config, opts: &Options) -> Resources {
    let parts = translate_parts(cfg, opts);
    Resources {
        listeners: vec![gateway_listener(
            opts,
            router_filter(opts, &parts.router_config),
            json!({"route_config": parts.route_config}),
        )],
        route_configs: vec![parts.route_config],
        clusters: parts.clusters,
        secrets: parts.secrets,
        config_hash: parts.router_config.config_hash,
    }
}

/// What the static and the xDS forms share: built once for either.
struct Parts {
    router_config: pb::RouterConfig,
    route_config: Value,
    clusters: Vec<Value>,
    secrets: Vec<Value>,
}

fn translate_parts(cfg: &Config, opts: &Options) -> Parts {
    let (clusters, secrets) = clusters::clusters_and_secrets(cfg, opts);
    Parts { router_config: router_config(cfg, opts), route_config: route_config(cfg, opts), clusters, secrets }
}
