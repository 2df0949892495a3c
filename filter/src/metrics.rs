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
