//! Operations: Prometheus metrics, `/healthz`, `/readyz`, `/status`, and `tracing` logs.
//!
//! Metrics (all prefixed `llm_router_`):
//! - `config_info{version}` 1 for the snapshot version served; `config_generation` counts
//!   accepted config loads; `config_last_reload_success` 1/0; `config_reload_errors_total`.
//! - `xds_pushes_total{type}`, `xds_acks_total{type}`, `xds_nacks_total{type}`,
//!   `xds_connected_proxies{protocol}`.
//! - `snapshot_build_seconds` (histogram): YAML read, translation and encoding.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::xds::cache::CacheReader;
use crate::xds::{short_type, Observer};

pub struct Metrics {
    pub registry: Registry,
    pub config_info: IntGaugeVec,
    pub config_generation: IntCounter,
    pub last_reload_success: IntGauge,
    pub reload_errors: IntCounter,
    pub pushes: IntCounterVec,
    pub acks: IntCounterVec,
    pub nacks: IntCounterVec,
    pub connected: IntGaugeVec,
    pub snapshot_build_seconds: Histogram,
    /// Vertex token requests by service account and outcome (`success` / `failure`).
    pub vertex_token_refreshes: IntCounterVec,
    /// Unix time the held Vertex token of each service account expires.
    pub vertex_token_expiry: GaugeVec,
    /// 1 while a service account holds a valid Vertex token.
    pub vertex_token_available: IntGaugeVec,
    current_version: Mutex<String>,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are constants: an error here is a programming error caught by tests.
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let m = Metrics {
            config_info: must(IntGaugeVec::new(
                Opts::new("llm_router_config_info", "1 for the config (snapshot) version being served"),
                &["version"],
            )),
            config_generation: must(IntCounter::new(
                "llm_router_config_generation",
                "Config versions served since start (the initial load and every edit that changed what Envoy gets)",
            )),
            last_reload_success: must(IntGauge::new(
                "llm_router_config_last_reload_success",
                "1 when the last read of the config file succeeded, 0 when it was refused (the previous config keeps serving)",
            )),
            reload_errors: must(IntCounter::new(
                "llm_router_config_reload_errors_total",
                "Config edits refused because of errors (FILE:LINE:COL messages are in the log and /status)",
            )),
            pushes: must(IntCounterVec::new(
                Opts::new("llm_router_xds_pushes_total", "Discovery responses sent, by resource type"),
                &["type"],
            )),
            acks: must(IntCounterVec::new(
                Opts::new("llm_router_xds_acks_total", "Discovery responses accepted by a proxy (ACK)"),
                &["type"],
            )),
            nacks: must(IntCounterVec::new(
                Opts::new("llm_router_xds_nacks_total", "Discovery responses rejected by a proxy (NACK)"),
                &["type"],
            )),
            connected: must(IntGaugeVec::new(
                Opts::new("llm_router_xds_connected_proxies", "Open ADS streams"),
                &["protocol"],
            )),
            snapshot_build_seconds: must(Histogram::with_opts(
                HistogramOpts::new(
                    "llm_router_snapshot_build_seconds",
                    "Time to read, check, translate and encode a config into a snapshot",
                )
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            )),
            vertex_token_refreshes: must(IntCounterVec::new(
                Opts::new(
                    "llm_router_vertex_token_refreshes_total",
                    "Vertex access-token requests to a service account's token endpoint, by outcome",
                ),
                &["account", "outcome"],
            )),
            vertex_token_expiry: must(GaugeVec::new(
                Opts::new(
                    "llm_router_vertex_token_expiry_timestamp_seconds",
                    "Unix time the Vertex access token in use expires (alert on it minus time() getting small)",
                ),
                &["account"],
            )),
            vertex_token_available: must(IntGaugeVec::new(
                Opts::new(
                    "llm_router_vertex_token_available",
                    "1 while the service account holds a valid Vertex access token; 0 = its Vertex deployments take no traffic",
                ),
                &["account"],
            )),
            registry,
            current_version: Mutex::new(String::new()),
        };
        must(m.registry.register(Box::new(m.config_info.clone())));
        must(m.registry.register(Box::new(m.config_generation.clone())));
        must(m.registry.register(Box::new(m.last_reload_success.clone())));
        must(m.registry.register(Box::new(m.reload_errors.clone())));
        must(m.registry.register(Box::new(m.pushes.clone())));
        must(m.registry.register(Box::new(m.acks.clone())));
        must(m.registry.register(Box::new(m.nacks.clone())));
        must(m.registry.register(Box::new(m.connected.clone())));
        must(m.registry.register(Box::new(m.snapshot_build_seconds.clone())));
        must(m.registry.register(Box::new(m.vertex_token_refreshes.clone())));
        must(m.registry.register(Box::new(m.vertex_token_expiry.clone())));
        must(m.registry.register(Box::new(m.vertex_token_available.clone())));
        for p in ["sotw", "delta"] {
            m.connected.with_label_values(&[p]).set(0);
        }
        Arc::new(m)
    }

    /// Records the snapshot version now served.
    pub fn set_version(&self, version: &str) {
        let mut cur = self.current_version.lock().unwrap_or_else(|p| p.into_inner());
        if !cur.is_empty() {
            let _ = self.config_info.remove_label_values(&[cur.as_str()]);
        }
        self.config_info.with_label_values(&[version]).set(1);
        *cur = version.to_string();
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Observer for Metrics {
    fn connected(&self, protocol: &'static str) {
        self.connected.with_label_values(&[protocol]).inc();
    }
    fn disconnected(&self, protocol: &'static str) {
        self.connected.with_label_values(&[protocol]).dec();
    }
    fn pushed(&self, type_url: &str, _resources: usize) {
        self.pushes.with_label_values(&[short_type(type_url)]).inc();
    }
    fn acked(&self, type_url: &str) {
        self.acks.with_label_values(&[short_type(type_url)]).inc();
    }
    fn nacked(&self, type_url: &str) {
        self.nacks.with_label_values(&[short_type(type_url)]).inc();
    }
}

/// What `/status` shows besides the proxies: the config file's state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConfigStatus {
    pub file: String,
    /// Snapshot version served (empty before the first good load).
    pub version: String,
    pub generation: u64,
    /// The last refused edit's diagnostics (`FILE:LINE:COL: message`), empty when the file is good.
    pub last_errors: Vec<String>,
}

#[derive(Clone)]
struct HttpState {
    metrics: Arc<Metrics>,
    cache: CacheReader,
    status: Arc<Mutex<ConfigStatus>>,
}

/// Serves `/metrics`, `/healthz`, `/readyz` and `/status` on `listener` until `shutdown`.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    cache: CacheReader,
    status: Arc<Mutex<ConfigStatus>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status_page))
        .with_state(HttpState { metrics, cache, status });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn metrics_page(State(s): State<HttpState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

/// Ready once a config has been loaded and a snapshot is being served.
async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    match s.cache.current() {
        Some(snap) => (StatusCode::OK, format!("ready: serving config version {}\n", snap.version)),
        None => (StatusCode::SERVICE_UNAVAILABLE, "not ready: no valid config loaded yet\n".to_string()),
    }
}

async fn status_page(State(s): State<HttpState>) -> impl IntoResponse {
    let config = s.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Per type, the version served now: a proxy whose `acked` matches has converged.
    let served: serde_json::Map<String, serde_json::Value> = s
        .cache
        .current()
        .map(|snap| snap.type_urls().map(|t| (t.to_string(), snap.type_version(t).into())).collect())
        .unwrap_or_default();
    let body = serde_json::json!({"config": config, "served": served, "proxies": s.cache.proxies()});
    ([(header::CONTENT_TYPE, "application/json")], format!("{body:#}\n"))
}

/// Logs to stderr; `RUST_LOG` overrides the default level (`info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,h2=warn,tower=warn,hyper=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

/// Binds a TCP listener, naming the flag to change when the address is taken.
pub async fn bind(addr: SocketAddr, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({flag}): {e}; choose another address with {flag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_with_their_names() {
        let m = Metrics::new();
        m.set_version("abc");
        m.set_version("def");
        m.nacked("type.googleapis.com/envoy.config.cluster.v3.Cluster");
        let text = m.render();
        assert!(text.contains("llm_router_config_info{version=\"def\"} 1"), "{text}");
        assert!(!text.contains("version=\"abc\""), "{text}");
        assert!(text.contains("llm_router_xds_nacks_total{type=\"Cluster\"} 1"), "{text}");
        assert!(text.contains("llm_router_xds_connected_proxies{protocol=\"sotw\"} 0"), "{text}");
    }
}
