//! Vertex AI credentials as plain data: the service-account key a deployment names in
//! `vertex_credentials` (or `GOOGLE_APPLICATION_CREDENTIALS`), the signed assertion it is
//! traded for, the token endpoint's answer, the refresh schedule, and [`VertexAuth`], what
//! translation needs about a deployment's credentials.
//!
//! Google's front door wants `Authorization: Bearer ACCESS_TOKEN`, and access tokens expire
//! (an hour by default). Envoy cannot mint them (`gcp_authn` fetches identity tokens, the
//! credential injector's `oauth2` does only client-credentials), so `serve` does (see
//! `crate::vertex_tokens`): it signs a JWT with the account's key (RS256) and trades it at the
//! key's `token_uri` (the JWT-bearer grant, RFC 7523).
//!
//! Everything here is synchronous and runtime-free, so that `config` (which checks keys at
//! load) and the pure `translate` can use it; the refreshing lives in `crate::vertex_tokens`.
//! A token value is never logged, printed or put in an error (its `Debug` is redacted).

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Deployment, Secret};

/// The scope Vertex AI accepts.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// RFC 7523's grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's token endpoint, for keys that do not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_S: u64 = 3600;
/// The environment variable Google's libraries read a key path from.
pub const GOOGLE_APPLICATION_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// A service-account key (the JSON Google issues), with where it was read from.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub client_email: String,
    pub token_uri: String,
    pub private_key_id: Option<String>,
    private_key_pem: String,
    /// Where the key came from, for messages: a path, `os.environ/VAR`, or "the YAML".
    pub source: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccount {
    /// Parses a service-account key's JSON. Errors name what is missing, never a value.
    pub fn from_json(text: &str, source: &str) -> Result<ServiceAccount, String> {
        let key: KeyFile = serde_json::from_str(text).map_err(|e| {
            format!("{source} is not a service-account key (JSON error at line {}, column {})", e.line(), e.column())
        })?;
        match key.kind.as_deref() {
            Some("service_account") | None => {}
            Some(other) => {
                return Err(format!(
                    "{source} holds '{other}' credentials; Vertex deployments need a service-account key \
                     (type 'service_account', from `gcloud iam service-accounts keys create`)"
                ))
            }
        }
        let missing = |field: &str| format!("{source} is not a usable service-account key: '{field}' is missing");
        let client_email = key.client_email.filter(|s| !s.is_empty()).ok_or_else(|| missing("client_email"))?;
        let private_key_pem = key.private_key.filter(|s| !s.is_empty()).ok_or_else(|| missing("private_key"))?;
        jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|_| format!("{source}: 'private_key' is not an RSA private key in PEM form"))?;
        Ok(ServiceAccount {
            client_email,
            token_uri: key.token_uri.filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
            private_key_id: key.private_key_id.filter(|s| !s.is_empty()),
            private_key_pem,
            source: source.to_string(),
        })
    }

    /// Stable identity of the account: deployments with the same key share one token.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.client_email, &self.token_uri, &self.private_key_pem] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    /// The SDS secret carrying this account's access token.
    pub fn secret_name(&self) -> String {
        format!("llm-router-vertex-token-{}", self.key())
    }

    /// The signed JWT (RS256) the token endpoint trades for an access token.
    pub fn assertion(&self, now_unix: u64) -> Result<String, String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            scope: CLOUD_PLATFORM_SCOPE,
            aud: &self.token_uri,
            iat: now_unix,
            exp: now_unix + ASSERTION_LIFETIME_S,
        };
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key_pem.as_bytes())
            .map_err(|_| format!("{}: 'private_key' is not an RSA private key in PEM form", self.source))?;
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| format!("{}: cannot sign the assertion: {e}", self.source))
    }
}

/// The service account a Vertex deployment authenticates with: `vertex_credentials` (a path,
/// the JSON itself, or `os.environ/VAR` holding either), else `GOOGLE_APPLICATION_CREDENTIALS`.
/// The error says what is wrong and what to do, without any secret.
pub fn service_account_for(d: &Deployment) -> Result<ServiceAccount, String> {
    let (text_or_path, source) = match &d.credentials.vertex_credentials {
        Some(secret @ Secret::Env(var)) => match secret.resolve() {
            Some(v) => (v, format!("vertex_credentials (os.environ/{var})")),
            None => return Err(format!("vertex_credentials refers to environment variable {var}, which is not set")),
        },
        Some(Secret::Literal(v)) => (v.clone(), "vertex_credentials".to_string()),
        None => match std::env::var(GOOGLE_APPLICATION_CREDENTIALS).ok().filter(|v| !v.is_empty()) {
            Some(path) => (path, GOOGLE_APPLICATION_CREDENTIALS.to_string()),
            None => {
                return Err(format!(
                    "no vertex_credentials and {GOOGLE_APPLICATION_CREDENTIALS} is not set; give \
                     litellm_params.vertex_credentials (a path to, or the JSON of, a service-account key)"
                ))
            }
        },
    };
    if text_or_path.trim_start().starts_with('{') {
        return ServiceAccount::from_json(&text_or_path, &format!("{source} (JSON)"));
    }
    let path = text_or_path.trim();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{source}: cannot read key file {path}: {e}"))?;
    ServiceAccount::from_json(&text, &format!("{source} file {path}"))
}

/// An access token. Its value is shown only to Envoy.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    value: String,
    pub expires_at: SystemTime,
    /// The lifetime the endpoint granted.
    pub lifetime: Duration,
}

impl AccessToken {
    pub fn new(value: String, expires_at: SystemTime, lifetime: Duration) -> AccessToken {
        AccessToken { value, expires_at, lifetime }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn valid_at(&self, now: SystemTime) -> bool {
        now < self.expires_at
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AccessToken(<redacted>, expires in {:?})",
            self.expires_at.duration_since(SystemTime::now()).unwrap_or_default()
        )
    }
}

/// Reads the token endpoint's answer: the token and its lifetime, or what went wrong (the
/// endpoint's `error` / `error_description`, never a token).
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<(String, Duration), String> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let detail = match &answer {
            Some(Answer { error: Some(e), error_description, .. }) => match error_description {
                Some(d) => format!("{e}: {d}"),
                None => e.clone(),
            },
            _ => format!("{} bytes of non-OAuth body", body.len()),
        };
        return Err(format!("token endpoint answered {status} ({detail})"));
    }
    let answer = answer.ok_or_else(|| "token endpoint answered 200 with a body that is not JSON".to_string())?;
    let token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "token endpoint answered 200 without an access_token".to_string())?;
    let expires_in = match answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0)
    .ok_or_else(|| "token endpoint answered 200 without a positive expires_in".to_string())?;
    Ok((token, Duration::from_secs(expires_in)))
}

/// When to refresh a token of `lifetime` (counted from when it was asked for): with half its
/// life or five minutes left, whichever is sooner — an hour-long token is renewed after 55
/// minutes, a 20 s one after 10 s — and never sooner than a second.
pub fn refresh_after(lifetime: Duration) -> Duration {
    let margin = (lifetime / 2).min(Duration::from_secs(300));
    lifetime.saturating_sub(margin).max(Duration::from_secs(1))
}

/// Wait before the `failures`-th retry of a failing token endpoint: 1 s, 2 s, 4 s, ... 60 s.
pub fn retry_after(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// `http(s)://127.0.0.1...`, `[::1]` or `localhost`: a token endpoint on this machine.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What translation needs about one Vertex deployment's credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum VertexAuth {
    /// A usable key: the account's SDS secret, and its token when one is held.
    Account { secret_name: String, token: Option<AccessToken>, why_no_token: String },
    /// No usable key: why (the deployment takes no traffic).
    Unusable(String),
}

impl std::fmt::Debug for VertexAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VertexAuth::Account { secret_name, token, .. } => {
                write!(f, "Account({secret_name}, token: {})", if token.is_some() { "held" } else { "none" })
            }
            VertexAuth::Unusable(why) => write!(f, "Unusable({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 2048-bit test key (generated for these tests; it signs nothing real).
    const TEST_KEY: &str = include_str!("../../testdata/test-service-account-key.pem");

    fn key_json(extra: &str) -> String {
        format!(
            r#"{{"type": "service_account", "project_id": "p", "private_key_id": "kid1",
                "private_key": {}, "client_email": "gw@p.iam.gserviceaccount.com"{extra}}}"#,
            serde_json::to_string(TEST_KEY).expect("json")
        )
    }

    #[test]
    fn a_key_without_token_uri_uses_googles() {
        let sa = ServiceAccount::from_json(&key_json(""), "k").expect("parses");
        assert_eq!(sa.token_uri, DEFAULT_TOKEN_URI);
        let sa =
            ServiceAccount::from_json(&key_json(r#", "token_uri": "http://127.0.0.1:9/token""#), "k").expect("parses");
        assert_eq!(sa.token_uri, "http://127.0.0.1:9/token");
        assert!(!format!("{sa:?}").contains("PRIVATE"), "Debug never shows the key");
    }

    #[test]
    fn unusable_keys_say_what_is_wrong_without_the_secret() {
        let e = ServiceAccount::from_json(r#"{"type": "authorized_user", "refresh_token": "r"}"#, "k")
            .expect_err("refused");
        assert!(e.contains("authorized_user") && e.contains("service-account key"), "{e}");
        let e = ServiceAccount::from_json(r#"{"client_email": "a@b", "private_key": "-----BEGIN nonsense"}"#, "k")
            .expect_err("refused");
        assert!(e.contains("not an RSA private key") && !e.contains("nonsense"), "{e}");
        let e = ServiceAccount::from_json(r#"{"private_key": "x"}"#, "k").expect_err("refused");
        assert!(e.contains("client_email"), "{e}");
        let e = ServiceAccount::from_json("{not json", "k").expect_err("refused");
        assert!(e.contains("not a service-account key"), "{e}");
    }

    #[test]
    fn the_assertion_carries_googles_claims() {
        let sa = ServiceAccount::from_json(&key_json(r#", "token_uri": "http://t/token""#), "k").expect("parses");
        let jwt = sa.assertion(1_000_000).expect("signs");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        use base64::Engine as _;
        let decode = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("b64"))
                .expect("json")
        };
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "kid1");
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "gw@p.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "http://t/token");
        assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
        assert_eq!(claims["iat"], 1_000_000);
        assert_eq!(claims["exp"], 1_003_600);
    }

    #[test]
    fn token_answers_are_read_and_errors_never_carry_a_token() {
        let (t, life) =
            parse_token_response(200, br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#)
                .expect("ok");
        assert_eq!((t.as_str(), life), ("ya29.x", Duration::from_secs(3599)));
        let e = parse_token_response(400, br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#)
            .expect_err("refused");
        assert_eq!(e, "token endpoint answered 400 (invalid_grant: Invalid JWT Signature.)");
        let e = parse_token_response(200, br#"{"access_token":"ya29.secret"}"#).expect_err("no expiry");
        assert!(!e.contains("ya29"), "{e}");
        assert!(parse_token_response(503, b"<html>").expect_err("down").contains("503"));
    }

    #[test]
    fn refresh_comes_well_before_expiry_for_any_lifetime() {
        assert_eq!(refresh_after(Duration::from_secs(3600)), Duration::from_secs(3300));
        assert_eq!(refresh_after(Duration::from_secs(20)), Duration::from_secs(10));
        assert_eq!(refresh_after(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(retry_after(1), Duration::from_secs(1));
        assert_eq!(retry_after(3), Duration::from_secs(4));
        assert_eq!(retry_after(30), Duration::from_secs(60));
    }

    #[test]
    fn local_token_endpoints_are_recognised() {
        for url in
            ["http://127.0.0.1:9/token", "http://localhost/token", "https://[::1]:8443/t", "http://127.8.0.1/token"]
        {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [DEFAULT_TOKEN_URI, "https://127.0.0.1.example.com/token", "http://10.0.0.1/token"] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let t = AccessToken::new("ya29.very-secret".into(), SystemTime::now(), Duration::from_secs(1));
        assert!(!format!("{t:?}").contains("very-secret"));
        let a = VertexAuth::Account { secret_name: "s".into(), token: Some(t), why_no_token: String::new() };
        assert!(!format!("{a:?}").contains("very-secret"));
    }
}
