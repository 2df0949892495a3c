//! Vertex AI access tokens from a service-account key.
//!
//! Google's front door wants `Authorization: Bearer ACCESS_TOKEN`, and access tokens expire
//! (an hour by default). Envoy cannot mint them (`gcp_authn` fetches identity tokens, the
//! credential injector's `oauth2` does only client-credentials), so the control plane does:
//! it signs a JWT with the service account's key (RS256), trades it at the key's `token_uri`
//! (the JWT-bearer grant, RFC 7523), and refreshes it well before it expires. `serve` hands
//! the token to Envoy as an SDS secret that a credential injector puts on each Vertex attempt;
//! `/config_dump` shows it redacted.
//!
//! The pure parts (key loading, the assertion, the token endpoint's answer, the refresh
//! schedule) are plain functions; [`TokenStore`] runs one refresher task per service account.
//! A token value is never logged, printed or put in an error (its `Debug` is redacted).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{Deployment, Provider, Secret};
use crate::telemetry::Metrics;

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
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Asks the account's token endpoint for a token.
pub async fn fetch_token(client: &reqwest::Client, sa: &ServiceAccount) -> Result<AccessToken, String> {
    let asked_at = SystemTime::now();
    let assertion = sa.assertion(unix_now())?;
    let response = client
        .post(&sa.token_uri)
        .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.as_str())])
        .send()
        .await
        .map_err(|e| format!("token endpoint {} unreachable: {}", sa.token_uri, without_url(&e)))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| format!("token endpoint {}: {}", sa.token_uri, without_url(&e)))?;
    let (value, lifetime) = parse_token_response(status, &body).map_err(|e| format!("{}: {e}", sa.token_uri))?;
    // Counted from before the request: the token is never thought fresher than it is.
    Ok(AccessToken::new(value, asked_at + lifetime, lifetime))
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(&format!(" ({url})"), "").replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s = format!("{s}: {inner}");
        source = inner.source();
    }
    s
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

#[derive(Default)]
struct AccountState {
    email: String,
    token: Option<AccessToken>,
    last_error: Option<String>,
    task: Option<tokio::task::AbortHandle>,
}

/// Access tokens of every service account the current config uses, each kept fresh by its
/// own task. A change (a new token, or one that expired) bumps [`TokenStore::changes`].
#[derive(Clone)]
pub struct TokenStore {
    accounts: Arc<Mutex<HashMap<String, AccountState>>>,
    changed: Arc<watch::Sender<u64>>,
    /// Honours HTTP(S)_PROXY / NO_PROXY, as Google's own libraries do.
    client: reqwest::Client,
    /// For token endpoints on this machine (a local emulator): never through a proxy.
    local_client: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl TokenStore {
    pub fn new(metrics: Arc<Metrics>) -> TokenStore {
        let builder =
            || reqwest::Client::builder().timeout(Duration::from_secs(10)).connect_timeout(Duration::from_secs(5));
        TokenStore {
            accounts: Arc::new(Mutex::new(HashMap::new())),
            changed: Arc::new(watch::channel(0).0),
            client: builder().build().unwrap_or_default(),
            local_client: builder().no_proxy().build().unwrap_or_default(),
            metrics,
        }
    }

    /// Notified whenever a token arrives or expires.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AccountState>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Vertex credentials of every Vertex deployment of `deployments`, starting refreshers
    /// for accounts not seen before and stopping those no longer used. Needs a tokio runtime.
    pub fn sync<'a>(&self, deployments: impl IntoIterator<Item = &'a Deployment>) -> HashMap<String, VertexAuth> {
        let keys: Vec<(String, Result<ServiceAccount, String>)> = deployments
            .into_iter()
            .filter(|d| d.provider == Provider::VertexAi)
            .map(|d| (d.id.clone(), service_account_for(d)))
            .collect();
        let wanted: HashMap<String, &ServiceAccount> =
            keys.iter().filter_map(|(_, sa)| sa.as_ref().ok()).map(|sa| (sa.key(), sa)).collect();
        let mut accounts = self.lock();
        accounts.retain(|key, state| {
            let keep = wanted.contains_key(key);
            if !keep {
                if let Some(task) = state.task.take() {
                    task.abort();
                }
                let _ = self.metrics.vertex_token_available.remove_label_values(&[&state.email]);
            }
            keep
        });
        for (key, sa) in &wanted {
            accounts.entry(key.clone()).or_insert_with(|| {
                let task = tokio::spawn(self.clone().refresh_forever(key.clone(), (*sa).clone()));
                AccountState { email: sa.client_email.clone(), task: Some(task.abort_handle()), ..Default::default() }
            });
        }
        let now = SystemTime::now();
        keys.into_iter()
            .map(|(id, sa)| {
                let auth = match sa {
                    Err(why) => VertexAuth::Unusable(why),
                    Ok(sa) => {
                        let state = accounts.get(&sa.key());
                        let token = state.and_then(|s| s.token.clone()).filter(|t| t.valid_at(now));
                        let why_no_token = match state.and_then(|s| s.last_error.clone()) {
                            Some(e) => format!("no Vertex access token: {e}"),
                            None => "no Vertex access token yet".to_string(),
                        };
                        VertexAuth::Account { secret_name: sa.secret_name(), token, why_no_token }
                    }
                };
                (id, auth)
            })
            .collect()
    }

    /// Whether the current config has any Vertex service account.
    pub fn has_accounts(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Waits until every account has a token or has failed once, at most `limit`.
    pub async fn first_round(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut rx = self.changes();
        loop {
            let pending = self.lock().values().any(|s| s.token.is_none() && s.last_error.is_none());
            if !pending || Instant::now() >= deadline {
                return;
            }
            let _ = tokio::time::timeout_at(deadline.into(), rx.changed()).await;
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    async fn refresh_forever(self, key: String, sa: ServiceAccount) {
        let account = sa.client_email.clone();
        let mut failures = 0u32;
        let client = if is_loopback_url(&sa.token_uri) { &self.local_client } else { &self.client };
        loop {
            let wait = match fetch_token(client, &sa).await {
                Ok(token) => {
                    failures = 0;
                    let wait = refresh_after(token.lifetime);
                    self.metrics.vertex_token_refreshes.with_label_values(&[&account, "success"]).inc();
                    self.metrics
                        .vertex_token_expiry
                        .with_label_values(&[&account])
                        .set(token.expires_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0));
                    self.metrics.vertex_token_available.with_label_values(&[&account]).set(1);
                    info!(
                        account,
                        lifetime_s = token.lifetime.as_secs(),
                        refresh_in_s = wait.as_secs(),
                        "Vertex access token obtained"
                    );
                    if let Some(state) = self.lock().get_mut(&key) {
                        state.token = Some(token);
                        state.last_error = None;
                    }
                    self.bump();
                    wait
                }
                Err(e) => {
                    failures += 1;
                    self.metrics.vertex_token_refreshes.with_label_values(&[&account, "failure"]).inc();
                    let now = SystemTime::now();
                    let mut retry = retry_after(failures);
                    let held = {
                        let mut accounts = self.lock();
                        let Some(state) = accounts.get_mut(&key) else { return };
                        state.last_error = Some(e.clone());
                        state.token.as_ref().filter(|t| t.valid_at(now)).map(|t| t.expires_at)
                    };
                    match held.and_then(|at| at.duration_since(now).ok()) {
                        Some(left) => {
                            warn!(account, error = %e, keeps_token_for_s = left.as_secs(), retry_in_s = retry.as_secs(), "Vertex token refresh failed; the current token stays in use until it expires");
                            // Wake at expiry at the latest, to stop using the token then.
                            retry = retry.min(left + Duration::from_millis(10));
                        }
                        None => {
                            error!(account, error = %e, retry_in_s = retry.as_secs(), "Vertex token refresh failed and no valid token is held: the account's Vertex deployments take no traffic");
                        }
                    }
                    self.bump(); // the reason shown for a deployment without a token changed
                    retry
                }
            };
            tokio::time::sleep(wait).await;
            self.drop_expired(&key, &account);
        }
    }

    fn drop_expired(&self, key: &str, account: &str) {
        let now = SystemTime::now();
        let expired = {
            let mut accounts = self.lock();
            match accounts.get_mut(key) {
                Some(state) if state.token.as_ref().is_some_and(|t| !t.valid_at(now)) => {
                    state.token = None;
                    true
                }
                _ => false,
            }
        };
        if expired {
            self.metrics.vertex_token_available.with_label_values(&[account]).set(0);
            error!(account, "Vertex access token expired without a replacement: the account's Vertex deployments take no traffic until the token endpoint answers");
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A 2048-bit test key (generated for these tests; it signs nothing real).
    const TEST_KEY: &str = include_str!("../testdata/test-service-account-key.pem");

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
