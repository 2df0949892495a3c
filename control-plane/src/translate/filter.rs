//! The llm-router wasm filter: its configuration in the router role (the plan's inputs: model
//! groups, deployments, strategy, timeouts, the master key's digest) and in the upstream role
//! (one deployment's provider details), and the Envoy filter that runs it with either.

use base64::Engine as _;
use llm_router_proto as pb;
use prost::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::envoy::seconds_to_ms;
use super::upstream_auth::unavailable_reason;
use super::{cluster_name, gateway_region, Options, DEFAULT_FIRST_BYTE_TIMEOUT_S, MAX_BODY_BYTES, ROUTER_FILTER_NAME};
use crate::config::{Config, Deployment};

const WASM_VM_ID: &str = "llm_router";
/// Priority given to deployments without one: after every explicit priority, in list order.
const UNSET_PRIORITY_BASE: u32 = 1_000_000;
/// Per-attempt time to first byte of a streamed answer when the config is silent (seconds).
const DEFAULT_STREAM_FIRST_BYTE_TIMEOUT_S: f64 = 30.0;

/// The filter's configuration (router role) for this config.
pub fn router_config(cfg: &Config, opts: &Options) -> pb::RouterConfig {
    let r = &cfg.router;
    let mut rc = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        config_hash: String::new(),
        gateway_region: gateway_region(cfg, opts),
        strategy: r.strategy.to_proto() as i32,
        num_retries: r.num_retries,
        allowed_fails: r.allowed_fails,
        cooldown_ms: seconds_to_ms(r.cooldown_time_s),
        max_body_bytes: MAX_BODY_BYTES,
        zones: cfg.zones.clone(),
        model_groups: model_groups(cfg, opts),
        fallbacks: r
            .fallbacks
            .iter()
            .map(|(group, to)| pb::Fallback { model_group: group.clone(), fallback_groups: to.clone() })
            .collect(),
        first_byte_timeout_ms: seconds_to_ms(r.timeout_s.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT_S)),
        stream_first_byte_timeout_ms: seconds_to_ms(r.stream_timeout_s.unwrap_or(DEFAULT_STREAM_FIRST_BYTE_TIMEOUT_S)),
        master_key_sha256: master_key_digest(cfg),
    };
    rc.config_hash = short_hash(&rc.encode_to_vec());
    rc
}

/// Every model group with its deployments, in first-appearance order.
fn model_groups(cfg: &Config, opts: &Options) -> Vec<pb::ModelGroup> {
    cfg.model_groups()
        .into_iter()
        .map(|name| {
            let deployments = cfg
                .deployments
                .iter()
                .filter(|d| d.model_name == name)
                .enumerate()
                .map(|(i, d)| planned_deployment(d, i, opts))
                .collect();
            pb::ModelGroup { name: name.to_string(), deployments }
        })
        .collect()
}

/// What the planner knows of a deployment, the `i`-th of its group.
fn planned_deployment(d: &Deployment, i: usize, opts: &Options) -> pb::Deployment {
    pb::Deployment {
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
    }
}

/// Only the key's digest reaches Envoy. A key that cannot be read locks the gateway (an
/// all-zero digest matches no key) rather than opening it.
fn master_key_digest(cfg: &Config) -> Vec<u8> {
    cfg.master_key
        .as_ref()
        .map(|k| k.resolve().map(|v| Sha256::digest(v.as_bytes()).to_vec()).unwrap_or_else(|| vec![0; 32]))
        .unwrap_or_default()
}

fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The filter's configuration (upstream role) for one deployment's cluster.
pub(super) fn upstream_config(d: &Deployment) -> pb::UpstreamConfig {
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

/// The upstream-role wasm filter of a deployment's cluster: it translates each attempt.
pub(super) fn upstream_filter(d: &Deployment, opts: &Options) -> Value {
    wasm_filter(
        &format!("llm_router_upstream.{}", d.id),
        "llm_router_upstream",
        opts,
        pb::plugin_config::Role::Upstream(upstream_config(d)),
        // The provider's path depends on the body (stream or not): headers wait for it.
        true,
    )
}
