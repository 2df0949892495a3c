//! Provider credentials in Envoy: what each deployment's cluster adds to its upstream filter
//! chain (after the wasm filter has translated the attempt) so that every attempt carries its
//! own deployment's auth — SigV4 for Bedrock (Envoy's `aws_request_signing`, signed per
//! attempt for the deployment's region), an API key header for OpenAI, Azure and Anthropic
//! (Envoy's `credential_injector` with a generic secret).
//!
//! Secrets never sit in Envoy's config in clear: a rendered static config refers to them by
//! environment variable; `serve` hands them over xDS as secrets, which `/config_dump` redacts.

use llm_router_proto as pb;
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
    match &d.provider {
        Provider::Bedrock => bedrock_signing(d, mode),
        Provider::VertexAi => vertex_bearer(mode, vertex),
        Provider::Azure => api_key(d, mode, "api-key", ""),
        Provider::Anthropic => api_key(d, mode, "x-api-key", ""),
        // Google AI Studio (Gemini format): the key in Google's header, as LiteLLM sends it.
        Provider::OpenAiCompatible(prefix) if prefix == "gemini" => api_key(d, mode, "x-goog-api-key", ""),
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
/// valid access token. The filter leaves it out of every plan and /health shows the code; the
/// reason in words (which may name a secret's source, never its value) goes only to `validate`
/// and the control plane's log.
pub fn unavailable_reason(d: &Deployment, mode: SecretMode, vertex: Option<&VertexAuth>) -> Option<pb::Unavailable> {
    if d.provider != Provider::VertexAi {
        return None;
    }
    Some(match (mode, vertex) {
        (SecretMode::Reference, _) => pb::Unavailable::StaticConfigNoVertexToken,
        (SecretMode::Inline, Some(VertexAuth::Account { token: Some(_), .. })) => return None,
        (SecretMode::Inline, Some(VertexAuth::Account { refresh_error: Some(_), .. })) => {
            pb::Unavailable::VertexTokenRefreshFailed
        }
        (SecretMode::Inline, Some(VertexAuth::Account { .. })) => pb::Unavailable::VertexTokenPending,
        (SecretMode::Inline, Some(VertexAuth::Unusable(_))) => pb::Unavailable::VertexCredentialsInvalid,
        (SecretMode::Inline, None) => pb::Unavailable::VertexCredentialsNotLoaded,
    })
}

/// What an `unavailable` code means, for `render`'s and `serve`'s messages.
pub fn unavailable_text(code: pb::Unavailable) -> &'static str {
    match code {
        pb::Unavailable::Available => "it takes traffic",
        pb::Unavailable::StaticConfigNoVertexToken => {
            "a static config cannot carry Vertex access tokens (they expire within the hour); serve this config \
             with `llm-router serve` (or `up`), which fetches and refreshes them"
        }
        pb::Unavailable::VertexTokenRefreshFailed => "the token endpoint refused or failed and no valid token is held",
        pb::Unavailable::VertexTokenPending => "its first Vertex access token has not arrived yet",
        pb::Unavailable::VertexCredentialsInvalid => "its service-account key is missing or unusable",
        pb::Unavailable::VertexCredentialsNotLoaded => "no Vertex credentials were loaded",
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
        problems,
    }
}

/// Where Envoy gets the deployment's AWS credentials: a role it assumes (`aws_role_name`), or
/// the source credentials directly; and why they cannot be used in this mode, if they cannot.
fn aws_credential_provider(d: &Deployment, mode: SecretMode) -> (Value, Vec<String>) {
    let c = &d.credentials;
    let Some(role) = &c.aws_role_name else {
        let (source, problem) = source_credentials(d, mode);
        return (source, problem.into_iter().collect());
    };
    let mut problems = Vec::new();
    let mut plain = |key: &str, s: &Secret| match s.resolve() {
        Some(v) => v,
        None => {
            problems.push(format!("deployment '{}': {key} {s:?} is not set in this environment", d.id));
            String::new()
        }
    };
    // Role ARNs, session names and external ids are identifiers, not secrets: written as values.
    let mut assume = json!({"role_arn": plain("aws_role_name", role)});
    if let Some(session) = &c.aws_session_name {
        assume["role_session_name"] = json!(plain("aws_session_name", session));
    }
    let kind = match &c.aws_web_identity_token {
        // AssumeRoleWithWebIdentity: the token alone authenticates (config refuses keys with it).
        Some(token) => {
            match web_identity_token(d, mode, token) {
                Ok(source) => assume["web_identity_token_data_source"] = source,
                Err(problem) => problems.push(problem),
            }
            "assume_role_with_web_identity_provider"
        }
        // AssumeRole, signed with the source credentials.
        None => {
            if let Some(external_id) = &c.aws_external_id {
                assume["external_id"] = json!(plain("aws_external_id", external_id));
            }
            let (source, problem) = source_credentials(d, mode);
            problems.extend(problem);
            assume["credential_provider"] = source;
            "assume_role_credential_provider"
        }
    };
    (json!({"custom_credential_provider_chain": true, kind: assume}), problems)
}

/// Where the web identity token comes from: a file (a value that is a path: Envoy re-reads it
/// as the platform rotates it), an environment variable of Envoy's (a static config), or the
/// token itself (xDS, in a field `/config_dump` redacts).
fn web_identity_token(d: &Deployment, mode: SecretMode, token: &Secret) -> Result<Value, String> {
    let file = |v: &str| v.trim().starts_with('/').then(|| json!({"filename": v.trim()}));
    match (mode, token) {
        (SecretMode::Reference, Secret::Env(var)) => {
            // A variable naming a token file (AWS_WEB_IDENTITY_TOKEN_FILE-style) is read as a file.
            Ok(token.resolve().and_then(|v| file(&v)).unwrap_or_else(|| json!({"environment_variable": var})))
        }
        (SecretMode::Reference, Secret::Literal(v)) => file(v).ok_or_else(|| {
            format!(
                "deployment '{}': aws_web_identity_token is written in the YAML; a rendered config holds no \
                 secrets, so give the token file's path or os.environ/VAR (or use `llm-router serve`)",
                d.id
            )
        }),
        (SecretMode::Inline, _) => match token.resolve() {
            Some(v) => Ok(file(&v).unwrap_or_else(|| json!({"inline_string": v}))),
            None => {
                Err(format!("deployment '{}': aws_web_identity_token {token:?} is not set in this environment", d.id))
            }
        },
    }
}

/// The deployment's own credentials: its keys, its profile, or the local chain; and why its
/// keys cannot be used in this mode, if they cannot.
fn source_credentials(d: &Deployment, mode: SecretMode) -> (Value, Option<String>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    fn bedrock(params: &str) -> Deployment {
        let yaml = format!(
            "model_list:\n  - model_name: claude\n    litellm_params:\n      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n      aws_region_name: us-west-2\n{params}"
        );
        config::load_str(&yaml, "c.yaml").unwrap_or_else(|d| panic!("{d:?}")).config.deployments.remove(0)
    }

    fn provider(d: &Deployment, mode: SecretMode) -> (Value, Vec<String>) {
        let auth = upstream_auth(d, mode, None);
        (auth.filters[0]["typed_config"]["credential_provider"].clone(), auth.problems)
    }

    const ROLE: &str = "      aws_role_name: arn:aws:iam::123456789012:role/gateway\n      aws_session_name: llm-gw\n";

    #[test]
    fn a_role_is_assumed_with_the_deployments_own_credentials() {
        std::env::set_var("UPSTREAM_AUTH_TEST_KEY_ID", "AKIDROLETEST");
        std::env::set_var("UPSTREAM_AUTH_TEST_SECRET", "role-test-secret");
        let d = bedrock(&format!(
            "{ROLE}      aws_external_id: ext-42\n      aws_access_key_id: os.environ/UPSTREAM_AUTH_TEST_KEY_ID\n      aws_secret_access_key: os.environ/UPSTREAM_AUTH_TEST_SECRET\n"
        ));
        let (p, problems) = provider(&d, SecretMode::Inline);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(p["custom_credential_provider_chain"], true);
        let assume = &p["assume_role_credential_provider"];
        assert_eq!(assume["role_arn"], "arn:aws:iam::123456789012:role/gateway");
        assert_eq!(assume["role_session_name"], "llm-gw");
        assert_eq!(assume["external_id"], "ext-42");
        assert_eq!(assume["credential_provider"]["inline_credential"]["secret_access_key"], "role-test-secret");

        // A static config: the role by value, the source credentials by Envoy's own chain.
        let d = bedrock(ROLE);
        let (p, problems) = provider(&d, SecretMode::Reference);
        assert!(problems.is_empty(), "{problems:?}");
        let assume = &p["assume_role_credential_provider"];
        assert_eq!(assume["role_arn"], "arn:aws:iam::123456789012:role/gateway");
        assert!(assume["credential_provider"]["environment_credential_provider"].is_object(), "{p}");
        assert!(assume.get("external_id").is_none(), "{p}");
    }

    #[test]
    fn a_web_identity_token_comes_from_a_file_a_variable_or_serve() {
        let web = |token: &str| bedrock(&format!("{ROLE}      aws_web_identity_token: {token}\n"));
        let source = |d: &Deployment, mode| {
            let (p, problems) = provider(d, mode);
            assert!(p.get("assume_role_credential_provider").is_none(), "{p}");
            let w = &p["assume_role_with_web_identity_provider"];
            assert_eq!(
                (w["role_arn"].as_str(), w["role_session_name"].as_str()),
                (Some("arn:aws:iam::123456789012:role/gateway"), Some("llm-gw"))
            );
            (w["web_identity_token_data_source"].clone(), problems)
        };
        let file = web("/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
        for mode in [SecretMode::Reference, SecretMode::Inline] {
            let (s, problems) = source(&file, mode);
            assert_eq!(s, json!({"filename": "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"}));
            assert!(problems.is_empty());
        }
        std::env::set_var("UPSTREAM_AUTH_TEST_WEB_TOKEN", "eyJhbGciOi.web-token-value");
        let env = web("os.environ/UPSTREAM_AUTH_TEST_WEB_TOKEN");
        assert_eq!(
            source(&env, SecretMode::Reference).0,
            json!({"environment_variable": "UPSTREAM_AUTH_TEST_WEB_TOKEN"})
        );
        assert_eq!(source(&env, SecretMode::Inline).0, json!({"inline_string": "eyJhbGciOi.web-token-value"}));
        let literal = web("eyJhbGciOi.literal-token");
        let (_, problems) = source(&literal, SecretMode::Reference);
        assert!(
            problems.len() == 1 && problems[0].contains("holds no secrets") && !problems[0].contains("literal-token"),
            "{problems:?}"
        );
    }

    #[test]
    fn without_a_role_nothing_changes() {
        let (p, problems) = provider(&bedrock(""), SecretMode::Reference);
        assert_eq!(p, local_chain());
        assert!(problems.is_empty());
    }

    #[test]
    fn vertex_unavailability_is_a_code() {
        let yaml = "model_list:\n  - model_name: g\n    litellm_params:\n      model: vertex_ai/gemini-2.0-flash\n      vertex_project: p\n      vertex_location: europe-west1\n      vertex_credentials: os.environ/UPSTREAM_AUTH_TEST_UNSET_SA\n";
        let d = config::load_str(yaml, "c.yaml").expect("loads").config.deployments.remove(0);
        let account = |refresh_error: Option<&str>, token| VertexAuth::Account {
            secret_name: "s".into(),
            token,
            refresh_error: refresh_error.map(String::from),
        };
        let token = crate::config::vertex_credentials::AccessToken::new(
            "ya29.t".into(),
            std::time::SystemTime::now(),
            std::time::Duration::from_secs(60),
        );
        use pb::Unavailable as U;
        let inline = |v: Option<&VertexAuth>| unavailable_reason(&d, SecretMode::Inline, v);
        assert_eq!(unavailable_reason(&d, SecretMode::Reference, None), Some(U::StaticConfigNoVertexToken));
        assert_eq!(inline(Some(&account(None, Some(token)))), None);
        assert_eq!(inline(Some(&account(None, None))), Some(U::VertexTokenPending));
        assert_eq!(
            inline(Some(&account(Some("token endpoint answered 500"), None))),
            Some(U::VertexTokenRefreshFailed)
        );
        assert_eq!(inline(Some(&VertexAuth::Unusable("bad key".into()))), Some(U::VertexCredentialsInvalid));
        assert_eq!(inline(None), Some(U::VertexCredentialsNotLoaded));
    }
}
