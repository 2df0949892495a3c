//! The mock regional LLM deployment (`mock-region`), usable in-process too.
//!
//! One server speaks one provider's API ([`MockConfig::provider`], `--provider`), checking
//! requests as that service does (auth, paths, bodies) and answering in its shapes:
//!
//! * `openai` (default): `/v1/chat/completions`, `/chat/completions`, `/v1/completions`,
//!   `/completions`, `/v1/embeddings`, `/embeddings`, `GET /v1/models`; with an API key
//!   configured, `Authorization: Bearer KEY` (401 `invalid_api_key` otherwise).
//! * `azure`: [`azure`] — `/openai/deployments/{d}/chat/completions?api-version=`, `api-key`.
//! * `bedrock`: [`bedrock`] — Converse / ConverseStream with SigV4 verified by [`sigv4`].
//! * `anthropic`: [`anthropic`] — `/v1/messages`, `x-api-key`, `anthropic-version`.
//! * `vertex`: [`vertex`] — Claude `:rawPredict`/`:streamRawPredict` and Gemini
//!   `:generateContent`/`:streamGenerateContent`, OAuth2 bearer tokens.
//!
//! Every provider answers health (`GET /`, `GET /health`, never authenticated) and a JSON
//! control API under `/_mock/`:
//!
//! * `POST /_mock/mode` — body `{"mode": "ok"|"error"|"rate_limit"|"hang"|"reset",
//!   "status": 503, "latency_ms": 0, "chunk_delay_ms": 0, "chunks": 5, "count": null}`.
//!   The body **replaces** the whole mode: omitted fields take their defaults
//!   (`chunks`/`chunk_delay_ms` default to the server's CLI values). `count: N` applies
//!   the mode to the next N LLM requests only, after which the server is back to `ok`
//!   with default settings. Answers the new mode. `GET /_mock/mode` answers the current one.
//! * `GET /_mock/stats` — `{"region","name","provider","requests","served_ok","health_checks",
//!   "by_path","by_op","last_path","last_op","last_model","last_headers","last_body",
//!   "last_status","last_auth","auth_ok","auth_failed","recent","mode"}`. `last_op` is the
//!   provider operation (`bedrock.converse-stream`, `azure.chat.completions`,
//!   `vertex.streamRawPredict`, ...), `last_model` the model the request named (URL or body),
//!   `last_auth` `{scheme, verified, against_secret, region, error, ...}` (SigV4 adds
//!   `service, access_key_id, signed_headers, date, session_token, payload_hash_header`),
//!   `recent` the last 64 requests `{id, path, op, model, auth, status}` (oldest first).
//! * `POST /_mock/reset` — counters to 0, mode to `ok` (tokens added at run time stay).
//! * `POST /_mock/tokens` — `{"token": "...", "expires_in_s": 60}` (or `"expires_at"`, Unix
//!   seconds; neither = never expires; `"replace": true` forgets the others): a bearer token
//!   the Vertex mock accepts until it expires. `GET /_mock/tokens` lists them (values shown:
//!   it is a test tool).
//!
//! Fault modes: `error` answers `status` with the provider's error body (OpenAI's;
//! Bedrock's `ThrottlingException` 429 / `ServiceUnavailableException` 503 / ...; Anthropic's
//! `overloaded_error` 529 / `api_error`; Google's `UNAVAILABLE` / `RESOURCE_EXHAUSTED`);
//! `rate_limit` answers 429 (with `retry-after: 1` for OpenAI, Azure and Anthropic, as they
//! do; Bedrock `ThrottlingException`, Vertex `RESOURCE_EXHAUSTED`); credentials are checked
//! before `error`/`rate_limit` apply, as the real front doors do; `hang` reads the request and never answers;
//! `reset` closes the TCP connection with an RST and no response. `latency_ms`
//! delays the response headers of every LLM request (any mode, also before
//! `hang`/`reset`). Health follows the mode: `error` → `status` if ≥ 500 else 503,
//! `hang` hangs, `reset` resets, `rate_limit` and `ok` → 200 (a throttled deployment
//! is up); `latency_ms` does not apply to health.
//!
//! A mode is snapshotted when a request's headers arrive: changes apply to
//! requests that arrive after the change. Every LLM request (everything that is
//! neither `/_mock/*` nor health) is counted in `requests` before fault handling;
//! `served_ok` counts LLM responses with status 200. Every response (LLM or
//! health) carries `x-mock-region` and `x-mock-name`.

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod eventstream;
pub mod google_oauth;
pub mod openai;
pub mod provider;
mod providers;
pub mod sigv4;
pub mod vertex;

pub use provider::{AuthInfo, AwsCredentials, Provider};

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use openai::ApiError;

/// Largest request body the mock reads (bytes); larger bodies get 413.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Static configuration of one mock deployment (the CLI flags).
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Region reported in responses, `x-mock-region` and stats.
    pub region: String,
    /// Deployment name (`x-mock-name`); defaults to the region.
    pub name: String,
    /// When set, chat/completion/embedding requests for any other model get 400 `model_not_found`.
    pub expect_model: Option<String>,
    /// Default number of streamed content chunks.
    pub chunks: u32,
    /// Default delay between streamed chunks.
    pub chunk_delay_ms: u64,
    /// The provider API this deployment speaks.
    pub provider: Provider,
    /// OpenAI (`Authorization: Bearer`), Azure (`api-key`), Anthropic (`x-api-key`): the key
    /// required. `None`: OpenAI requires none; Azure and Anthropic require the header with
    /// any value.
    pub api_key: Option<String>,
    /// Bedrock: the one identity whose signatures verify (`None`: every request is refused
    /// as an unknown client).
    pub aws: Option<AwsCredentials>,
    /// Azure: the one deployment that exists (`None`: any name).
    pub azure_deployment: Option<String>,
    /// Vertex: bearer tokens accepted forever (more, with expiries, via `POST /_mock/tokens`).
    /// None at all: any bearer token is accepted (presence only).
    pub bearer_tokens: Vec<String>,
    /// Vertex: the one project that exists (`None`: any).
    pub vertex_project: Option<String>,
    /// Benchmarks only: Bedrock signatures are not recomputed, so a benchmark measures the
    /// gateway rather than the mock's own SigV4 verification. Tests never set it.
    pub skip_signature_check: bool,
}

impl MockConfig {
    pub fn new(region: &str) -> Self {
        MockConfig {
            region: region.to_string(),
            name: region.to_string(),
            expect_model: None,
            chunks: 5,
            chunk_delay_ms: 0,
            provider: Provider::OpenAi,
            api_key: None,
            aws: None,
            azure_deployment: None,
            bearer_tokens: Vec::new(),
            vertex_project: None,
            skip_signature_check: false,
        }
    }

    /// Same, speaking `provider`.
    pub fn with_provider(region: &str, provider: Provider) -> Self {
        MockConfig { provider, ..MockConfig::new(region) }
    }
}

/// The behaviour selected by `POST /_mock/mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Ok,
    Error,
    RateLimit,
    Hang,
    Reset,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Error => "error",
            Fault::RateLimit => "rate_limit",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "ok" => Fault::Ok,
            "error" => Fault::Error,
            "rate_limit" => Fault::RateLimit,
            "hang" => Fault::Hang,
            "reset" => Fault::Reset,
            _ => return None,
        })
    }
}

/// A complete mode (what `POST /_mock/mode` sets).
#[derive(Debug, Clone)]
pub struct Mode {
    pub fault: Fault,
    pub status: u16,
    pub latency_ms: u64,
    pub chunk_delay_ms: u64,
    pub chunks: u32,
    /// Remaining LLM requests this mode applies to (`None` = until changed).
    pub count: Option<u64>,
}

impl Mode {
    pub fn default_for(cfg: &MockConfig) -> Mode {
        Mode {
            fault: Fault::Ok,
            status: 503,
            latency_ms: 0,
            chunk_delay_ms: cfg.chunk_delay_ms,
            chunks: cfg.chunks,
            count: None,
        }
    }

    /// Parses a `/_mock/mode` body; omitted fields take the defaults.
    pub fn from_json(v: &Value, cfg: &MockConfig) -> Result<Mode, String> {
        let obj = v.as_object().ok_or("mode body must be a JSON object")?;
        let mut m = Mode::default_for(cfg);
        for (k, val) in obj {
            let num = || val.as_u64().ok_or_else(|| format!("'{k}' must be a non-negative integer"));
            match k.as_str() {
                "mode" => {
                    let s = val.as_str().ok_or("'mode' must be a string")?;
                    m.fault = Fault::parse(s)
                        .ok_or_else(|| format!("unknown mode '{s}' (ok, error, rate_limit, hang, reset)"))?;
                }
                "status" => {
                    let s = num()?;
                    if !(100..=599).contains(&s) {
                        return Err(format!("status {s} out of range"));
                    }
                    m.status = s as u16;
                }
                "latency_ms" => m.latency_ms = num()?,
                "chunk_delay_ms" => m.chunk_delay_ms = num()?,
                "chunks" => m.chunks = num()?.min(100_000) as u32,
                "count" => m.count = if val.is_null() { None } else { Some(num()?) },
                other => return Err(format!("unknown mode field '{other}'")),
            }
        }
        Ok(m)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "mode": self.fault.as_str(),
            "status": self.status,
            "latency_ms": self.latency_ms,
            "chunk_delay_ms": self.chunk_delay_ms,
            "chunks": self.chunks,
            "count": self.count,
        })
    }
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
    cfg: MockConfig,
    mode: Mutex<Mode>,
    stats: Mutex<Stats>,
    seq: AtomicU64,
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
    fn take_mode(&self) -> Mode {
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

    fn peek_mode(&self) -> Mode {
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
    fn record_call(&self, id: u64, path: &str, op: &str, model: Option<&str>, auth: &AuthInfo) {
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
        }));
    }

    fn record_status(&self, id: u64, status: u16) {
        let mut s = self.stats.lock().unwrap();
        s.last_status = Some(status);
        if let Some(e) = s.recent.iter_mut().rev().find(|e| e["id"] == id) {
            e["status"] = json!(status);
        }
    }

    fn record_request(&self, path: &str, headers: &hyper::HeaderMap, body: &[u8]) {
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

    fn record_ok(&self) {
        self.stats.lock().unwrap().served_ok += 1;
    }

    fn record_health(&self) {
        self.stats.lock().unwrap().health_checks += 1;
    }
}

pub(crate) type Body = BoxBody<Bytes, Infallible>;

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

fn with_region(state: &MockState, mut resp: Response<Body>) -> Response<Body> {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&state.cfg.region) {
        h.insert("x-mock-region", v);
    }
    if let Ok(v) = HeaderValue::from_str(&state.cfg.name) {
        h.insert("x-mock-name", v);
    }
    resp
}

pub(crate) fn json_resp(status: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn api_error(e: &ApiError) -> Response<Body> {
    json_resp(e.status, &e.body())
}

/// Serves connections from `listener` forever (each on its own task).
pub async fn serve(listener: TcpListener, state: Arc<MockState>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_conn(stream, state.clone()));
            }
            Err(e) => {
                eprintln!("mock-region[{}]: accept failed: {e}", state.cfg.region);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn serve_conn(stream: TcpStream, state: Arc<MockState>) {
    let fd = stream.as_raw_fd();
    let kill = Arc::new(Notify::new());
    let kill_for_svc = kill.clone();
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        let kill = kill_for_svc.clone();
        async move { Ok::<_, Infallible>(handle(state, kill, req).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = kill.notified() => {
            // SO_LINGER=0: the close below sends an RST instead of a FIN.
            // SAFETY: `conn` still owns the stream, so `fd` is open here.
            let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
            let _ = socket2::SockRef::from(&bfd).set_linger(Some(Duration::ZERO));
        }
    }
    // Dropping `conn` closes the socket and drops any in-flight handler.
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(_) => Err(()),
    }
}

async fn handle(state: Arc<MockState>, kill: Arc<Notify>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if let Some(ctl) = path.strip_prefix("/_mock/") {
        return control(&state, ctl, req).await;
    }
    if req.method() == Method::GET && (path == "/" || path == "/health") {
        return with_region(&state, health(&state, &kill).await);
    }
    let mode = state.take_mode();
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(()) => {
            state.record_request(&path, &parts.headers, b"");
            return with_region(
                &state,
                json_resp(413, &openai::error_body("Request body too large.", "invalid_request_error", None, None)),
            );
        }
    };
    state.record_request(&path, &parts.headers, &body);
    let id = state.seq.fetch_add(1, Ordering::Relaxed) + 1;
    let call = providers::Call {
        method: &parts.method,
        path: &path,
        query: parts.uri.query().unwrap_or(""),
        path_and_query: parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(&path),
        authority: parts.uri.authority().map(|a| a.as_str()),
        headers: &parts.headers,
        body: &body,
        seq: id,
    };
    let (op, model) = providers::classify(&state, &call);
    let (auth, auth_err) = providers::authenticate(&state, &call, SystemTime::now());
    state.record_call(id, &path, &op, model.as_deref(), &auth);
    if mode.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(mode.latency_ms)).await;
    }
    let resp = match (mode.fault, auth_err) {
        (Fault::Hang, _) => futures_util::future::pending().await,
        (Fault::Reset, _) => {
            kill.notify_one();
            futures_util::future::pending().await
        }
        (_, Some(err)) => err,
        (Fault::Ok, None) => providers::answer(&state, &mode, &call),
        (f, None) if state.cfg.provider != Provider::OpenAi => {
            providers::fault_response(&state, f == Fault::RateLimit, mode.status, &call)
        }
        (Fault::Error, None) => json_resp(
            mode.status,
            &openai::error_body(
                &format!("mock-region {}: injected error {}", state.cfg.region, mode.status),
                if mode.status >= 500 { "server_error" } else { "invalid_request_error" },
                None,
                None,
            ),
        ),
        (_, None) => {
            let mut r = json_resp(
                429,
                &openai::error_body(
                    &format!("mock-region {}: rate limit reached, retry after 1s", state.cfg.region),
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
    };
    state.record_status(id, resp.status().as_u16());
    if resp.status() == StatusCode::OK {
        state.record_ok();
    }
    with_region(&state, resp)
}

async fn health(state: &MockState, kill: &Notify) -> Response<Body> {
    state.record_health();
    let mode = state.peek_mode();
    match mode.fault {
        Fault::Ok | Fault::RateLimit => {
            json_resp(200, &json!({"status": "ok", "region": state.cfg.region, "name": state.cfg.name}))
        }
        Fault::Error => {
            let status = if mode.status >= 500 { mode.status } else { 503 };
            json_resp(status, &json!({"status": "error", "region": state.cfg.region, "name": state.cfg.name}))
        }
        Fault::Hang => futures_util::future::pending().await,
        Fault::Reset => {
            kill.notify_one();
            futures_util::future::pending().await
        }
    }
}

/// The OpenAI-compatible API (request `seq`).
fn llm(state: &MockState, mode: &Mode, method: &Method, path: &str, body: &[u8], seq: u64) -> Response<Body> {
    let route = path.strip_prefix("/v1").unwrap_or(path);
    let expect = state.cfg.expect_model.as_deref();
    let created = now_secs();
    let content = format!("hello from {}", state.cfg.region);
    let result = match (method, route) {
        (&Method::POST, "/chat/completions") => {
            openai::parse_object(body).and_then(|obj| openai::validate_chat(&obj, expect)).map(|req| {
                let id = format!("chatcmpl-mock-{}-{seq}", state.cfg.region);
                if req.stream {
                    sse_response(&id, created, &req, &content, mode)
                } else {
                    json_resp(200, &openai::chat_completion(&id, created, &req, &content, mode.chunks as u64))
                }
            })
        }
        (&Method::POST, "/completions") => {
            openai::parse_object(body).and_then(|obj| openai::validate_completion(&obj, expect)).map(|model| {
                let id = format!("cmpl-mock-{}-{seq}", state.cfg.region);
                json_resp(200, &openai::text_completion(&id, created, &model, &content, mode.chunks as u64))
            })
        }
        (&Method::POST, "/embeddings") => openai::parse_object(body)
            .and_then(|obj| openai::validate_embeddings(&obj, expect))
            .map(|(model, n)| json_resp(200, &openai::embeddings(&model, n))),
        (&Method::GET, "/models") => {
            let id = state.cfg.expect_model.clone().unwrap_or_else(|| "mock-model".into());
            Ok(json_resp(
                200,
                &json!({"object": "list", "data": [{"id": id, "object": "model", "created": 0, "owned_by": "mock"}]}),
            ))
        }
        _ => Err(ApiError {
            status: 404,
            message: format!("Invalid URL ({method} {path})"),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }),
    };
    let mut resp = result.unwrap_or_else(|e| api_error(&e));
    if let Ok(v) = HeaderValue::from_str(&format!("req_mock_{seq}")) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn sse_response(id: &str, created: u64, req: &openai::ChatRequest, content: &str, mode: &Mode) -> Response<Body> {
    sse_response_with(id, created, req, content, mode, None)
}

/// OpenAI's SSE stream, optionally preceded by one extra chunk (Azure's prompt filter results).
fn sse_response_with(
    id: &str,
    created: u64,
    req: &openai::ChatRequest,
    content: &str,
    mode: &Mode,
    first: Option<Value>,
) -> Response<Body> {
    let pieces = openai::split_text(content, mode.chunks as usize);
    let mut events: Vec<Bytes> = first
        .iter()
        .chain(openai::chat_chunks(id, created, req, &pieces).iter())
        .map(|c| Bytes::from(format!("data: {c}\n\n")))
        .collect();
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    stream_resp(events, Duration::from_millis(mode.chunk_delay_ms), "text/event-stream; charset=utf-8")
}

/// Benchmarks only (`--bench-record-stream-times`): streamed responses are written one whole
/// event per write, and the wall-clock time each write is handed to the connection is kept
/// for the last stream (`GET /_mock/stream_times`), so a client on the same machine can
/// measure what each chunk spends in the gateway.
pub static RECORD_STREAM_TIMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static LAST_STREAM_TIMES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// A streamed 200 response: `pieces` written one by one, `delay` between them (not before
/// the first), with `content-type` and `cache-control: no-cache`.
pub(crate) fn stream_resp(pieces: Vec<Bytes>, delay: Duration, content_type: &'static str) -> Response<Body> {
    let record = RECORD_STREAM_TIMES.load(Ordering::Relaxed);
    let stream = futures_util::stream::unfold((pieces.into_iter(), true), move |(mut it, first)| async move {
        let next = it.next()?;
        if !first && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if record {
            let mut times = LAST_STREAM_TIMES.lock().unwrap();
            if first {
                times.clear();
            }
            times.push(unix_nanos());
        }
        Some((Ok::<_, Infallible>(Frame::data(next)), (it, false)))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

async fn control(state: &MockState, ctl: &str, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(()) => return json_resp(413, &json!({"error": "body too large"})),
    };
    match (method, ctl) {
        (Method::GET, "stats") => json_resp(200, &state.stats_json()),
        (Method::GET, "stream_times") => json_resp(200, &json!({"times_ns": *LAST_STREAM_TIMES.lock().unwrap()})),
        (Method::GET, "mode") => json_resp(200, &state.peek_mode().to_json()),
        (Method::POST, "mode") => {
            let v: Value = if body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => return json_resp(400, &json!({"error": format!("invalid JSON: {e}")})),
                }
            };
            match Mode::from_json(&v, &state.cfg) {
                Ok(m) => {
                    let out = m.to_json();
                    state.set_mode(m);
                    json_resp(200, &out)
                }
                Err(e) => json_resp(400, &json!({"error": e})),
            }
        }
        (Method::POST, "reset") => {
            state.reset();
            json_resp(200, &state.stats_json())
        }
        (Method::GET, "tokens") => json_resp(200, &tokens_json(state)),
        (Method::POST, "tokens") => {
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return json_resp(400, &json!({"error": format!("invalid JSON: {e}")})),
            };
            let Some(token) = v.get("token").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                return json_resp(400, &json!({"error": "'token' (a non-empty string) is required"}));
            };
            let expires = match (v.get("expires_in_s"), v.get("expires_at")) {
                (Some(n), _) if !n.is_null() => match n.as_u64() {
                    Some(n) => Some(now_secs() + n),
                    None => return json_resp(400, &json!({"error": "'expires_in_s' must be a non-negative integer"})),
                },
                (_, Some(n)) if !n.is_null() => match n.as_u64() {
                    Some(n) => Some(n),
                    None => return json_resp(400, &json!({"error": "'expires_at' must be Unix seconds"})),
                },
                _ => None,
            };
            let replace = v.get("replace").and_then(Value::as_bool).unwrap_or(false);
            state.add_token(Token { token: token.to_string(), expires }, replace);
            json_resp(200, &tokens_json(state))
        }
        (m, other) => json_resp(404, &json!({"error": format!("unknown control endpoint {m} /_mock/{other}")})),
    }
}

fn tokens_json(state: &MockState) -> Value {
    let list: Vec<Value> = state.tokens().iter().map(|t| json!({"token": t.token, "expires_at": t.expires})).collect();
    json!({ "tokens": list })
}

/// Runs `serve` on `listener` on a thread of its own with a current-thread Tokio runtime,
/// until the returned sender fires (or is dropped); dropping the runtime then closes every
/// connection. Join the handle to wait for that.
pub(crate) fn serve_on_thread<F, Fut>(
    name: String,
    listener: std::net::TcpListener,
    serve: F,
) -> std::io::Result<(tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>)>
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        rt.block_on(async move {
            let listener = TcpListener::from_std(listener).expect("tokio listener");
            tokio::select! {
                _ = serve(listener) => {}
                _ = rx => {}
            }
        });
        drop(rt);
    })?;
    Ok((tx, thread))
}

/// A mock server running in this process on its own thread and Tokio runtime.
/// Dropping it (or [`MockServer::stop`]) stops the server and closes all its connections.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockServer {
    /// Binds `127.0.0.1:port` (0 = any free port) and starts serving.
    pub fn start(cfg: MockConfig, port: u16) -> std::io::Result<MockServer> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = MockState::new(cfg);
        let st = state.clone();
        let (tx, thread) = serve_on_thread(format!("mock-{}", st.cfg.region), std_listener, move |l| serve(l, st))?;
        Ok(MockServer { addr, state, shutdown: Some(tx), thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Direct access to the state (mode and stats) without HTTP.
    pub fn state(&self) -> &Arc<MockState> {
        &self.state
    }

    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop();
    }
}
