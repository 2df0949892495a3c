//! Counters and histograms defined from the filter. Envoy exports them without the
//! `wasmcustom.` prefix; the bootstrap's stats tags turn the `.model.X.deployment.Y.region.Z`
//! suffix into Prometheus labels.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

thread_local! {
    // The VM is single-threaded; metric ids are defined once per name.
    static IDS: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
}

fn id(kind: MetricType, name: String) -> Option<u32> {
    IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        if let Some(id) = ids.get(&name) {
            return Some(*id);
        }
        let id = hostcalls::define_metric(kind, &name).ok()?;
        ids.insert(name, id);
        Some(id)
    })
}

pub fn count(name: &str, labels: &str) {
    add(name, labels, 1);
}

pub fn add(name: &str, labels: &str, n: u64) {
    if n == 0 {
        return;
    }
    if let Some(id) = id(MetricType::Counter, format!("{name}.{labels}")) {
        let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
    }
}

pub fn observe(name: &str, labels: &str, value: u64) {
    if let Some(id) = id(MetricType::Histogram, format!("{name}.{labels}")) {
        let _ = hostcalls::record_metric(id, value);
    }
}

/// Per-deployment counters the router role adds to, defined at 0 when the config loads.
const DEPLOYMENT_COUNTERS: &[&str] = &["litellm_requests_total", "litellm_errors_total", "llm_router_cooldowns_total"];

pub fn define_deployment_series(table: &llm_router_core::RouterTable) {
    for d in &table.deployments {
        for name in DEPLOYMENT_COUNTERS {
            let _ = id(MetricType::Counter, format!("{name}.{}", d.labels));
        }
    }
}

/// `llm_router_deployment_healthy{model,deployment,region}`: 1 when the deployment takes
/// traffic, 0 while it cools down (the shared view every worker routes by) or has no usable
/// credentials (no Vertex access token).
pub fn publish_health(table: &llm_router_core::RouterTable, now_ms: u64) {
    for d in &table.deployments {
        if let Some(id) = id(MetricType::Gauge, format!("llm_router_deployment_healthy.{}", d.labels)) {
            let healthy = d.unavailable.is_none() && !crate::shared::read(&d.id).is_cooling_down(now_ms);
            let _ = hostcalls::record_metric(id, u64::from(healthy));
        }
    }
}
