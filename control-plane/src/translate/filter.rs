//! The llm-router wasm filter: its configuration in the router role (the plan's inputs: model
//! groups, deployments, strategy, timeouts, the master key's salted digest) and in the upstream role
//! (one deployment's provider details), and the Envoy filter that runs it with either.

use std::collections::HashMap;

use base64::Engine as _;
use llm_router_proto as pb;
use prost::Message;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::envoy::seconds_to_ms;
use super::routes::limit_ms;
use super::upstream_auth::{unavailable_reason, SecretMode};
use super::{cluster_name, gateway_region, Options, MAX_BODY_BYTES, ROUTER_FILTER_NAME};
use crate::config::{deployment_timeouts, Config, Deployment, RouterSettings};

const WASM_VM_ID: &str = "llm_router";
/// Priority given to deployments without one: after every explicit priority, in list order.
const UNSET_PRIORITY_BASE: u32 = 1_000_000;

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
        master_key: None,
        ratelimit_cluster: ratelimit_cluster(opts),
        ratelimit_timeout_ms: RATELIMIT_TIMEOUT_MS,
    };
    // The hash names the configuration, not the salt: the same config has the same hash on
    // every gateway and after every restart, and it says nothing about the key.
    rc.config_hash = short_hash(&rc.encode_to_vec());
    rc.master_key = master_key_digest(cfg, opts);
    rc
}

/// Every model group with its deployments, in first-appearance order. (One pass: a scan of
/// the deployments per group is quadratic, seconds for 10,000 deployments.)
fn model_groups(cfg: &Config, opts: &Options) -> Vec<pb::ModelGroup> {
    let mut groups: Vec<pb::ModelGroup> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for d in &cfg.deployments {
        let at = *index.entry(d.model_name.as_str()).or_insert_with(|| {
            groups.push(pb::ModelGroup { name: d.model_name.clone(), deployments: Vec::new() });
            groups.len() - 1
        });
        let group = &mut groups[at].deployments;
        group.push(planned_deployment(d, group.len(), &cfg.router, opts));
    }
    groups
}

/// What the planner knows of a deployment, the `i`-th of its group.
fn planned_deployment(d: &Deployment, i: usize, r: &RouterSettings, opts: &Options) -> pb::Deployment {
    let limits = deployment_timeouts(r, d);
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
        unavailable: unavailable_reason(d, opts.secret_mode, opts.vertex.get(&d.id)).unwrap_or_default() as i32,
        // As the routes have them (the filter's header selects the route by this value).
        stream_timeout_ms: limit_ms(limits.stream_s),
        timeout_ms: limit_ms(limits.answer_s),
        streams_whole_answers: streams_whole_answers(d),
        rpm_limit: d.rpm.unwrap_or(0),
        tpm_limit: d.tpm.unwrap_or(0),
        // litellm_params.cooldown_time overrides the router's for this deployment.
        cooldown_ms: d.cooldown_time_s.map(seconds_to_ms),
    }
}

/// Whether the filter asks this deployment for a stream when a client wants a whole answer
/// (the core decides, from the provider and Azure's api-version).
fn streams_whole_answers(d: &Deployment) -> bool {
    match llm_router_core::providers::ProviderKind::for_provider(&d.provider, &d.provider_model) {
        Ok(kind) => llm_router_core::providers::streams_whole_answers(kind, d.api_version.as_deref()),
        Err(_) => false,
    }
}

/// Only a salted digest of the key reaches Envoy: HMAC-SHA-256 with `opts.master_key_salt` (see
/// `llm_router_core::auth`). A key that cannot be read locks the gateway (an all-zero digest
/// matches no key) rather than opening it.
fn master_key_digest(cfg: &Config, opts: &Options) -> Option<pb::MasterKey> {
    let key = cfg.master_key.as_ref()?;
    let salt = opts.master_key_salt.to_vec();
    let hmac_sha256 = match key.resolve() {
        Some(value) => llm_router_core::auth::hmac_sha256(&salt, &value).to_vec(),
        None => vec![0; 32],
    };
    Some(pb::MasterKey { salt, hmac_sha256 })
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
        allowed_fails: 0,
        cooldown_ms: 0,
        sole_in_group: false,
        rpm_limit: d.rpm.unwrap_or(0),
        tpm_limit: d.tpm.unwrap_or(0),
        ratelimit_cluster: String::new(),
        ratelimit_timeout_ms: 0,
    }
}

/// How long a limit check may take before the attempt goes unchecked (fail open). The service
/// answers in about a millisecond (one Redis round trip); 100 ms covers a loaded `serve`
/// without letting a hung one add more than that to an attempt.
pub const RATELIMIT_TIMEOUT_MS: u64 = 100;

/// The cluster that reaches the fleet-wide rpm/tpm count: `serve`'s rate limit service, on the
/// xDS port, through the bootstrap's xDS cluster (the same TLS). A static render has no `serve`
/// behind it, so no cluster: its deployments' rpm/tpm are not counted (the filter checks
/// nothing; providers' own 429s and `retry-after` still cool deployments down).
fn ratelimit_cluster(opts: &Options) -> String {
    match opts.secret_mode {
        SecretMode::Inline => crate::bootstrap::XDS_CLUSTER.to_owned(),
        SecretMode::Reference => String::new(),
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
    // `config` is moved in (`json!` would copy it field by field).
    let mut filter = json!({
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": null,
        },
    });
    filter["typed_config"]["config"] = config;
    filter
}

/// The router-role wasm filter (`{name, typed_config}`): inline in the static listener, and
/// the ECDS resource (a `TypedExtensionConfig` has the same shape) in xDS mode.
pub fn router_filter(opts: &Options, router: &pb::RouterConfig) -> Value {
    wasm_filter(ROUTER_FILTER_NAME, "llm_router", opts, pb::plugin_config::Role::Router(router.clone()), true)
}

/// The upstream-role wasm filter of a deployment's cluster: it translates each attempt.
/// `sole_in_group`: the deployment is its group's only one (never cooled down).
pub(super) fn upstream_filter(d: &Deployment, r: &RouterSettings, sole_in_group: bool, opts: &Options) -> Value {
    let upstream = pb::UpstreamConfig {
        allowed_fails: r.allowed_fails,
        cooldown_ms: seconds_to_ms(d.cooldown_time_s.unwrap_or(r.cooldown_time_s)),
        sole_in_group,
        ratelimit_cluster: ratelimit_cluster(opts),
        ratelimit_timeout_ms: RATELIMIT_TIMEOUT_MS,
        ..upstream_config(d)
    };
    wasm_filter(
        &format!("llm_router_upstream.{}", d.id),
        "llm_router_upstream",
        opts,
        pb::plugin_config::Role::Upstream(upstream),
        // The provider's path depends on the body (stream or not): headers wait for it.
        true,
    )
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::config;

    fn with_key(key: &str) -> Config {
        std::env::set_var("FILTER_TEST_MASTER_KEY", key);
        let yaml = "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\ngeneral_settings:\n  master_key: os.environ/FILTER_TEST_MASTER_KEY\n";
        config::load_str(yaml, "c.yaml").expect("loads").config
    }

    #[test]
    fn the_master_key_is_published_as_a_salted_hmac_never_its_sha256() {
        let key = "sk-filter-test-0123456789";
        let cfg = with_key(key);
        let opts = Options { master_key_salt: [7; 16], ..Default::default() };
        let rc = router_config(&cfg, &opts);
        let mk = rc.master_key.clone().expect("a key");
        assert_eq!(mk.salt, vec![7; 16]);
        assert_ne!(mk.hmac_sha256, Sha256::digest(key.as_bytes()).to_vec());
        assert!(llm_router_core::auth::MasterKeyDigest::of(&mk.salt, key).matches(key));
        let bytes = rc.encode_to_vec();
        let plain = Sha256::digest(key.as_bytes());
        assert!(!bytes.windows(32).any(|w| w == plain.as_slice()), "no unsalted SHA-256 anywhere in the config");

        // Another salt (another render, another serve process): another digest, the same hash.
        let other = router_config(&cfg, &Options { master_key_salt: [8; 16], ..Default::default() });
        assert_ne!(other.master_key.as_ref().map(|k| &k.hmac_sha256), Some(&mk.hmac_sha256));
        assert_eq!(other.config_hash, rc.config_hash, "config_hash names the config, not the salt");
        assert_ne!(Options::default().master_key_salt, Options::default().master_key_salt, "random by default");
    }

    #[test]
    fn each_planned_deployment_carries_its_own_limits_for_the_filter() {
        let yaml = "model_list:\n  - model_name: g\n    litellm_params: {model: openai/gpt-4o, api_base: 'http://127.0.0.1:1/v1', stream_timeout: 2, timeout: 90}\n  - model_name: g\n    litellm_params: {model: openai/gpt-4o, api_base: 'http://127.0.0.1:2/v1'}\nrouter_settings:\n  timeout: 45\n";
        let cfg = config::load_str(yaml, "c.yaml").expect("loads").config;
        let rc = router_config(&cfg, &Options::default());
        let limits: Vec<(u64, u64)> =
            rc.model_groups[0].deployments.iter().map(|d| (d.stream_timeout_ms, d.timeout_ms)).collect();
        assert_eq!(limits, [(2_000, 90_000), (30_000, 45_000)]);
    }
}
