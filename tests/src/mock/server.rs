//! The HTTP side of a mock: the accept loop, one request's path through the mock (control
//! API, health, fault mode, auth, provider answer), TCP resets, and [`MockServer`], which
//! runs all that in this process on a thread of its own.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::auth;
use super::config::MockConfig;
use super::control::control;
use super::dispatch;
use super::fault_mode::{Fault, Mode};
use super::openai;
use super::response::{hold_body, json_resp, Body, Streamed};
use super::state::MockState;

/// Largest request body the mock reads (bytes); larger bodies get 413.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

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

pub(super) async fn read_body(body: Incoming) -> Result<Bytes, ()> {
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
    let call = dispatch::Call {
        method: &parts.method,
        path: &path,
        query: parts.uri.query().unwrap_or(""),
        path_and_query: parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or(&path),
        authority: parts.uri.authority().map(|a| a.as_str()),
        headers: &parts.headers,
        body: &body,
        seq: id,
    };
    let (op, model) = dispatch::classify(&state, &call);
    let (auth, auth_err) = auth::authenticate(&state, &call, SystemTime::now());
    state.record_call(id, &path, &op, model.as_deref(), &auth, mode.fault);
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
        (f @ (Fault::Error | Fault::RateLimit), None) => {
            let mut r =
                dispatch::fault_response(&state, f == Fault::RateLimit, mode.status, mode.error.as_deref(), &call);
            if let Some(value) = mode.retry_after.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                r.headers_mut().insert("retry-after", value);
            }
            r
        }
        (_, None) => {
            let resp = dispatch::answer(&state, &mode, &call);
            if mode.fault.shapes_body() && resp.extensions().get::<Streamed>().is_none() {
                json_under_stream_fault(&state, &mode, &call, resp)
            } else {
                resp
            }
        }
    };
    state.record_status(id, resp.status().as_u16());
    if resp.status() == StatusCode::OK && mode.fault.serves_ok() {
        state.record_ok();
    }
    with_region(&state, resp)
}

/// A streaming fault met a request that does not stream (a JSON answer, or an error the
/// provider found in the request): a 200 is held back as the fault says; other answers go
/// as they are (the provider refused the request before answering).
fn json_under_stream_fault(
    state: &MockState,
    mode: &Mode,
    call: &dispatch::Call<'_>,
    resp: Response<Body>,
) -> Response<Body> {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    match mode.fault {
        Fault::ErrorBeforeContent | Fault::ErrorAfterContent => {
            dispatch::fault_response(state, false, mode.status, None, call)
        }
        Fault::SlowStream => hold_body(resp, Some(Duration::from_millis(mode.total_ms))),
        _ => hold_body(resp, mode.stall()),
    }
}

async fn health(state: &MockState, kill: &Notify) -> Response<Body> {
    state.record_health();
    let mode = state.peek_mode();
    match mode.fault {
        Fault::Ok
        | Fault::RateLimit
        | Fault::StallAfterHeaders
        | Fault::ErrorBeforeContent
        | Fault::StallAfterContent
        | Fault::ErrorAfterContent
        | Fault::SlowStream => {
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
