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
use crate::config::{Config, Deployment, Reach};

pub use bootstrap::{bootstrap_common, render_yaml, static_bootstrap};
pub use filter::{router_config, router_filter};
pub use listener::gateway_listener;
pub use routes::route_config;
pub use upstream_auth::SecretMode;
pub use xds::{
    ads_config_source, build_snapshot, build_snapshot_cached, translate_xds, xds_listener, BuildCache, XdsResources,
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
    /// Salt of the master key's HMAC in the filter config. Random by default: a fresh one per
    /// `render`, one per `serve` process (kept across reloads, so an unchanged config pushes
    /// nothing). Tests that compare output set their own.
    pub master_key_salt: [u8; MASTER_KEY_SALT_BYTES],
}

/// Length of the master key's salt.
pub const MASTER_KEY_SALT_BYTES: usize = 16;

/// A salt from the operating system's random source. Without one nothing here can be secure,
/// so its absence stops the program.
pub fn random_salt() -> [u8; MASTER_KEY_SALT_BYTES] {
    let mut salt = [0; MASTER_KEY_SALT_BYTES];
    if let Err(e) = getrandom::fill(&mut salt) {
        panic!("the operating system's random number generator is unavailable: {e}");
    }
    salt
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
            master_key_salt: random_salt(),
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

/// Cluster name of a deployment: `llm-{id}@{placement}`, where the placement says where its
/// requests go (see [`placement`]). A config edit that moves a deployment (same id) to
/// another region therefore adds a new cluster instead of changing the one the old routing
/// still uses: during a push, requests planned under the old zones keep reaching the old
/// region, and the new region is used only once the routing that knows its zone is in place.
/// No `.` (Envoy's stats take a cluster's name up to its first dot) and no `:` (the admin's
/// `/clusters` separator); ids are `[A-Za-z0-9_.-]` already.
pub fn cluster_name(d: &Deployment) -> String {
    match placement(d) {
        p if p.is_empty() => format!("llm-{}", d.id),
        p => format!("llm-{}@{p}", d.id),
    }
}

/// Where a deployment's requests go, as a name: the region (`eu-west-1`), a Bedrock
/// cross-region profile and the region it is sent to (`eu-via-eu-west-1`), `global`, or the
/// declared region where the endpoint names none ("" without one).
fn placement(d: &Deployment) -> String {
    let name = match &d.reach {
        Reach::Region(r) => r.clone(),
        Reach::Profile { geography, source: Some(s), .. } => format!("{geography}-via-{s}"),
        Reach::Profile { geography, source: None, .. } => geography.clone(),
        Reach::Global => "global".to_string(),
        Reach::Unknown => d.region.clone(),
    };
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') { c.to_ascii_lowercase() } else { '-' })
        .collect()
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
