//! The validated configuration: what translation and the filter need, with every default
//! applied and every name resolved. Built by `config::load` from either YAML dialect.

use std::collections::BTreeMap;

pub use llm_router_core::{Provider, Strategy};

/// Where a deployment's API lives: scheme, host, port and base path, from `api_base` or the
/// provider's default regional host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// true for https.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix from api_base without a trailing slash ("" or "/v1").
    pub base_path: String,
}

/// Where a deployment's requests may be processed, read from the endpoint called (its
/// regional host, `aws_region_name`, `vertex_location`, a Bedrock inference profile), not
/// from the declared label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The endpoint names no region (`*.openai.azure.com`, a private host): the declared
    /// region stands.
    Unknown,
    /// One region.
    Region(String),
    /// A Bedrock cross-region inference profile (`eu.…`, `global.…`) sent to `source`. AWS may
    /// process it in any of `regions` (which include `source`); `None` for `global.` and for a
    /// geography whose destinations are not known: anywhere.
    Profile { geography: String, source: Option<String>, regions: Option<Vec<String>> },
    /// A global endpoint (Vertex `global`): any region.
    Global,
}

/// A secret value: where it comes from. The value itself is only read where it is used,
/// and never printed (`Debug` shows the source, not the value).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// `os.environ/VAR`.
    Env(String),
    /// A literal written in the YAML.
    Literal(String),
}

impl Secret {
    /// The value: the environment variable's, or the literal. None when the variable is unset.
    pub fn resolve(&self) -> Option<String> {
        match self {
            Secret::Env(var) => std::env::var(var).ok().filter(|v| !v.is_empty()),
            Secret::Literal(v) => Some(v.clone()),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Env(var) => write!(f, "os.environ/{var}"),
            Secret::Literal(_) => f.write_str("<literal secret>"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    /// Stable id: `model_info.id`, else `{model_name}-{region}` (with `-2`, `-3`, ... when
    /// the same group has several deployments in one region). Only `[A-Za-z0-9_.-]`.
    pub id: String,
    /// The model group (`model_name`).
    pub model_name: String,
    /// From the prefix of `litellm_params.model`; OpenAI when the model has no prefix.
    pub provider: Provider,
    /// `litellm_params.model` without the provider prefix (`bedrock/converse/` also stripped).
    pub provider_model: String,
    /// The region clients see (`x-llm-region`): metadata.region, else region_name (each must
    /// agree with the endpoint's region), else the endpoint's region. Empty when none is known.
    pub region: String,
    /// Where `region` came from: the key (`aws_region_name`, `metadata.region`, `api_base` for
    /// the host's region, `model_arn`, `default`) or `env:VAR`; empty when there is no region.
    pub region_source: String,
    /// Residency zone, from where requests actually go ([`Reach`]): residency_zones, else the
    /// region's prefix; empty when none (always for a `global` endpoint or profile).
    pub zone: String,
    /// Where the endpoint called may process a request.
    pub reach: Reach,
    /// Deployment-level `priority` (seed) or `litellm_params.order` (LiteLLM); lower first.
    pub priority: Option<u32>,
    /// The simple-shuffle weight, as LiteLLM picks it: deployment-level `weight` (seed) or
    /// `litellm_params.weight`, else `rpm`, else `tpm`, else 1.
    pub weight: u32,
    pub endpoint: Endpoint,
    pub api_key: Option<Secret>,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    /// `litellm_params.timeout` in seconds.
    pub timeout_s: Option<f64>,
    /// `litellm_params.stream_timeout` in seconds.
    pub stream_timeout_s: Option<f64>,
    /// `litellm_params.cooldown_time` in seconds (LiteLLM's per-deployment override).
    pub cooldown_time_s: Option<f64>,
    /// `metadata.latency_target` in milliseconds.
    pub latency_target_ms: Option<u32>,
    pub input_cost_per_token: Option<f64>,
    pub output_cost_per_token: Option<f64>,
    /// `litellm_params.api_version` (Azure's `api-version`).
    pub api_version: Option<String>,
    /// The AWS region to call and sign for (bedrock): `aws_region_name`, else the region the
    /// api_base host names, else an AWS-shaped `region_name` / `metadata.region` / region
    /// taken from the model name.
    pub aws_region_name: Option<String>,
    /// `litellm_params.vertex_project`.
    pub vertex_project: Option<String>,
    /// The Vertex location to call (vertex_ai): `vertex_location`, else the api_base host's,
    /// else a GCP-shaped region.
    pub vertex_location: Option<String>,
    /// Provider credentials (LiteLLM's keys); all `None` = the provider's standard chain.
    pub credentials: Credentials,
    /// Upstream TLS checks (`ssl_verify`, per deployment or in litellm_settings).
    pub tls_verify: TlsVerify,
    /// Why the deployment cannot be served yet although the config is valid (a value it needs
    /// names an unset environment variable, or Bedrock's region is nowhere to be found); render
    /// and serve refuse it. Empty when it can be served.
    pub unresolved: Vec<String>,
}

/// LiteLLM's `ssl_verify` for one deployment's upstream TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TlsVerify {
    /// Checked against the gateway's CA bundle (`--ca-file`).
    #[default]
    Verify,
    /// `ssl_verify: false`: not checked.
    Off,
    /// `ssl_verify: PATH`: checked against this CA bundle.
    CaBundle(String),
}

/// LiteLLM's credential keys of a deployment, each a literal or `os.environ/VAR`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub aws_access_key_id: Option<Secret>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    pub aws_profile_name: Option<Secret>,
    /// The ARN of a role Envoy assumes (STS AssumeRole, signed with the credentials above or
    /// the local chain), or, with `aws_web_identity_token`, AssumeRoleWithWebIdentity.
    pub aws_role_name: Option<Secret>,
    /// The role session's name (both kinds of assume-role).
    pub aws_session_name: Option<Secret>,
    /// The web identity token (OIDC JWT), or the path of a file holding it.
    pub aws_web_identity_token: Option<Secret>,
    /// AssumeRole's external id.
    pub aws_external_id: Option<Secret>,
    /// A path to, the JSON of, or the base64 of the JSON of a service-account key.
    pub vertex_credentials: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouterSettings {
    pub strategy: Strategy,
    /// Default 2 when unset: a failed attempt moves on to the next region.
    pub num_retries: u32,
    /// Default 3 (LiteLLM's default).
    pub allowed_fails: u32,
    /// Seconds; default 5 (LiteLLM's default).
    pub cooldown_time_s: f64,
    /// Seconds; None = no active health checks.
    pub health_check_interval_s: Option<f64>,
    /// Seconds; default 5 when health checks are on.
    pub health_check_timeout_s: Option<f64>,
    /// None = no restriction.
    pub allowed_regions: Option<Vec<String>>,
    /// Whole-request timeout in seconds (`router_settings.timeout`).
    pub timeout_s: Option<f64>,
    /// Per-attempt time to first byte in seconds (`router_settings.stream_timeout`).
    pub stream_timeout_s: Option<f64>,
    /// `{group: [fallback groups]}` in the order given (router_settings, else litellm_settings);
    /// a group without its own gets `default_fallbacks`.
    pub fallbacks: Vec<(String, Vec<String>)>,
    /// LiteLLM's fallbacks for context-window and content-policy errors: read and reported, not
    /// used (the gateway does not tell those errors apart).
    pub context_window_fallbacks: Vec<(String, Vec<String>)>,
    pub content_policy_fallbacks: Vec<(String, Vec<String>)>,
    /// Fallback groups for every group without fallbacks of its own.
    pub default_fallbacks: Vec<String>,
    /// zone -> regions, when `residency_zones` is given.
    pub residency_zones: BTreeMap<String, Vec<String>>,
    /// The gateway's own region (`router_settings.gateway_region`, or `--region`).
    pub gateway_region: Option<String>,
    /// `redis_host`/`redis_port`/`redis_password` or `redis_url`: where rpm/tpm are counted
    /// across gateways; None = in `serve`'s memory.
    pub redis: Option<super::redis::Redis>,
}

/// A whole, valid configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Deployments in the order they appear in `model_list`.
    pub deployments: Vec<Deployment>,
    pub router: RouterSettings,
    /// Every zone a request may name in `x-llm-residency` (sorted, unique).
    pub zones: Vec<String>,
    /// `general_settings.master_key`: when set, clients must present it.
    pub master_key: Option<Secret>,
}

impl Config {
    /// Model group names in first-appearance order.
    pub fn model_groups(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.deployments.iter().map(|d| d.model_name.as_str()).filter(|name| seen.insert(*name)).collect()
    }
}
