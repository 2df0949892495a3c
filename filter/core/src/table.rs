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
    /// rpm / tpm counted fleet-wide (0 = no limit).
    pub rpm_limit: u64,
    pub tpm_limit: u64,
    /// How long the deployment cools down after `allowed_fails` failures: its own
    /// `cooldown_time`, else the router's.
    pub cooldown_ms: u64,
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
    /// The rate limit service's cluster (empty: rpm/tpm are not counted) and how long a check
    /// may take.
    pub ratelimit_cluster: String,
    pub ratelimit_timeout_ms: u64,
    pub deployments: Vec<Deployment>,
    pub groups: HashMap<String, Group>,
    /// Group names in config order (for /health and /v1/models).
    pub group_order: Vec<String>,
    /// The wildcard groups' names (`*`, `anthropic/*`), in config order: LiteLLM's pattern
    /// routing, tried when no group has the client's model as its name.
    pub patterns: Vec<String>,
    /// Fallback names by the name they are listed for (a group's, or a model only a wildcard
    /// group serves), in config order.
    pub fallbacks: HashMap<String, Vec<String>>,
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
        let mut patterns = Vec::new();
        let mut fallbacks: HashMap<String, Vec<String>> = HashMap::new();
        for f in &cfg.fallbacks {
            fallbacks.entry(f.model_group.clone()).or_default().extend(f.fallback_groups.iter().cloned());
        }
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
                    rpm_limit: d.rpm_limit,
                    tpm_limit: d.tpm_limit,
                    timeout_ms: d.timeout_ms,
                    cooldown_ms: d.cooldown_ms.unwrap_or(cfg.cooldown_ms),
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
            if crate::wildcard::is_pattern(&g.name) {
                patterns.push(g.name.clone());
            }
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
            ratelimit_cluster: cfg.ratelimit_cluster.clone(),
            ratelimit_timeout_ms: cfg.ratelimit_timeout_ms,
            deployments,
            groups,
            group_order,
            patterns,
            fallbacks,
        })
    }

    /// The groups a request for `model` falls back to, in order: those listed for that name
    /// (LiteLLM keys fallbacks by the model the client asked for), else those of the group that
    /// serves it; each resolved as a request for it would be (a wildcard group may serve it).
    pub fn fallback_groups<'t>(&'t self, model: &str) -> impl Iterator<Item = &'t Group> + 't {
        self.fallback_names(model).iter().filter_map(|name| self.group_for(name))
    }

    fn fallback_names(&self, model: &str) -> &[String] {
        let listed = self.fallbacks.get(model);
        let of_group = || self.group_for(model).and_then(|g| self.fallbacks.get(&g.name));
        listed.or_else(of_group).map_or(&[], Vec::as_slice)
    }

    /// Each wildcard group a request for `model` may reach (its own, its fallbacks'), with the
    /// name that reaches it: the model its deployments' templates are filled from. When one
    /// pattern is reached by several names, the first (the client's own model) is kept.
    pub fn pattern_requests<'a>(&'a self, model: &'a str) -> Vec<(&'a str, &'a str)> {
        let names = std::iter::once(model).chain(self.fallback_names(model).iter().map(String::as_str));
        let mut out: Vec<(&str, &str)> = Vec::new();
        for name in names {
            let Some(g) = self.group_for(name) else { continue };
            if crate::wildcard::is_pattern(&g.name) && !out.iter().any(|(p, _)| *p == g.name) {
                out.push((g.name.as_str(), name));
            }
        }
        out
    }

    /// The group that serves `model`: the group of that name, else the most specific wildcard
    /// group whose pattern matches it (LiteLLM's order: exact names first, then patterns).
    pub fn group_for(&self, model: &str) -> Option<&Group> {
        self.groups.get(model).or_else(|| {
            let pattern = crate::wildcard::best_match(self.patterns.iter().map(String::as_str), model)?;
            self.groups.get(pattern)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(groups: &[&str], fallbacks: &[(&str, &[&str])]) -> RouterTable {
        let group = |name: &&str| pb::ModelGroup {
            name: (*name).into(),
            deployments: vec![pb::Deployment { id: format!("d-{name}"), cluster: "c".into(), ..Default::default() }],
        };
        RouterTable::compile(&pb::RouterConfig {
            schema_version: llm_router_proto::SCHEMA_VERSION,
            model_groups: groups.iter().map(group).collect(),
            fallbacks: fallbacks
                .iter()
                .map(|(from, to)| pb::Fallback {
                    model_group: (*from).into(),
                    fallback_groups: to.iter().map(|t| (*t).into()).collect(),
                })
                .collect(),
            ..Default::default()
        })
        .unwrap()
    }

    fn names<'t>(groups: impl Iterator<Item = &'t Group>) -> Vec<&'t str> {
        groups.map(|g| g.name.as_str()).collect()
    }

    #[test]
    fn fallbacks_are_found_by_the_name_asked_for_then_by_the_serving_group_and_may_name_patterns() {
        let t = table(
            &["gpt-4o", "anthropic/*", "*"],
            &[("gpt-4o", &["anthropic/claude-3-5-haiku"]), ("my-model", &["gpt-4o"]), ("*", &["gpt-4o"])],
        );
        // A fallback that only a wildcard group serves is that group.
        assert_eq!(names(t.fallback_groups("gpt-4o")), ["anthropic/*"]);
        // A model only '*' serves: its own fallbacks, else '*''s.
        assert_eq!(names(t.fallback_groups("my-model")), ["gpt-4o"]);
        assert_eq!(names(t.fallback_groups("other")), ["gpt-4o"]);
        assert_eq!(names(t.fallback_groups("anthropic/x")), Vec::<&str>::new());

        // The names the wildcard groups are reached by, the client's own first.
        assert_eq!(t.pattern_requests("gpt-4o"), [("anthropic/*", "anthropic/claude-3-5-haiku")]);
        assert_eq!(t.pattern_requests("my-model"), [("*", "my-model")]);
        assert_eq!(t.pattern_requests("unknown-but-served"), [("*", "unknown-but-served")]);
        assert!(table(&["plain"], &[]).pattern_requests("plain").is_empty());
    }
}
