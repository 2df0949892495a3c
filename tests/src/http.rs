//! A small blocking HTTP client for tests (reqwest::blocking, no proxy, no TLS).
//!
//! Each request uses a fresh connection (no pooling), so a restarted server on
//! the same port never sees a stale keep-alive connection. Use the [`Req`]
//! builder for anything beyond the free functions: raw bodies, non-UTF-8 header
//! values, timeouts, HTTP/2 prior knowledge, streaming with timing.

use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

/// Default per-request timeout of [`Req`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

fn build_client(h2c: bool, pool: bool) -> Client {
    let mut b = Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(None::<Duration>)
        .redirect(reqwest::redirect::Policy::none());
    if !pool {
        b = b.pool_max_idle_per_host(0);
    }
    if h2c {
        b = b.http2_prior_knowledge();
    }
    b.build().expect("reqwest client")
}

pub(crate) fn client(h2c: bool) -> &'static Client {
    static H1: OnceLock<Client> = OnceLock::new();
    static H2: OnceLock<Client> = OnceLock::new();
    if h2c {
        H2.get_or_init(|| build_client(true, false))
    } else {
        H1.get_or_init(|| build_client(false, false))
    }
}

/// A pooled (keep-alive) client, as used by [`crate::load_loop`].
pub fn pooled_client() -> Client {
    build_client(false, true)
}

/// A transport-level failure (no HTTP response was received).
#[derive(Debug, Clone)]
pub struct HttpError {
    /// The error and its full source chain.
    pub message: String,
    timeout: bool,
    connect: bool,
}

impl HttpError {
    pub(crate) fn from_reqwest(e: reqwest::Error) -> HttpError {
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        HttpError { timeout: e.is_timeout(), connect: e.is_connect(), message }
    }

    fn from_io(e: std::io::Error) -> HttpError {
        let timeout = e.kind() == std::io::ErrorKind::TimedOut || e.to_string().to_lowercase().contains("timed out");
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        HttpError { timeout, connect: false, message }
    }

    /// The request hit its timeout.
    pub fn is_timeout(&self) -> bool {
        self.timeout
    }

    /// The connection could not be established (e.g. refused).
    pub fn is_connect(&self) -> bool {
        self.connect
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Response headers (names lowercased).
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// A header value as (lossy) UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the status and body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}); status {}: {}", self.status, self.text()))
    }
}

/// A response read incrementally, with arrival times (relative to when the request was sent).
#[derive(Debug, Clone)]
pub struct StreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    /// All body bytes.
    pub body: Vec<u8>,
    /// When the response headers arrived.
    pub headers_at: Duration,
    /// When the first non-empty body chunk arrived (`None` for an empty body).
    pub first_chunk_at: Option<Duration>,
    /// When the body ended.
    pub end_at: Duration,
    /// (arrival time, byte count) of every read that returned data.
    pub chunks: Vec<(Duration, usize)>,
    /// Set when the body ended with a transport error (e.g. reset mid-stream).
    pub error: Option<HttpError>,
}

impl StreamResponse {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The payloads of the SSE `data:` lines, in order (including `[DONE]`).
    pub fn sse_data(&self) -> Vec<String> {
        sse_data(&self.text())
    }

    /// The SSE `data:` payloads parsed as JSON (`[DONE]` excluded); panics on a non-JSON payload.
    pub fn sse_json(&self) -> Vec<Value> {
        self.sse_data()
            .into_iter()
            .filter(|d| d != "[DONE]")
            .map(|d| serde_json::from_str(&d).unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {d}")))
            .collect()
    }

    /// Whether the stream ended with `data: [DONE]`.
    pub fn done(&self) -> bool {
        self.sse_data().last().map(|d| d == "[DONE]").unwrap_or(false)
    }

    /// Concatenation of `choices[0].delta.content` over all chunks.
    pub fn sse_content(&self) -> String {
        self.sse_json()
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect()
    }
}

/// Extracts the `data:` payloads of an SSE text (events separated by blank lines;
/// multi-line data joined with `\n`).
pub fn sse_data(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for event in text.replace("\r\n", "\n").split("\n\n") {
        let lines: Vec<&str> =
            event.lines().filter_map(|l| l.strip_prefix("data:")).map(|l| l.strip_prefix(' ').unwrap_or(l)).collect();
        if !lines.is_empty() {
            out.push(lines.join("\n"));
        }
    }
    out
}

/// Request builder.
///
/// ```no_run
/// use llm_router_e2e::Req;
/// let r = Req::post("http://127.0.0.1:1/v1/chat/completions")
///     .header("authorization", "Bearer k")
///     .header_bytes("x-odd", b"\xff\xfe")
///     .body(&b"{not json"[..])
///     .timeout(std::time::Duration::from_secs(2))
///     .send()
///     .unwrap();
/// assert_eq!(r.status, 400);
/// ```
#[derive(Debug, Clone)]
pub struct Req {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
    h2c: bool,
}

impl Req {
    pub fn new(method: &str, url: &str) -> Req {
        Req {
            method: reqwest::Method::from_bytes(method.as_bytes()).expect("valid method"),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            timeout: DEFAULT_TIMEOUT,
            h2c: false,
        }
    }

    pub fn get(url: &str) -> Req {
        Req::new("GET", url)
    }

    pub fn post(url: &str) -> Req {
        Req::new("POST", url)
    }

    pub fn header(self, name: &str, value: &str) -> Req {
        self.header_bytes(name, value.as_bytes())
    }

    /// A header with arbitrary bytes (e.g. `b"\xff\xfe"`); must still be a legal
    /// HTTP field value (no CR/LF/NUL).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Req {
        self.headers.push((name.to_string(), value.to_vec()));
        self
    }

    pub fn headers(mut self, headers: &[(&str, &str)]) -> Req {
        for (k, v) in headers {
            self.headers.push((k.to_string(), v.as_bytes().to_vec()));
        }
        self
    }

    /// A JSON body (and `content-type: application/json` unless already set).
    pub fn json(mut self, v: &Value) -> Req {
        if !self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            self.headers.push(("content-type".into(), b"application/json".to_vec()));
        }
        self.body = Some(serde_json::to_vec(v).expect("serialize JSON"));
        self
    }

    /// A raw body, sent as-is.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Req {
        self.body = Some(bytes.into());
        self
    }

    /// Whole-request timeout (connect + headers + body); default 30 s.
    pub fn timeout(mut self, t: Duration) -> Req {
        self.timeout = t;
        self
    }

    /// Use HTTP/2 with prior knowledge (h2c).
    pub fn h2c(mut self) -> Req {
        self.h2c = true;
        self
    }

    fn build(&self, client: &Client) -> reqwest::blocking::RequestBuilder {
        let mut map = HeaderMap::new();
        for (k, v) in &self.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("bad header name {k:?}: {e}"));
            let value = HeaderValue::from_bytes(v).unwrap_or_else(|e| panic!("bad header value {v:?}: {e}"));
            map.append(name, value);
        }
        let mut rb = client.request(self.method.clone(), &self.url).headers(map).timeout(self.timeout);
        if let Some(b) = &self.body {
            rb = rb.body(b.clone());
        }
        rb
    }

    /// Sends with the shared non-pooling client and reads the whole body.
    pub fn send(&self) -> Result<Response, HttpError> {
        self.send_with(client(self.h2c))
    }

    /// Sends with the given client (e.g. a pooled one) and reads the whole body.
    pub fn send_with(&self, client: &Client) -> Result<Response, HttpError> {
        let resp = self.build(client).send().map_err(HttpError::from_reqwest)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().map_err(HttpError::from_reqwest)?.to_vec();
        Ok(Response { status, headers, body })
    }

    /// Sends and reads the body incrementally, recording when each piece arrived.
    /// A transport error before the headers is `Err`; one during the body is
    /// reported in [`StreamResponse::error`] with the bytes received so far.
    pub fn send_stream(&self) -> Result<StreamResponse, HttpError> {
        let start = Instant::now();
        let mut resp = self.build(client(self.h2c)).send().map_err(HttpError::from_reqwest)?;
        let headers_at = start.elapsed();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        let mut chunks = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut error = None;
        loop {
            match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    chunks.push((start.elapsed(), n));
                    body.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    error = Some(HttpError::from_io(e));
                    break;
                }
            }
        }
        Ok(StreamResponse {
            status,
            headers,
            body,
            headers_at,
            first_chunk_at: chunks.first().map(|c| c.0),
            end_at: start.elapsed(),
            chunks,
            error,
        })
    }
}

/// POST a JSON body with extra headers; panics on a transport error (use [`Req`] to inspect those).
pub fn post_json(url: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
    Req::post(url).headers(headers).json(body).send().unwrap_or_else(|e| panic!("POST {url} failed: {e}"))
}

/// POST a JSON body and read the response incrementally with timings (for SSE);
/// panics on a transport error before the response headers.
pub fn post_json_stream(url: &str, body: &Value, headers: &[(&str, &str)]) -> StreamResponse {
    Req::post(url)
        .headers(headers)
        .json(body)
        .send_stream()
        .unwrap_or_else(|e| panic!("POST {url} (stream) failed: {e}"))
}

/// POST raw bytes with raw header values (e.g. `("x-bad", b"\xff\xfe")`); panics on a transport error.
pub fn post_raw(url: &str, body: &[u8], headers: &[(&str, &[u8])]) -> Response {
    let mut r = Req::post(url).body(body.to_vec());
    for (k, v) in headers {
        r = r.header_bytes(k, v);
    }
    r.send().unwrap_or_else(|e| panic!("POST {url} failed: {e}"))
}

/// GET; panics on a transport error.
pub fn get(url: &str) -> Response {
    Req::get(url).send().unwrap_or_else(|e| panic!("GET {url} failed: {e}"))
}
