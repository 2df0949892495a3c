//! The live state of one mock server ([`MockState`]): its current mode, the counters and
//! recorded requests behind `GET /_mock/stats`, and the bearer tokens it accepts. Shared by
//! every connection; the server records into it, the control API reads and resets it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::auth::AuthInfo;
use super::config::MockConfig;
use super::fault_mode::{Fault, Mode};

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How many requests `recent` keeps.
const RECENT: usize = 64;

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    served_ok: u64,
    health_checks: u64,
    by_path: BTreeMap<String, u64>,
    by_op: BTreeMap<String, u64>,
    last_path: Option<String>,
    last_op: Option<String>,
    last_model: Option<String>,
    last_headers: BTreeMap<String, String>,
    last_body: Value,
    last_status: Option<u16>,
    last_auth: Value,
    auth_ok: u64,
    auth_failed: u64,
    recent: VecDeque<Value>,
}

/// A bearer token the Vertex mock accepts, until `expires` (Unix seconds) when set.
#[derive(Debug, Clone)]
pub struct Token {
    pub token: String,
    pub expires: Option<u64>,
}

/// Shared state of one mock server.
pub struct MockState {
    pub(super) cfg: MockConfig,
    mode: Mutex<Mode>,
    stats: Mutex<Stats>,
    /// Numbers the LLM requests (ids in answers and `recent`).
    pub(super) seq: AtomicU64,
    tokens: Mutex<Vec<Token>>,
}

impl MockState {
    pub fn new(cfg: MockConfig) -> Arc<MockState> {
        let tokens = cfg.bearer_tokens.iter().map(|t| Token { token: t.clone(), expires: None }).collect();
        Arc::new(MockState {
            mode: Mutex::new(Mode::default_for(&cfg)),
            cfg,
            stats: Mutex::new(Stats::default()),
            seq: AtomicU64::new(0),
            tokens: Mutex::new(tokens),
        })
    }

    /// Adds a bearer token (Vertex); `replace` forgets the others first.
    pub fn add_token(&self, token: Token, replace: bool) {
        let mut t = self.tokens.lock().unwrap();
        if replace {
            t.clear();
        }
        t.retain(|x| x.token != token.token);
        t.push(token);
    }

    /// The bearer tokens known (Vertex).
    pub fn tokens(&self) -> Vec<Token> {
        self.tokens.lock().unwrap().clone()
    }

    pub fn config(&self) -> &MockConfig {
        &self.cfg
    }

    /// The mode an arriving LLM request gets; consumes one unit of `count`.
    pub(super) fn take_mode(&self) -> Mode {
        let mut m = self.mode.lock().unwrap();
        let snapshot = m.clone();
        if let Some(n) = m.count {
            if n <= 1 {
                *m = Mode::default_for(&self.cfg);
            } else {
                m.count = Some(n - 1);
            }
        }
        snapshot
    }

    pub(super) fn peek_mode(&self) -> Mode {
        self.mode.lock().unwrap().clone()
    }

    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    pub fn reset(&self) {
        *self.stats.lock().unwrap() = Stats::default();
        self.set_mode(Mode::default_for(&self.cfg));
    }

    pub fn stats_json(&self) -> Value {
        let s = self.stats.lock().unwrap();
        json!({
            "region": self.cfg.region,
            "name": self.cfg.name,
            "provider": self.cfg.provider.as_str(),
            "expect_model": self.cfg.expect_model,
            "requests": s.requests,
            "served_ok": s.served_ok,
            "health_checks": s.health_checks,
            "by_path": s.by_path,
            "by_op": s.by_op,
            "last_path": s.last_path,
            "last_op": s.last_op,
            "last_model": s.last_model,
            "last_headers": s.last_headers,
            "last_body": s.last_body,
            "last_status": s.last_status,
            "last_auth": s.last_auth,
            "auth_ok": s.auth_ok,
            "auth_failed": s.auth_failed,
            "recent": s.recent,
            "mode": self.peek_mode().to_json(),
        })
    }

    /// Records the provider-level view of request `id` (operation, model, auth check).
    pub(super) fn record_call(
        &self,
        id: u64,
        path: &str,
        op: &str,
        model: Option<&str>,
        auth: &AuthInfo,
        fault: Fault,
    ) {
        let auth_json = auth.to_json();
        let mut s = self.stats.lock().unwrap();
        *s.by_op.entry(op.to_string()).or_insert(0) += 1;
        s.last_op = Some(op.to_string());
        s.last_model = model.map(str::to_string);
        if auth.verified {
            s.auth_ok += 1;
        } else {
            s.auth_failed += 1;
        }
        s.last_auth = auth_json;
        s.last_status = None;
        if s.recent.len() >= RECENT {
            s.recent.pop_front();
        }
        s.recent.push_back(json!({
            "id": id,
            "path": path,
            "op": op,
            "model": model,
            "auth": {"scheme": auth.scheme, "verified": auth.verified, "region": auth.region},
            "status": null,
            "fault": fault.as_str(),
            "at_ms": unix_millis(),
        }));
    }

    pub(super) fn record_status(&self, id: u64, status: u16) {
        let mut s = self.stats.lock().unwrap();
        s.last_status = Some(status);
        if let Some(e) = s.recent.iter_mut().rev().find(|e| e["id"] == id) {
            e["status"] = json!(status);
        }
    }

    pub(super) fn record_request(&self, path: &str, headers: &hyper::HeaderMap, body: &[u8]) {
        let mut h = BTreeMap::new();
        for (k, v) in headers {
            h.insert(k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
        let body = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut s = self.stats.lock().unwrap();
        s.requests += 1;
        *s.by_path.entry(path.to_string()).or_insert(0) += 1;
        s.last_path = Some(path.to_string());
        s.last_headers = h;
        s.last_body = body;
    }

    pub(super) fn record_ok(&self) {
        self.stats.lock().unwrap().served_ok += 1;
    }

    pub(super) fn record_health(&self) {
        self.stats.lock().unwrap().health_checks += 1;
    }
}
