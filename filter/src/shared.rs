//! The deployments' health view in Envoy's shared data: one small record per deployment,
//! shared by every worker's VM (same vm_id), updated with compare-and-swap.

use llm_router_core::health::{DeploymentHealth, Outcome};
use llm_router_core::latency::LatencyStats;
use llm_router_core::plan::DeploymentView;
use llm_router_core::Deployment;
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;

fn key(deployment_id: &str) -> String {
    format!("llm-router/health/{deployment_id}")
}

fn latency_key(deployment_id: &str) -> String {
    format!("llm-router/ttfb/{deployment_id}")
}

/// The router's view of every deployment at one instant.
pub struct SharedView {
    pub now_ms: u64,
}

impl DeploymentView for SharedView {
    fn usable(&self, d: &Deployment) -> bool {
        !read(&d.id).is_cooling_down(self.now_ms)
    }

    fn ttfb_ms(&self, d: &Deployment) -> Option<f64> {
        latency(&d.id).map(|l| l.ewma_ms)
    }
}

pub fn latency(deployment_id: &str) -> Option<LatencyStats> {
    match hostcalls::get_shared_data(&latency_key(deployment_id)) {
        Ok((Some(bytes), _)) => LatencyStats::decode(&bytes),
        _ => None,
    }
}

/// Folds one time-to-first-byte sample into the deployment's moving average.
pub fn record_latency(deployment_id: &str, sample_ms: f64, now_ms: u64) {
    let key = latency_key(deployment_id);
    for _ in 0..8 {
        let (previous, cas) = match hostcalls::get_shared_data(&key) {
            Ok((bytes, cas)) => (bytes.and_then(|b| LatencyStats::decode(&b)), cas),
            Err(_) => (None, None),
        };
        let next = LatencyStats::record(previous, sample_ms, now_ms);
        match hostcalls::set_shared_data(&key, Some(&next.encode()), cas) {
            Err(Status::CasMismatch) => continue,
            _ => return,
        }
    }
}

pub fn read(deployment_id: &str) -> DeploymentHealth {
    match hostcalls::get_shared_data(&key(deployment_id)) {
        Ok((Some(bytes), _)) => DeploymentHealth::decode(&bytes),
        _ => DeploymentHealth::default(),
    }
}

/// Applies an outcome; returns true when it started a cooldown. Retries a few times when
/// another worker updated the record in between.
pub fn record(
    deployment_id: &str,
    outcome: Outcome,
    now_ms: u64,
    allowed_fails: u32,
    cooldown_ms: u64,
    sole: bool,
) -> bool {
    let key = key(deployment_id);
    for _ in 0..8 {
        let (current, cas) = match hostcalls::get_shared_data(&key) {
            Ok((Some(bytes), cas)) => (DeploymentHealth::decode(&bytes), cas),
            Ok((None, cas)) => (DeploymentHealth::default(), cas),
            Err(_) => (DeploymentHealth::default(), None),
        };
        let mut next = current;
        let started = next.record(outcome, now_ms, allowed_fails, cooldown_ms, sole);
        if next == current {
            return false;
        }
        match hostcalls::set_shared_data(&key, Some(&next.encode()), cas) {
            Ok(()) => return started,
            Err(Status::CasMismatch) => continue,
            Err(_) => return false,
        }
    }
    false
}
