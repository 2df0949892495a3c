//! Provider credentials in Envoy: what each deployment's cluster adds to its upstream filter
//! chain (after the wasm filter has translated the attempt) so that every attempt carries its
//! own deployment's auth — SigV4 for Bedrock (Envoy's `aws_request_signing`, signed per
//! attempt for the deployment's region), an API key header for OpenAI, Azure and Anthropic
//! (Envoy's `credential_injector` with a generic secret).
//!
//! Secrets never sit in Envoy's config in clear: a rendered static config refers to them by
//! environment variable; `serve` hands them over xDS as secrets, which `/config_dump` redacts.

use serde_json::{json, Value};

use super::ads_config_source;
use crate::config::vertex_credentials::VertexAuth;
use crate::config::{Deployment, Provider, Secret};

/// How secret values reach Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretMode {
    /// A static config file: only references (environment variables, profiles).
    Reference,
    /// xDS: the control plane resolves values and sends them in fields Envoy redacts.
    Inline,
}

/// What one deployment needs for auth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamAuth {
    /// Upstream HTTP filters, in order, to place between the wasm filter and the codec.
    pub filters: Vec<Value>,
    /// Envoy secrets the filters refer to.
    pub secrets: Vec<Value>,
    /// Why a credential cannot be expressed in this mode (each names the deployment).
    pub problems: Vec<String>,
}

/// Name of the Envoy secret holding a deployment's API key.
pub fn key_secret_name(d: &Deployment) -> String {
    format!("llm-router-key-{}", d.id)
}

/// `vertex` is the deployment's Vertex credential state (serve only; see [`crate::vertex_tokens`]).
pub fn upstream_auth(d: &Deployment, mode: SecretMode, vertex: Option<&VertexAuth>) -> UpstreamAuth {
    match d.provider {
        Provider::Bedrock => bedrock_signing(d, mode),
        Provider::VertexAi => vertex_bearer(mode, vertex),
        Provider::Azure => api_key(d, mode, "api-key", ""),
        Provider::Anthropic => api_key(d, mode, "x-api-key", ""),
        Provider::OpenAi | Provider::OpenAiCompatible(_) => api_key(d, mode, "Authorization", "Bearer "),
    }
}

/// An API key header injected per attempt; the client's own credentials were removed by the
/// wasm filter and `overwrite` makes sure of it.
fn api_key(d: &Deployment, mode: SecretMode, header: &str, prefix: &str) -> UpstreamAuth {
    let Some(key) = &d.api_key else { return UpstreamAuth::default() };
    let name = key_secret_name(d);
    let (secret_value, sds) = match (mode, key) {
        (SecretMode::Reference, Secret::Env(var)) => (json!({"environment_variable": var}), None),
        (SecretMode::Reference, Secret::Literal(_)) => {
            return UpstreamAuth {
                problems: vec![format!(
                "deployment '{}': api_key is written in the YAML; a rendered config holds no secrets, so give it as \
                     os.environ/VAR (or use `llm-router serve`, which delivers it without writing it down)",
                d.id
            )],
                ..Default::default()
            }
        }
        (SecretMode::Inline, key) => match key.resolve() {
            Some(value) => (json!({"inline_string": value}), Some(ads_config_source())),
            None => {
                return UpstreamAuth {
                    problems: vec![format!("deployment '{}': api_key {key:?} is not set in this environment", d.id)],
                    ..Default::default()
                }
            }
        },
    };
    let (filter, secret) = injected_secret(&name, secret_value, sds, header, prefix);
    UpstreamAuth { filters: vec![filter], secrets: vec![secret], problems: Vec::new() }
}

/// Envoy's credential injector putting secret `name` in `header` (after `prefix`), and the
/// secret itself (`sds`: delivered over ADS rather than defined in the bootstrap).
fn injected_secret(name: &str, value: Value, sds: Option<Value>, header: &str, prefix: &str) -> (Value, Value) {
    let mut credential = json!({"name": name});
    if let Some(sds) = sds {
        credential["sds_config"] = sds;
    }
    let mut generic = json!({
        "@type": "type.googleapis.com/envoy.extensions.http.injected_credentials.generic.v3.Generic",
        "credential": credential,
        "header": header,
    });
    if !prefix.is_empty() {
        generic["header_value_prefix"] = json!(prefix);
    }
    let filter = json!({
        "name": "envoy.filters.http.credential_injector",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.credential_injector.v3.CredentialInjector",
            "overwrite": true,
            "credential": {"name": "envoy.http.injected_credentials.generic", "typed_config": generic},
        },
    });
    (filter, json!({"name": name, "generic_secret": {"secret": value}}))
}

/// What an account's SDS secret holds before its first token: never sent upstream, because
/// the filter plans no attempt to a deployment without a token (see [`unavailable_reason`]).
const NO_TOKEN_YET: &str = "no-token-yet";

/// Vertex: the service account's access token as `Authorization: Bearer`, from an SDS secret
/// the control plane updates on every refresh. Deployments that share an account share the
/// secret. A static config has no token (see [`unavailable_reason`]).
fn vertex_bearer(mode: SecretMode, vertex: Option<&VertexAuth>) -> UpstreamAuth {
    match (mode, vertex) {
        (SecretMode::Inline, Some(VertexAuth::Account { secret_name, token, .. })) => {
            let value = token.as_ref().map_or(NO_TOKEN_YET, |t| t.value());
            let sds = ads_config_source();
            let (filter, secret) =
                injected_secret(secret_name, json!({"inline_string": value}), Some(sds), "Authorization", "Bearer ");
            UpstreamAuth { filters: vec![filter], secrets: vec![secret], problems: Vec::new() }
        }
        _ => UpstreamAuth::default(),
    }
}

/// Why a deployment can take no traffic whatever its health: a Vertex deployment without a
/// valid access token. The filter leaves it out of every plan and reports it unhealthy.
pub fn unavailable_reason(d: &Deployment, mode: SecretMode, vertex: Option<&VertexAuth>) -> Option<String> {
    if d.provider != Provider::VertexAi {
        return None;
    }
    match (mode, vertex) {
        (SecretMode::Reference, _) => Some(
            "a static config cannot carry Vertex access tokens (they expire within the hour); serve this config \
             with `llm-router serve` (or `up`), which fetches and refreshes them"
                .to_string(),
        ),
        (SecretMode::Inline, Some(VertexAuth::Account { token: Some(_), .. })) => None,
        (SecretMode::Inline, Some(VertexAuth::Account { why_no_token, .. })) => Some(why_no_token.clone()),
        (SecretMode::Inline, Some(VertexAuth::Unusable(why))) => Some(format!("no usable Vertex credentials: {why}")),
        (SecretMode::Inline, None) => Some("no Vertex credentials loaded".to_string()),
    }
}

/// The standard chain's local sources: AWS_* variables, then the shared credentials file.
/// Instance and container metadata are not consulted: a gateway must not probe a metadata
/// address it was not told about (and tests must never reach one).
fn local_chain() -> Value {
    json!({
        "custom_credential_provider_chain": true,
        "environment_credential_provider": {},
        "credentials_file_provider": {},
    })
}

/// SigV4 for the deployment's own region, over the translated body (payload signed).
fn bedrock_signing(d: &Deployment, mode: SecretMode) -> UpstreamAuth {
    let region = d.aws_region_name.clone().unwrap_or_else(|| d.region.clone());
    let (credential_provider, problems) = aws_credential_provider(d, mode);
    let signing = json!({
        "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_request_signing.v3.AwsRequestSigning",
        "service_name": "bedrock",
        "region": region,
        "use_unsigned_payload": false,
        // Envoy's and the gateway's own headers are not the provider's business, and may
        // differ between attempts: signing fewer headers is also less work per attempt.
        "match_excluded_headers": [{"prefix": "x-envoy-"}, {"prefix": "x-llm-"}],
        "credential_provider": credential_provider,
    });
    UpstreamAuth {
        filters: vec![json!({"name": "envoy.filters.http.aws_request_signing", "typed_config": signing})],
        secrets: Vec::new(),
        problems: problems.into_iter().collect(),
    }
}

/// Where Envoy gets the deployment's AWS credentials: its keys, its profile, or the local
/// chain; and why its keys cannot be used in this mode, if they cannot.
fn aws_credential_provider(d: &Deployment, mode: SecretMode) -> (Value, Option<String>) {
    let c = &d.credentials;
    if c.aws_access_key_id.is_some() || c.aws_secret_access_key.is_some() {
        return aws_keys(d, mode);
    }
    match c.aws_profile_name.as_ref().and_then(Secret::resolve) {
        Some(profile) => {
            (json!({"custom_credential_provider_chain": true, "credentials_file_provider": {"profile": profile}}), None)
        }
        None => (local_chain(), None),
    }
}

/// The deployment's own AWS keys: by Envoy's standard variables, or (xDS) their values. When
/// they cannot be used, the local chain and why.
fn aws_keys(d: &Deployment, mode: SecretMode) -> (Value, Option<String>) {
    let c = &d.credentials;
    let standard = |s: &Option<Secret>, var: &str| matches!(s, Some(Secret::Env(v)) if v == var);
    let env_chain = standard(&c.aws_access_key_id, "AWS_ACCESS_KEY_ID")
        && standard(&c.aws_secret_access_key, "AWS_SECRET_ACCESS_KEY")
        && (c.aws_session_token.is_none() || standard(&c.aws_session_token, "AWS_SESSION_TOKEN"));
    if env_chain {
        return (json!({"custom_credential_provider_chain": true, "environment_credential_provider": {}}), None);
    }
    match mode {
        SecretMode::Reference => (
            local_chain(),
            Some(format!(
                "deployment '{}': a rendered config holds no secrets, and Envoy reads AWS keys only from \
                 AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; use those names \
                 (os.environ/AWS_ACCESS_KEY_ID, ...), aws_profile_name, or `llm-router serve` for per-deployment keys",
                d.id
            )),
        ),
        SecretMode::Inline => inline_aws_keys(d),
    }
}

/// The deployment's AWS keys as values (xDS); the local chain and why when they are not set.
fn inline_aws_keys(d: &Deployment) -> (Value, Option<String>) {
    let c = &d.credentials;
    let value = |s: &Option<Secret>| s.as_ref().and_then(Secret::resolve);
    match (value(&c.aws_access_key_id), value(&c.aws_secret_access_key)) {
        (Some(id), Some(secret)) => {
            let mut inline = json!({"access_key_id": id, "secret_access_key": secret});
            if let Some(token) = value(&c.aws_session_token) {
                inline["session_token"] = json!(token);
            }
            (json!({"custom_credential_provider_chain": true, "inline_credential": inline}), None)
        }
        _ => (
            local_chain(),
            Some(format!("deployment '{}': aws_access_key_id and aws_secret_access_key must both be set", d.id)),
        ),
    }
}
