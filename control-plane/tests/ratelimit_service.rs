//! The rate limit service on a real Redis (Debian's `redis-server`, started here on a free
//! loopback port): two `serve`s naming the same Redis share one rpm/tpm count; Redis going away
//! never blocks a check (fail open) and shows in the metrics. Also measures the
//! `ShouldRateLimit` round trip (tonic client on loopback) per counting backend:
//! `cargo test -p llm-router --test ratelimit_service -- --nocapture` prints p50/p99.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use llm_router::ratelimit::{DeploymentLimits, Engine, LimitsConfig, RateLimiterService};
use llm_router::serve::{self, ServeOptions};
use llm_router::translate::Options;
use llm_router_core::capacity::{self, LimitCheck, LimitKind};
use prost::Message as _;
use tokio::sync::oneshot;
use tonic::transport::Channel;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A redis-server on a free 127.0.0.1 port, without persistence; killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let bin = which("redis-server").unwrap_or_else(|| {
            panic!(
                "redis-server not found on PATH: these tests need a real Redis. Install it with \
                 `apt-get update && apt-get install -y redis-server` (scripts/setup.sh does this)"
            )
        });
        let port = free_port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A running `llm-router serve` (in this process) on free ports.
struct Serve {
    xds: SocketAddr,
    metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Serve {
    async fn start(config: &Path) -> Serve {
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let opts = ServeOptions {
            config: config.to_path_buf(),
            translate: Options { filter_wasm: "/x/llm_router_filter.wasm".into(), ..Default::default() },
            xds_addr: "127.0.0.1:0".parse().expect("addr"),
            metrics_addr: metrics,
            tls: None,
            debounce: Duration::from_millis(50),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = tokio::spawn(serve::run(
            opts,
            async move {
                let _ = stopped.await;
            },
            move |addr| {
                let _ = ready_tx.send(addr);
            },
        ));
        let xds = tokio::time::timeout(Duration::from_secs(20), ready_rx).await.expect("serve ready").expect("ready");
        Serve { xds, metrics, stop: Some(stop), task }
    }

    async fn client(&self) -> RateLimitServiceClient<Channel> {
        RateLimitServiceClient::connect(format!("http://{}", self.xds))
            .await
            .expect("connect to the rate limit service")
    }

    /// One metric's value from `/metrics` (the sum over label sets matching `labels`).
    async fn metric(&self, name: &str, labels: &str) -> f64 {
        let body = http_get(self.metrics, "/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect metrics");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

/// The filter's own encoding of one check, sent as the prost request a tonic client takes:
/// what Envoy will put on the wire for the filter is what this service answers.
fn filter_request(deployment: &str, kind: LimitKind, hits: u64) -> RateLimitRequest {
    let bytes = capacity::encode_rate_limit_request(&[LimitCheck { deployment, kind, hits, sent: false }]);
    RateLimitRequest::decode(bytes.as_slice()).expect("the filter's request is a valid RateLimitRequest")
}

async fn check(client: &mut RateLimitServiceClient<Channel>, req: RateLimitRequest) -> RateLimitResponse {
    client.should_rate_limit(req).await.expect("ShouldRateLimit").into_inner()
}

fn config(dir: &Path, redis_port: Option<u16>) -> std::path::PathBuf {
    let redis = match redis_port {
        Some(p) => format!("router_settings:\n  redis_host: 127.0.0.1\n  redis_port: {p}\n"),
        None => String::new(),
    };
    let path = dir.join("litellm.yaml");
    std::fs::write(
        &path,
        format!(
            "model_list:\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:1/v1\n      rpm: 20\n      tpm: 1000\n    model_info:\n      id: limited\n  - model_name: g\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: http://127.0.0.1:2/v1\n    model_info:\n      id: backup\n{redis}"
        ),
    )
    .expect("write config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serves_on_one_redis_share_the_rpm_and_tpm_and_fail_open_when_it_dies() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), Some(redis.port));
    let a = Serve::start(&cfg).await;
    let b = Serve::start(&cfg).await;
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    // Both connect to Redis in the background; wait until both say so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.metric("llm_router_ratelimit_backend_up", "").await != 1.0
        || b.metric("llm_router_ratelimit_backend_up", "").await != 1.0
    {
        assert!(Instant::now() < deadline, "the serves did not reach Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 30 attempts alternating between both serves: the limited deployment is allowed exactly
    // its 20, then every attempt is OVER_LIMIT.
    let mut allowed = 0;
    for i in 0..30 {
        let client = if i % 2 == 0 { &mut ca } else { &mut cb };
        let r = check(client, filter_request("limited", LimitKind::Rpm, 1)).await;
        if r.overall_code == Code::Ok as i32 {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 20, "attempts allowed for rpm 20 across two serves");
    for client in [&mut ca, &mut cb] {
        let r = check(client, filter_request("limited", LimitKind::Rpm, 1)).await;
        assert_eq!(r.overall_code, Code::OverLimit as i32, "{r:?}");
        let status = &r.statuses[0];
        assert_eq!(status.limit_remaining, 0);
        let reset = status.duration_until_reset.expect("duration_until_reset");
        assert!((0..=60).contains(&reset.seconds), "{reset:?}");
        // What the filter reads of it.
        let answer = capacity::decode_rate_limit_response(&r.encode_to_vec()).expect("decodes");
        assert!(answer.over_limit && answer.statuses[0].over_limit);
        assert_eq!(answer.statuses[0].limit, Some(20));
        assert!(answer.statuses[0].reset_ms.is_some_and(|ms| ms <= 60_000));
    }
    assert!(a.metric("llm_router_deployment_limit_rejections_total", "deployment=\"limited\"").await >= 1.0);
    assert_eq!(a.metric("llm_router_deployment_rpm_remaining", "deployment=\"limited\"").await, 0.0);
    // The backup has no limit: always OK.
    let r = check(&mut ca, filter_request("backup", LimitKind::Rpm, 1)).await;
    assert_eq!(r.overall_code, Code::Ok as i32);

    // tpm: settlements of tokens used on one serve count on the other.
    let r = check(&mut ca, filter_request("limited", LimitKind::Tpm, 700)).await;
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (Code::Ok as i32, 300));
    let r = check(&mut cb, filter_request("limited", LimitKind::Tpm, 400)).await;
    assert_eq!(r.overall_code, Code::OverLimit as i32, "700 + 400 tokens of 1000: {r:?}");
    let r = check(&mut ca, filter_request("limited", LimitKind::Tpm, 0)).await;
    assert_eq!(r.overall_code, Code::OverLimit as i32, "a look-up on the other serve sees the spent tpm: {r:?}");

    // Redis dies: checks keep answering (never a gRPC error), the metrics show it.
    redis.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.metric("llm_router_ratelimit_backend_up", "").await != 0.0 {
        assert!(Instant::now() < deadline, "backend_up stayed 1 after Redis was killed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.metric("llm_router_ratelimit_backend_errors_total", "").await >= 1.0);
    // Known down: answered at once, not after Redis's timeout (the filter waits 100 ms at most).
    let t = Instant::now();
    let r = check(&mut ca, filter_request("backup", LimitKind::Rpm, 1)).await;
    assert_eq!(r.overall_code, Code::Ok as i32);
    assert!(t.elapsed() < Duration::from_millis(100), "answered at once while Redis is down: {:?}", t.elapsed());
    let r = check(&mut cb, filter_request("limited", LimitKind::Rpm, 0)).await;
    assert_eq!(r.statuses.len(), 1, "answered while Redis is down: {r:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serve_whose_redis_is_unreachable_answers_ok_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), Some(free_port()));
    let s = Serve::start(&cfg).await;
    let mut c = s.client().await;
    for _ in 0..25 {
        let r = check(&mut c, filter_request("limited", LimitKind::Rpm, 1)).await;
        assert_eq!(r.overall_code, Code::Ok as i32, "fail open: {r:?}");
        assert!(r.statuses[0].current_limit.is_none());
    }
    assert_eq!(s.metric("llm_router_ratelimit_backend_up", "").await, 0.0);
    assert!(s.metric("llm_router_ratelimit_backend_errors_total", "").await >= 25.0);
    s.stop().await;
}

/// Serves one `RateLimiterService` on a loopback port (the service type, without `serve`).
async fn serve_service(engine: Engine) -> RateLimitServiceClient<Channel> {
    let service = RateLimiterService::new(Some(engine), &prometheus::Registry::new());
    let limits = LimitsConfig {
        deployments: vec![DeploymentLimits {
            deployment: "d".into(),
            model: "g".into(),
            rpm: Some(1_000_000_000),
            tpm: None,
        }],
        redis: None,
    };
    service.configure(&limits).await.expect("limits");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(service.into_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    RateLimitServiceClient::connect(format!("http://{addr}")).await.expect("connect")
}

/// p50 and p99 in microseconds of `n` sequential ShouldRateLimit calls (an rpm hit each).
async fn round_trips(client: &mut RateLimitServiceClient<Channel>, n: usize) -> (u128, u128) {
    for _ in 0..100 {
        check(client, filter_request("d", LimitKind::Rpm, 1)).await;
    }
    let mut micros: Vec<u128> = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = check(client, filter_request("d", LimitKind::Rpm, 1)).await;
        micros.push(t.elapsed().as_micros());
        assert_eq!(r.statuses[0].code, Code::Ok as i32);
        assert!(r.statuses[0].current_limit.is_some(), "counted, not failed open: {r:?}");
    }
    micros.sort_unstable();
    (micros[n / 2], micros[n * 99 / 100])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn should_rate_limit_round_trip_per_backend() {
    let redis = Redis::start();
    let mut results = Vec::new();
    for (name, engine) in [
        ("memory", Engine::memory()),
        ("redis (limitador's cached storage)", Engine::redis_cached(&redis.url()).await.expect("cached redis")),
        ("redis (async storage, serve's)", Engine::redis_direct(&redis.url()).await.expect("direct redis")),
    ] {
        let mut client = serve_service(engine).await;
        let (p50, p99) = round_trips(&mut client, 1_000).await;
        eprintln!("ShouldRateLimit round trip, {name}: p50 {p50} µs, p99 {p99} µs (1,000 calls, loopback)");
        results.push((name, p50, p99));
    }
    // A sanity bound, not the benchmark: a loopback check taking 5 ms means something is wrong.
    for (name, p50, _) in results {
        assert!(p50 < 5_000, "{name}: p50 {p50} µs");
    }
}
