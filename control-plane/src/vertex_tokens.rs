//! Vertex AI access tokens, kept fresh: the runtime half of Vertex credentials.
//!
//! [`TokenStore`] runs one refresher task per service account the config uses: it asks the
//! key's token endpoint for a token ([`fetch_token`]), renews it well before it expires, and
//! bumps [`TokenStore::changes`] whenever a token arrives or expires, so that `serve` rebuilds
//! and hands the token to Envoy as an SDS secret that a credential injector puts on each Vertex
//! attempt (`/config_dump` shows it redacted). The plain parts (keys, the assertion, the
//! endpoint's answer, the schedule, [`VertexAuth`]) are in [`crate::config::vertex_credentials`],
//! so that config and translation never depend on this runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::vertex_credentials::{
    is_loopback_url, parse_token_response, refresh_after, retry_after, service_account_for, AccessToken,
    ServiceAccount, VertexAuth, JWT_BEARER_GRANT,
};
use crate::config::{Deployment, Provider};
use crate::telemetry::Metrics;

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
        self.stop_unwanted(&mut accounts, &wanted);
        self.start_new(&mut accounts, &wanted);
        let now = SystemTime::now();
        keys.into_iter().map(|(id, sa)| (id, auth_of(&accounts, sa, now))).collect()
    }

    /// Stops the refreshers of accounts `wanted` no longer has, and forgets their metrics.
    fn stop_unwanted(&self, accounts: &mut HashMap<String, AccountState>, wanted: &HashMap<String, &ServiceAccount>) {
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
    }

    /// Starts a refresher for each account of `wanted` not seen before.
    fn start_new(&self, accounts: &mut HashMap<String, AccountState>, wanted: &HashMap<String, &ServiceAccount>) {
        for (key, sa) in wanted {
            accounts.entry(key.clone()).or_insert_with(|| {
                let task = tokio::spawn(self.clone().refresh_forever(key.clone(), (*sa).clone()));
                AccountState { email: sa.client_email.clone(), task: Some(task.abort_handle()), ..Default::default() }
            });
        }
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
                    self.took_token(&key, &account, token)
                }
                Err(e) => {
                    failures += 1;
                    // None: the account is no longer used, and this task ends.
                    let Some(retry) = self.refresh_failed(&key, &account, e, failures) else { return };
                    retry
                }
            };
            tokio::time::sleep(wait).await;
            self.drop_expired(&key, &account);
        }
    }

    /// Records a new token of `account`; returns when to refresh it.
    fn took_token(&self, key: &str, account: &str, token: AccessToken) -> Duration {
        let wait = refresh_after(token.lifetime);
        self.metrics.vertex_token_refreshes.with_label_values(&[account, "success"]).inc();
        self.metrics
            .vertex_token_expiry
            .with_label_values(&[account])
            .set(token.expires_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0));
        self.metrics.vertex_token_available.with_label_values(&[account]).set(1);
        info!(
            account,
            lifetime_s = token.lifetime.as_secs(),
            refresh_in_s = wait.as_secs(),
            "Vertex access token obtained"
        );
        if let Some(state) = self.lock().get_mut(key) {
            state.token = Some(token);
            state.last_error = None;
        }
        self.bump();
        wait
    }

    /// Records the `failures`-th failed refresh in a row; returns when to try again (None when
    /// the account is no longer used).
    fn refresh_failed(&self, key: &str, account: &str, e: String, failures: u32) -> Option<Duration> {
        self.metrics.vertex_token_refreshes.with_label_values(&[account, "failure"]).inc();
        let now = SystemTime::now();
        let mut retry = retry_after(failures);
        let held = {
            let mut accounts = self.lock();
            let state = accounts.get_mut(key)?;
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
        Some(retry)
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

/// What translation needs about one deployment: its key's account, and that account's token
/// when one is held (else the last refresh's error, which the refresher has logged).
fn auth_of(
    accounts: &HashMap<String, AccountState>,
    sa: Result<ServiceAccount, String>,
    now: SystemTime,
) -> VertexAuth {
    match sa {
        Err(why) => VertexAuth::Unusable(why),
        Ok(sa) => {
            let state = accounts.get(&sa.key());
            let token = state.and_then(|s| s.token.clone()).filter(|t| t.valid_at(now));
            let refresh_error = state.and_then(|s| s.last_error.clone());
            VertexAuth::Account { secret_name: sa.secret_name(), token, refresh_error }
        }
    }
}
