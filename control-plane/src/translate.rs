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

use base64::Engine as _;
use llm_router_proto as pb;
use prost::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{Config, Deployment};
pub use crate::upstream_auth::SecretMode;
use crate::upstream_auth::{unavailable_reason, upstream_auth};
use crate::vertex_auth::VertexAuth;

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
const WASM_VM_ID: &str = "llm_router";

/// Priority given to deployments without one: after every explicit priority, in list order.
const UNSET_PRIORITY_BASE: u32 = 1_000_000;

/// Defaults when the config is silent (seconds).
const DEFAULT_FIRST_BYTE_TIMEOUT_S: f64 = 120.0;
const DEFAULT_STREAM_FIRST_BYTE_TIMEOUT_S: f64 = 30.0;
const DEFAULT_CONNECT_TIMEOUT_S: f64 = 5.0;
/// Limit of the request body the filter reads; Envoy's buffer is a little larger so the
/// filter, not Envoy, answers oversize bodies (in OpenAI's error shape).
pub const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
const BUFFER_HEADROOM: u64 = 64 * 1024;

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
    // Deployments per model group, counted once (a scan per deployment is quadratic).
    let mut group_sizes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for d in &cfg.deployments {
        *group_sizes.entry(d.model_name.as_str()).or_default() += 1;
    }
    let mut clusters = Vec::with_capacity(cfg.deployments.len() + 1);
    let mut secrets = Vec::new();
    let mut secret_names = std::collections::HashSet::new();
    for d in &cfg.deployments {
        let auth = upstream_auth(d, opts.secret_mode, opts.vertex.get(&d.id));
        let group_size = group_sizes.get(d.model_name.as_str()).copied().unwrap_or(1);
        clusters.push(deployment_cluster(cfg, d, opts, group_size, auth.filters));
        // Deployments of one Vertex service account share its token secret. (A set, not a
        // scan of the list: a config may hold thousands of keys.)
        for secret in auth.secrets {
            if secret_names.insert(secret["name"].as_str().unwrap_or_default().to_string()) {
                secrets.push(secret);
            }
        }
    }
    clusters.push(json!({
        "name": NO_ROUTE_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": NO_ROUTE_CLUSTER, "endpoints": []},
    }));
    Parts { router_config: router_config(cfg, opts), route_config: route_config(cfg, opts), clusters, secrets }
}

/// Credentials that cannot be expressed with `opts.secret_mode` (empty when all can); `render`
/// refuses a config with any, saying what to change.
pub fn secret_problems(cfg: &Config, opts: &Options) -> Vec<String> {
    cfg.deployments.iter().flat_map(|d| upstream_auth(d, opts.secret_mode, opts.vertex.get(&d.id)).problems).collect()
}

/// A complete static Envoy bootstrap: what `llm-router render` prints.
pub fn static_bootstrap(cfg: &Config, opts: &Options) -> Value {
    let r = translate(cfg, opts);
    let mut b = bootstrap_common(opts);
    b["static_resources"] = json!({"listeners": r.listeners, "clusters": r.clusters});
    if !r.secrets.is_empty() {
        b["static_resources"]["secrets"] = json!(r.secrets);
    }
    b
}

/// The parts of a bootstrap shared by static and xDS modes: node, admin, stats naming.
pub fn bootstrap_common(opts: &Options) -> Value {
    json!({
        "node": {"id": "llm-router", "cluster": "llm-router"},
        "admin": {"address": socket_address("127.0.0.1", opts.admin_port)},
        "stats_config": stats_config(),
        "layered_runtime": {"layers": [{
            "name": "static",
            "static_layer": {"overload": {"global_downstream_max_connections": 50000}},
        }]},
    })
}

/// Filter metrics (`litellm_requests_total.model.M.deployment.D.region.R`) become Prometheus
/// series with `model`, `deployment` and `region` labels; latency buckets are milliseconds.
fn stats_config() -> Value {
    let tag = |name: &str| {
        json!({
            "tag_name": name,
            "regex": format!(r"^wasmcustom\.[a-z_]+(?:\.[a-z]+\.[^.]+)*?(\.{name}\.([^.]+))(?:\.[a-z]+\.[^.]+)*$"),
        })
    };
    json!({
        "stats_tags": [tag("model"), tag("deployment"), tag("region"), tag("zone"), tag("code")],
        "histogram_bucket_settings": [{
            "match": {"prefix": "wasmcustom.litellm_request_duration_ms"},
            "buckets": [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000],
        }],
    })
}

/// The filter's configuration (router role) for this config.
pub fn router_config(cfg: &Config, opts: &Options) -> pb::RouterConfig {
    let r = &cfg.router;
    let mut groups: Vec<pb::ModelGroup> = Vec::new();
    for name in cfg.model_groups() {
        let deployments = cfg
            .deployments
            .iter()
            .filter(|d| d.model_name == name)
            .enumerate()
            .map(|(i, d)| pb::Deployment {
                id: d.id.clone(),
                cluster: cluster_name(d),
                region: d.region.clone(),
                zone: d.zone.clone(),
                provider: d.provider.prefix().to_owned(),
                provider_model: d.provider_model.clone(),
                // Without a priority, model_list order decides (after any explicit priority).
                priority: d.priority.unwrap_or(UNSET_PRIORITY_BASE.saturating_add(i as u32)),
                weight: d.weight.max(1),
                input_cost_per_token: d.input_cost_per_token.unwrap_or(0.0),
                output_cost_per_token: d.output_cost_per_token.unwrap_or(0.0),
                latency_target_ms: d.latency_target_ms.unwrap_or(0),
                unavailable: unavailable_reason(d, opts.secret_mode, opts.vertex.get(&d.id)).unwrap_or_default(),
            })
            .collect();
        groups.push(pb::ModelGroup { name: name.to_string(), deployments });
    }
    let mut rc = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        config_hash: String::new(),
        gateway_region: opts.region.clone().or_else(|| r.gateway_region.clone()).unwrap_or_default(),
        strategy: r.strategy.to_proto() as i32,
        num_retries: r.num_retries,
        allowed_fails: r.allowed_fails,
        cooldown_ms: seconds_to_ms(r.cooldown_time_s),
        max_body_bytes: MAX_BODY_BYTES,
        zones: cfg.zones.clone(),
        model_groups: groups,
        fallbacks: r
            .fallbacks
            .iter()
            .map(|(group, to)| pb::Fallback { model_group: group.clone(), fallback_groups: to.clone() })
            .collect(),
        first_byte_timeout_ms: seconds_to_ms(r.timeout_s.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT_S)),
        stream_first_byte_timeout_ms: seconds_to_ms(r.stream_timeout_s.unwrap_or(DEFAULT_STREAM_FIRST_BYTE_TIMEOUT_S)),
        // Only the key's digest reaches Envoy. A key that cannot be read locks the gateway
        // (an all-zero digest matches no key) rather than opening it.
        master_key_sha256: cfg
            .master_key
            .as_ref()
            .map(|k| k.resolve().map(|v| Sha256::digest(v.as_bytes()).to_vec()).unwrap_or_else(|| vec![0; 32]))
            .unwrap_or_default(),
    };
    rc.config_hash = short_hash(&rc.encode_to_vec());
    rc
}

fn upstream_config(d: &Deployment) -> pb::UpstreamConfig {
    let e = &d.endpoint;
    let default_port = if e.tls { 443 } else { 80 };
    pb::UpstreamConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        deployment_id: d.id.clone(),
        provider: d.provider.prefix().to_owned(),
        provider_model: d.provider_model.clone(),
        authority: if e.port == default_port { e.host.clone() } else { format!("{}:{}", e.host, e.port) },
        base_path: e.base_path.clone(),
        region: d.region.clone(),
        api_version: d.api_version.clone().unwrap_or_default(),
        vertex_project: d.vertex_project.clone().unwrap_or_default(),
        vertex_location: d.vertex_location.clone().unwrap_or_default(),
        model_name: d.model_name.clone(),
        zone: d.zone.clone(),
        input_cost_per_token: d.input_cost_per_token.unwrap_or(0.0),
        output_cost_per_token: d.output_cost_per_token.unwrap_or(0.0),
    }
}

fn wasm_filter(
    name: &str,
    root_id: &str,
    opts: &Options,
    role: pb::plugin_config::Role,
    on_headers_stop: bool,
) -> Value {
    let bytes = pb::PluginConfig { role: Some(role) }.encode_to_vec();
    let mut config = json!({
        "name": name,
        "root_id": root_id,
        // A crashed VM is reloaded; failing open would route without residency checks.
        "failure_policy": "FAIL_RELOAD",
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.BytesValue",
            "value": base64::engine::general_purpose::STANDARD.encode(bytes),
        },
        "vm_config": {
            // One vm_id for every role, so all share the deployments' health view.
            "vm_id": WASM_VM_ID,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": opts.filter_wasm}},
        },
    });
    if on_headers_stop {
        // The model is in the body: headers wait for it.
        config["allow_on_headers_stop_iteration"] = json!(true);
    }
    json!({
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": config,
        },
    })
}

/// The router-role wasm filter (`{name, typed_config}`): inline in the static listener, and
/// the ECDS resource (a `TypedExtensionConfig` has the same shape) in xDS mode.
pub fn router_filter(opts: &Options, router: &pb::RouterConfig) -> Value {
    wasm_filter(ROUTER_FILTER_NAME, "llm_router", opts, pb::plugin_config::Role::Router(router.clone()), true)
}

/// The gateway listener; `router_filter` is the wasm filter itself (static) or its ECDS
/// reference, `route_spec` is `{"route_config": ...}` (static) or `{"rds": ...}`.
pub fn gateway_listener(opts: &Options, router_filter: Value, route_spec: Value) -> Value {
    let mut hcm = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": LISTENER_NAME,
        "codec_type": "AUTO",
        "use_remote_address": true,
        // A client's x-request-id is kept and returned, so one request can be followed from
        // the client through the access log to the region that served it.
        "preserve_external_request_id": true,
        "always_set_request_id_in_response": true,
        "access_log": [access_log()],
        "local_reply_config": local_reply_config(),
        "http_filters": [
            router_filter,
            {
                "name": "envoy.filters.http.header_to_metadata",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config",
                    "request_rules": [{
                        "header": llm_router_core::ROUTE_PLAN_HEADER,
                        "on_header_present": {
                            "metadata_namespace": PLAN_METADATA_NAMESPACE,
                            "key": "priority_groups",
                            "type": "PROTOBUF_VALUE",
                            "encode": "BASE64",
                        },
                        "remove": true,
                    }],
                },
            },
            {
                // header-to-metadata looks the route up before it sets the plan; clearing the
                // route cache makes the router pick the cluster with the plan in place.
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                    "default_source_code": {"inline_string": "function envoy_on_request(h) h:clearRouteCache() end\n"},
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            },
        ],
    });
    if let (Some(h), Some(spec)) = (hcm.as_object_mut(), route_spec.as_object()) {
        for (k, v) in spec {
            h.insert(k.clone(), v.clone());
        }
    }
    json!({
        "name": LISTENER_NAME,
        "address": socket_address(&opts.listen_address, opts.port),
        "per_connection_buffer_limit_bytes": MAX_BODY_BYTES + BUFFER_HEADROOM,
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": hcm,
        }]}],
    })
}

/// One JSON line per request: Envoy's request id with the region and deployment that served it.
fn access_log() -> Value {
    json!({
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {"json_format": {
                "time": "%START_TIME%",
                "request_id": "%REQ(X-REQUEST-ID)%",
                "method": "%REQ(:METHOD)%",
                "path": "%REQ(:PATH)%",
                "status": "%RESPONSE_CODE%",
                "region": "%RESP(X-LLM-REGION)%",
                "deployment": "%RESP(X-LLM-DEPLOYMENT)%",
                "cluster": "%UPSTREAM_CLUSTER%",
                "attempts": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
                "duration_ms": "%DURATION%",
                "first_byte_ms": "%RESPONSE_DURATION%",
                "flags": "%RESPONSE_FLAGS%",
                "details": "%RESPONSE_CODE_DETAILS%",
            }},
        },
    })
}

/// Envoy's own error replies (no healthy upstream, timeouts, resets) in OpenAI's error shape.
/// The filter's replies carry no response flag and pass unchanged.
fn local_reply_config() -> Value {
    let openai_error = |kind: &str| {
        json!({
            "json_format": {"error": {
                "message": "%LOCAL_REPLY_BODY%",
                "type": kind,
                "param": null,
                "code": "%RESPONSE_CODE_DETAILS%",
            }},
        })
    };
    let anthropic_error = json!({
        "json_format": {"type": "error", "error": {"type": "api_error", "message": "%LOCAL_REPLY_BODY%"}},
    });
    let envoy_failures = json!(["UT", "UH", "UF", "UO", "URX", "UC", "UR", "NC", "NR", "UMSDR", "UPE", "DPE"]);
    json!({
        "mappers": [
            {
                // Anthropic-form clients (/v1/messages) get Anthropic's error shape.
                "filter": {"and_filter": {"filters": [
                    {"response_flag_filter": {"flags": envoy_failures}},
                    {"header_filter": {"header": {
                        "name": llm_router_core::CLIENT_PATH_HEADER,
                        "string_match": {"prefix": "/v1/messages"},
                    }}},
                ]}},
                "body_format_override": anthropic_error,
            },
            {
                "filter": {"response_flag_filter": {"flags": ["UT"]}},
                "body_format_override": openai_error("timeout_error"),
            },
            {
                "filter": {"response_flag_filter": {"flags": ["UH", "UF", "UO", "URX", "UC", "UR", "NC", "NR", "UMSDR", "UPE", "DPE"]}},
                "body_format_override": openai_error("service_unavailable_error"),
            },
        ],
    })
}

pub fn route_config(cfg: &Config, opts: &Options) -> Value {
    let r = &cfg.router;
    let region = opts.region.clone().or_else(|| r.gateway_region.clone()).unwrap_or_default();
    let mut retry_policy = json!({
        // LiteLLM's region failures: 5xx, 429, 408, timeouts, resets and refused connections.
        "retry_on": "5xx,reset,connect-failure,retriable-status-codes",
        "retriable_status_codes": [429, 408],
        "num_retries": r.num_retries,
        // Re-pick the cluster on every retry: the next deployment of the plan.
        "refresh_cluster_on_retry": true,
        // Moving to another region needs no back-off.
        "retry_back_off": {"base_interval": "0.002s", "max_interval": "0.010s"},
    });
    retry_policy["per_try_timeout"] = json!(duration(r.timeout_s.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT_S)));
    json!({
        "name": ROUTE_CONFIG_NAME,
        "virtual_hosts": [{
            "name": LISTENER_NAME,
            "domains": ["*"],
            "include_attempt_count_in_response": true,
            "routes": [
                {
                    // The filter answers /health itself with live deployment health; this
                    // route only answers if the filter is not running.
                    "match": {"path": "/health"},
                    "direct_response": {
                        "status": 200,
                        "body": {"inline_string": json!({"status": "unknown", "region": region}).to_string()},
                    },
                    "response_headers_to_add": [{"header": {"key": "content-type", "value": "application/json"}}],
                },
                {
                    "match": {"prefix": "/"},
                    "route": {
                        "inline_cluster_specifier_plugin": {"extension": {
                            "name": "envoy.router.cluster_specifier_plugin.priority_group",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier",
                                "priority_groups": [{"name": "no-plan", "clusters": [{"cluster_name": NO_ROUTE_CLUSTER, "weight": 1}]}],
                                "override_metadata_namespace": PLAN_METADATA_NAMESPACE,
                            },
                        }},
                        // Streams may run as long as they keep sending; attempts are bounded
                        // by the per-try first-byte timeout instead.
                        "timeout": "0s",
                        "retry_policy": retry_policy,
                    },
                },
            ],
        }],
    })
}

fn deployment_cluster(
    cfg: &Config,
    d: &Deployment,
    opts: &Options,
    group_size: usize,
    auth_filters: Vec<Value>,
) -> Value {
    let r = &cfg.router;
    let e = &d.endpoint;
    let name = cluster_name(d);
    let is_ip = e.host.parse::<std::net::IpAddr>().is_ok();
    let mut endpoint = json!({"address": socket_address(&e.host, e.port)});
    if !is_ip {
        endpoint["hostname"] = json!(e.host);
    }
    let upstream_filter = wasm_filter(
        &format!("llm_router_upstream.{}", d.id),
        "llm_router_upstream",
        opts,
        pb::plugin_config::Role::Upstream(upstream_config(d)),
        // The provider's path depends on the body (stream or not): headers wait for it.
        true,
    );
    let protocol = if e.tls {
        json!({"auto_config": {"http_protocol_options": {}, "http2_protocol_options": {}}})
    } else {
        json!({"explicit_http_config": {"http_protocol_options": {}}})
    };
    let mut protocol_options = json!({
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        // The wasm filter translates the attempt; auth (key injection, SigV4) comes after it,
        // so the signature covers the translated request.
        "http_filters": std::iter::once(upstream_filter)
            .chain(auth_filters)
            .chain(std::iter::once(json!({
                "name": "envoy.filters.http.upstream_codec",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"},
            })))
            .collect::<Vec<_>>(),
    });
    if let (Some(p), Some(proto)) = (protocol_options.as_object_mut(), protocol.as_object()) {
        for (k, v) in proto {
            p.insert(k.clone(), v.clone());
        }
    }
    let mut cluster = json!({
        "name": name,
        "type": if is_ip { "STATIC" } else { "LOGICAL_DNS" },
        "connect_timeout": duration(DEFAULT_CONNECT_TIMEOUT_S),
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}]},
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": protocol_options,
        },
        // Failover sends retries in bursts; Envoy's default of 3 concurrent retries per
        // cluster would turn a region outage into client errors.
        "circuit_breakers": {"thresholds": [{
            "priority": "DEFAULT",
            "max_connections": 100000,
            "max_pending_requests": 100000,
            "max_requests": 100000,
            "max_retries": 100000,
        }]},
        "metadata": {"filter_metadata": {"llm_router": {
            "deployment": d.id,
            "model_name": d.model_name,
            "region": d.region,
            "zone": d.zone,
        }}},
    });
    if !is_ip {
        cluster["dns_lookup_family"] = json!("V4_PREFERRED");
    }
    if e.tls {
        cluster["transport_socket"] = json!({
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                "sni": e.host,
                "common_tls_context": {
                    "validation_context": {
                        "trusted_ca": {"filename": opts.ca_file},
                        "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": e.host}}],
                    },
                },
            },
        });
    }
    if group_size > 1 && r.cooldown_time_s > 0.0 {
        // LiteLLM's allowed_fails / cooldown_time as Envoy sees them. A group's only
        // deployment is never ejected (LiteLLM never cools it down either).
        let cooldown = duration(r.cooldown_time_s);
        let fails = r.allowed_fails.max(1);
        cluster["outlier_detection"] = json!({
            "consecutive_5xx": fails,
            "consecutive_gateway_failure": fails,
            "consecutive_local_origin_failure": fails,
            "enforcing_consecutive_5xx": 100,
            "enforcing_consecutive_gateway_failure": 100,
            "enforcing_consecutive_local_origin_failure": 100,
            "enforcing_success_rate": 0,
            "interval": "1s",
            "base_ejection_time": cooldown,
            "max_ejection_time": cooldown,
            // A single-host cluster must be allowed to eject its only host.
            "max_ejection_percent": 100,
        });
    }
    if let Some(interval) = r.health_check_interval_s {
        let timeout = r.health_check_timeout_s.unwrap_or(5.0);
        let authority = upstream_config(d).authority;
        cluster["health_checks"] = json!([{
            "timeout": duration(timeout),
            "interval": duration(interval),
            "no_traffic_interval": duration(interval),
            "unhealthy_threshold": r.allowed_fails.max(1),
            "healthy_threshold": 1,
            "http_health_check": {
                "host": authority,
                "path": "/",
                // Providers answer / with 4xx (no such route, auth): reachable and answering
                // is healthy; 5xx, timeouts and refused connections are not.
                "expected_statuses": [{"start": 200, "end": 500}],
            },
        }]);
    }
    cluster
}

fn socket_address(address: &str, port: u16) -> Value {
    json!({"socket_address": {"address": address, "port_value": port}})
}

/// Envoy's duration string ("1.5s").
fn duration(seconds: f64) -> String {
    let ms = seconds_to_ms(seconds);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}.{:03}s", ms / 1000, ms % 1000)
    }
}

fn seconds_to_ms(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1000.0).round() as u64
    } else {
        0
    }
}

fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

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
/// [`translate`]'s.
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

/// The static bootstrap as YAML text.
pub fn render_yaml(cfg: &Config, opts: &Options) -> String {
    let header = "# Generated by `llm-router render`: a complete static Envoy 1.40 config.\n\
                  # Edit the LiteLLM YAML and render again rather than editing this file.\n";
    format!("{header}{}", serde_yaml::to_string(&static_bootstrap(cfg, opts)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_envoy_strings() {
        assert_eq!(duration(30.0), "30s");
        assert_eq!(duration(0.3), "0.300s");
        assert_eq!(duration(1.25), "1.250s");
        assert_eq!(seconds_to_ms(-1.0), 0);
    }
}
