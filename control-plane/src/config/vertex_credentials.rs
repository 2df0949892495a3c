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
                // Google's own credential types are named; anything else is not echoed.
                let what = match other {
                    "authorized_user"
                    | "external_account"
                    | "external_account_authorized_user"
                    | "impersonated_service_account"
                    | "gdch_service_account" => format!("'{other}' credentials"),
                    _ => "credentials of an unknown 'type'".to_string(),
                };
                return Err(format!(
                    "{source} holds {what}; Vertex deployments need a service-account key \
                     (type 'service_account', from `gcloud iam service-accounts keys create`)"
                ));
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

/// The service account a Vertex deployment authenticates with: `vertex_credentials` (the key's
/// JSON, its base64 encoding, a path to a file holding either, or `os.environ/VAR` holding any of
/// them), else `GOOGLE_APPLICATION_CREDENTIALS`. The error names where the key came from and
/// what is wrong with it, never any part of it.
pub fn service_account_for(d: &Deployment) -> Result<ServiceAccount, String> {
    let (value, source) = match &d.credentials.vertex_credentials {
        Some(secret @ Secret::Env(var)) => match secret.resolve() {
            Some(v) => (v, format!("vertex_credentials (os.environ/{var})")),
            None => return Err(format!("vertex_credentials refers to environment variable {var}, which is not set")),
        },
        Some(Secret::Literal(v)) => (v.clone(), "vertex_credentials (the value written in the YAML)".to_string()),
        None => match std::env::var(GOOGLE_APPLICATION_CREDENTIALS).ok().filter(|v| !v.is_empty()) {
            Some(path) => (path, GOOGLE_APPLICATION_CREDENTIALS.to_string()),
            None => {
                return Err(format!(
                    "no vertex_credentials and {GOOGLE_APPLICATION_CREDENTIALS} is not set; give \
                     litellm_params.vertex_credentials (a path to a service-account key file, the key's JSON, \
                     or its base64 encoding)"
                ))
            }
        },
    };
    read_key(&value, &source)
}

/// A service-account key from `value`, which `source` names in messages: the key's JSON, its
/// base64 encoding (standard or URL-safe, padded or not, line breaks allowed), or the path of a
/// file holding either. A UTF-8 byte-order mark is ignored. Messages never quote the value.
pub fn read_key(value: &str, source: &str) -> Result<ServiceAccount, String> {
    match key_text(value.as_bytes()) {
        KeyText::Json(json) => ServiceAccount::from_json(&json, &format!("{source} (JSON)")),
        KeyText::Base64Json(json) => ServiceAccount::from_json(&json, &format!("{source} (base64-encoded JSON)")),
        KeyText::Other => {
            let path = value.trim();
            let shown = looks_like_path(path).then_some(path);
            let bytes = std::fs::read(path).map_err(|e| match shown {
                Some(path) => format!("{source}: cannot read the key file {path}: {}", io_reason(&e)),
                None => not_a_key(source, value),
            })?;
            let file = match shown {
                Some(path) => format!("{source} file {path}"),
                None => format!("{source} (a file path)"),
            };
            match key_text(&bytes) {
                KeyText::Json(json) => ServiceAccount::from_json(&json, &file),
                KeyText::Base64Json(json) => ServiceAccount::from_json(&json, &format!("{file} (base64-encoded JSON)")),
                KeyText::Other => Err(format!(
                    "{file} holds neither a service-account key's JSON nor its base64 encoding; write the key \
                     from `gcloud iam service-accounts keys create` there"
                )),
            }
        }
    }
}

/// What a key value (or a key file's content) is.
#[derive(Debug, PartialEq, Eq)]
enum KeyText {
    /// JSON (it starts with `{`), without a byte-order mark.
    Json(String),
    /// Base64 whose decoding is JSON: the decoded text.
    Base64Json(String),
    /// Neither: a path, or something unusable.
    Other,
}

fn key_text(bytes: &[u8]) -> KeyText {
    let Ok(text) = std::str::from_utf8(bytes) else { return KeyText::Other };
    if let Some(json) = as_json(text) {
        return KeyText::Json(json.to_string());
    }
    match decode_base64(text).and_then(|decoded| String::from_utf8(decoded).ok()) {
        Some(decoded) => match as_json(&decoded) {
            Some(json) => KeyText::Base64Json(json.to_string()),
            None => KeyText::Other,
        },
        None => KeyText::Other,
    }
}

/// The text without a byte-order mark and surrounding space, when it is a JSON object.
fn as_json(text: &str) -> Option<&str> {
    let t = text.trim().trim_start_matches('\u{feff}').trim();
    t.starts_with('{').then_some(t)
}

/// Base64 as operators store keys: standard or URL-safe alphabet, with or without padding,
/// wrapped over lines or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::alphabet;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    use base64::Engine as _;
    const ANY_PADDING: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, ANY_PADDING);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, ANY_PADDING);
    let compact: String = text.trim_start_matches('\u{feff}').chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD.decode(&compact).or_else(|_| URL_SAFE.decode(&compact)).ok()
}

/// Whether a value that is not a key can be shown as the path it was meant to be: one short
/// line without quotes or braces, shaped like a path. Anything else may be a mangled key, and is
/// described, never shown.
fn looks_like_path(value: &str) -> bool {
    let plain =
        value.len() <= 1024 && !value.chars().any(|c| c.is_whitespace() || c.is_control() || "{}'\"`$".contains(c));
    let shaped = value.starts_with('/')
        || value.starts_with("./")
        || value.starts_with("../")
        || value.starts_with('~')
        || value.ends_with(".json");
    plain && shaped
}

/// Why a file could not be read, without the path (the caller shows it when it may).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// A value that is no key and no readable path, described by its shape only.
fn not_a_key(source: &str, value: &str) -> String {
    let v = value.trim();
    let quoted =
        v.len() >= 2 && ((v.starts_with('\'') && v.ends_with('\'')) || (v.starts_with('"') && v.ends_with('"')));
    let hint = if quoted {
        " (it is wrapped in quotes: remove the shell quoting)"
    } else if v.contains('{') {
        " (it contains JSON but does not start with '{')"
    } else if v.len() >= 64 && decode_base64(v).is_some() {
        " (it is base64, but does not decode to a JSON key)"
    } else {
        ""
    };
    format!(
        "{source} is not a service-account key: not JSON, not base64-encoded JSON and not the path of a readable \
         file{hint}; give the key's JSON, its base64 encoding, or the key file's path"
    )
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
    /// A usable key: the account's SDS secret, and its token when one is held; without one,
    /// the last refresh's error (None: the first token is still being asked for). The error is
    /// for the control plane's log; the gateway sees only a code.
    Account { secret_name: String, token: Option<AccessToken>, refresh_error: Option<String> },
    /// No usable key: why (for messages; the deployment takes no traffic).
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

    fn b64(engine: &impl base64::Engine, text: &str) -> String {
        engine.encode(text.as_bytes())
    }

    #[test]
    fn a_key_is_read_as_json_as_base64_or_from_a_file_with_or_without_a_bom() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let json = key_json("");
        let wrapped: String =
            b64(&STANDARD, &json).as_bytes().chunks(76).map(|l| format!("{}\n", String::from_utf8_lossy(l))).collect();
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("sa.b64");
        std::fs::write(&file, format!("\u{feff}{wrapped}")).expect("write");
        for (value, source) in [
            (json.clone(), "(JSON)"),
            (format!("\u{feff}{json}"), "(JSON)"),
            (b64(&STANDARD, &json), "(base64-encoded JSON)"),
            (b64(&URL_SAFE_NO_PAD, &format!("\u{feff}{json}")), "(base64-encoded JSON)"),
            (wrapped.clone(), "(base64-encoded JSON)"),
            (file.display().to_string(), "(base64-encoded JSON)"),
        ] {
            let sa = read_key(&value, "k").unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(sa.client_email, "gw@p.iam.gserviceaccount.com");
            assert!(sa.source.ends_with(source), "{}", sa.source);
        }
    }

    #[test]
    fn messages_about_a_key_name_its_source_and_never_its_value() {
        use base64::engine::general_purpose::STANDARD;
        const MARKER: &str = "PRIVATE-KEY-MARKER-7f3a9";
        let no_email = format!(r#"{{"type": "service_account", "private_key": "{MARKER}"}}"#);
        let cases = [
            // Shell-quoted JSON (as copied from a `export VAR='...'` line).
            (format!("'{no_email}'"), "wrapped in quotes"),
            // Base64 of a JSON key without client_email.
            (b64(&STANDARD, &no_email), "'client_email' is missing"),
            // Base64 of something that is no JSON at all.
            (b64(&STANDARD, &format!("{MARKER} {MARKER} {MARKER} {MARKER}")), "base64, but does not decode"),
            // JSON after a prefix.
            (format!("key={no_email}"), "does not start with"),
            // A secret-looking word.
            (format!("{MARKER}-sk"), "not the path of a readable file"),
        ];
        for (value, says) in cases {
            let e = read_key(&value, "vertex_credentials (os.environ/VERTEX_SA)").expect_err("refused");
            assert!(e.starts_with("vertex_credentials (os.environ/VERTEX_SA)"), "{e}");
            assert!(e.contains(says), "{says}: {e}");
            assert!(!e.contains(MARKER) && !e.contains(&value) && !e.contains(&value[..8]), "{e}");
        }
        let e = ServiceAccount::from_json(r#"{"type": "PRIVATE-KEY-MARKER-7f3a9"}"#, "k").expect_err("refused");
        assert!(e.contains("unknown 'type'") && !e.contains(MARKER), "{e}");
    }

    #[test]
    fn an_unreadable_path_is_named_with_why() {
        let e = read_key("/nonexistent/llm-router/sa.json", "GOOGLE_APPLICATION_CREDENTIALS").expect_err("refused");
        assert_eq!(
            e,
            "GOOGLE_APPLICATION_CREDENTIALS: cannot read the key file /nonexistent/llm-router/sa.json: no such file"
        );
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("sa.json");
        std::fs::write(&file, "PRIVATE-KEY-MARKER not a key").expect("write");
        let e = read_key(&file.display().to_string(), "vertex_credentials").expect_err("refused");
        assert!(e.contains(&file.display().to_string()) && e.contains("holds neither"), "{e}");
        assert!(!e.contains("MARKER"), "{e}");
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
        let a = VertexAuth::Account { secret_name: "s".into(), token: Some(t), refresh_error: None };
        assert!(!format!("{a:?}").contains("very-secret"));
    }
}
