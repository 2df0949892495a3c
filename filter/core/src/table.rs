//! The router's configuration compiled once (in `on_configure`) into lookup-friendly form.

use std::collections::HashMap;

use llm_router_proto as pb;

use crate::auth::{MasterKeyDigest, MIN_SALT_BYTES};
use crate::Strategy;

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Position in `RouterTable::deployments`.
    pub index: usize,
    pub id: String,
    pub model_group: String,
    pub cluster: String,
    pub region: String,
    pub zone: String,
    pub provider_model: String,
    pub priority: u32,
    pub weight: u32,
    /// Input plus output price per token; None when the config gives no price.
    pub cost_per_token: Option<f64>,
    pub latency_target_ms: u32,
    /// `stream_timeout` and `timeout` in milliseconds; 0 = the route's.
    pub stream_timeout_ms: u64,
    pub timeout_ms: u64,
    /// A whole answer is asked for as a stream ([`crate::providers::streams_whole_answers`]).
    pub streams_whole_answers: bool,
    /// Why the deployment takes no traffic (no usable credentials), as the code /health
    /// shows; None = it does.
    pub unavailable: Option<&'static str>,
    /// Prometheus-safe forms of model group, id and region for stat names.
    pub labels: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    /// Indices into `RouterTable::deployments`, in config order.
    pub deployments: Vec<usize>,
    pub fallbacks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouterTable {
    pub config_hash: String,
    pub gateway_region: String,
    pub strategy: Strategy,
    pub num_retries: u32,
    pub allowed_fails: u32,
    pub cooldown_ms: u64,
    pub max_body_bytes: u64,
    pub zones: Vec<String>,
    /// The gateway's key, salted and hashed; None = no key required.
    pub master_key: Option<MasterKeyDigest>,
    pub deployments: Vec<Deployment>,
    pub groups: HashMap<String, Group>,
    /// Group names in config order (for /health and /v1/models).
    pub group_order: Vec<String>,
}

/// Default body limit when the config gives none: generous for multimodal prompts.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;

impl RouterTable {
    /// Checks and compiles a router config; errors name what is wrong.
    pub fn compile(cfg: &pb::RouterConfig) -> Result<RouterTable, String> {
        if cfg.schema_version != llm_router_proto::SCHEMA_VERSION {
            return Err(format!(
                "filter configuration schema_version {} is not supported (this filter speaks {}): \
                 use the filter build that matches the control plane",
                cfg.schema_version,
                llm_router_proto::SCHEMA_VERSION
            ));
        }
        let mut deployments = Vec::new();
        let mut groups = HashMap::new();
        let mut group_order = Vec::new();
        for g in &cfg.model_groups {
            if g.deployments.is_empty() {
                return Err(format!("model group '{}' has no deployments", g.name));
            }
            let mut idx = Vec::new();
            for d in &g.deployments {
                if d.cluster.is_empty() {
                    return Err(format!("deployment '{}' has no cluster", d.id));
                }
                let cost = d.input_cost_per_token + d.output_cost_per_token;
                idx.push(deployments.len());
                deployments.push(Deployment {
                    index: deployments.len(),
                    id: d.id.clone(),
                    model_group: g.name.clone(),
                    cluster: d.cluster.clone(),
                    region: d.region.clone(),
                    zone: d.zone.clone(),
                    provider_model: d.provider_model.clone(),
                    priority: d.priority,
                    weight: d.weight.max(1),
                    cost_per_token: (cost > 0.0).then_some(cost),
                    latency_target_ms: d.latency_target_ms,
                    stream_timeout_ms: d.stream_timeout_ms,
                    streams_whole_answers: d.streams_whole_answers,
                    timeout_ms: d.timeout_ms,
                    unavailable: unavailable_code(d.unavailable),
                    labels: deployment_labels(&g.name, &d.id, &d.region),
                });
            }
            let fallbacks = cfg
                .fallbacks
                .iter()
                .filter(|f| f.model_group == g.name)
                .flat_map(|f| f.fallback_groups.iter().cloned())
                .collect();
            group_order.push(g.name.clone());
            groups.insert(g.name.clone(), Group { name: g.name.clone(), deployments: idx, fallbacks });
        }
        Ok(RouterTable {
            config_hash: cfg.config_hash.clone(),
            gateway_region: cfg.gateway_region.clone(),
            strategy: Strategy::from_proto(cfg.strategy),
            num_retries: cfg.num_retries,
            allowed_fails: cfg.allowed_fails,
            cooldown_ms: cfg.cooldown_ms,
            max_body_bytes: if cfg.max_body_bytes == 0 { DEFAULT_MAX_BODY_BYTES } else { cfg.max_body_bytes },
            zones: cfg.zones.clone(),
            master_key: cfg.master_key.as_ref().map(master_key).transpose()?,
            deployments,
            groups,
            group_order,
        })
    }

    pub fn deployment_by_id(&self, id: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.id == id)
    }
}

/// The master key's salted digest, checked for shape.
fn master_key(k: &pb::MasterKey) -> Result<MasterKeyDigest, String> {
    let hmac_sha256 =
        <[u8; 32]>::try_from(k.hmac_sha256.as_slice()).map_err(|_| "master_key.hmac_sha256 must be 32 bytes")?;
    if k.salt.len() < MIN_SALT_BYTES {
        return Err(format!("master_key.salt must be at least {MIN_SALT_BYTES} bytes"));
    }
    Ok(MasterKeyDigest { salt: k.salt.clone(), hmac_sha256 })
}

/// What /health shows for a deployment's `unavailable` code; None when it takes traffic. A
/// code this filter does not know (a newer control plane) still keeps the deployment out.
pub fn unavailable_code(value: i32) -> Option<&'static str> {
    use pb::Unavailable as U;
    match U::try_from(value) {
        Ok(U::Available) => None,
        Ok(U::VertexCredentialsInvalid) => Some("vertex_credentials_invalid"),
        Ok(U::VertexTokenPending) => Some("vertex_token_pending"),
        Ok(U::VertexTokenRefreshFailed) => Some("vertex_token_refresh_failed"),
        Ok(U::StaticConfigNoVertexToken) => Some("static_config_no_vertex_token"),
        Ok(U::VertexCredentialsNotLoaded) => Some("vertex_credentials_not_loaded"),
        Err(_) => Some("unavailable"),
    }
}

/// `model.M.deployment.D.region.R`: a deployment's labels as a stat-name suffix, which the
/// bootstrap's stats tags turn into Prometheus labels (`unknown` when it has no region).
pub fn deployment_labels(model_group: &str, deployment_id: &str, region: &str) -> String {
    format!(
        "model.{}.deployment.{}.region.{}",
        crate::stat_label(model_group),
        crate::stat_label(deployment_id),
        crate::stat_label(if region.is_empty() { "unknown" } else { region })
    )
}
