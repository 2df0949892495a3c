//! The deployments' health and latency in the host's shared data: one small record per
//! deployment, shared by every worker (same vm_id), updated with compare-and-swap so that
//! concurrent workers never lose each other's updates.

use super::{Host, SharedWrite};
use crate::health::{DeploymentHealth, Outcome};
use crate::latency::LatencyStats;
use crate::plan::DeploymentView;
use crate::Deployment;

/// Attempts at a compare-and-swap before giving up (another worker kept writing the key).
const CAS_ATTEMPTS: usize = 8;

fn health_key(deployment_id: &str) -> String {
    format!("llm-router/health/{deployment_id}")
}

fn latency_key(deployment_id: &str) -> String {
    format!("llm-router/ttfb/{deployment_id}")
}

pub fn health(host: &impl Host, deployment_id: &str) -> DeploymentHealth {
    match host.shared_get(&health_key(deployment_id)) {
        (Some(bytes), _) => DeploymentHealth::decode(&bytes),
        _ => DeploymentHealth::default(),
    }
}

pub fn latency(host: &impl Host, deployment_id: &str) -> Option<LatencyStats> {
    host.shared_get(&latency_key(deployment_id)).0.and_then(|b| LatencyStats::decode(&b))
}

/// Cooling down, or without usable credentials: the deployment takes no traffic.
pub fn is_down(host: &impl Host, d: &Deployment, now_ms: u64) -> bool {
    d.unavailable.is_some() || health(host, &d.id).is_cooling_down(now_ms)
}

/// How a deployment's failures turn into a cooldown: LiteLLM's `allowed_fails` and
/// `cooldown_time`, and whether it is its group's only deployment (never cooled down).
pub struct CooldownRule {
    pub allowed_fails: u32,
    pub cooldown_ms: u64,
    pub sole: bool,
}

/// Applies one attempt's outcome to deployment `id` (in `region`, stat labels `labels`) and,
/// when it starts a cooldown, logs it and counts it (cause `failures`). The one place both
/// roles record what an attempt did to a deployment's health.
pub fn apply_outcome(
    host: &mut impl Host,
    (id, region, labels): (&str, &str, &str),
    outcome: Outcome,
    now_ms: u64,
    rule: &CooldownRule,
) {
    if record_outcome(host, id, outcome, now_ms, rule.allowed_fails, rule.cooldown_ms, rule.sole) {
        host.log_warn(&format!("llm-router: deployment {id} ({region}) cooling down for {} ms", rule.cooldown_ms));
        host.add_counter(&super::limits::cooldown_stat(labels, super::limits::CooldownCause::Failures), 1);
    }
}

/// Applies one attempt's outcome; true when it started a cooldown.
pub fn record_outcome(
    host: &mut impl Host,
    deployment_id: &str,
    outcome: Outcome,
    now_ms: u64,
    allowed_fails: u32,
    cooldown_ms: u64,
    sole: bool,
) -> bool {
    let key = health_key(deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let current = bytes.map(|b| DeploymentHealth::decode(&b)).unwrap_or_default();
        let mut next = current;
        let started = next.record(outcome, now_ms, allowed_fails, cooldown_ms, sole);
        if next == current {
            return false;
        }
        match host.shared_set(&key, &next.encode(), cas) {
            SharedWrite::Written => return started,
            SharedWrite::CasMismatch => continue,
            SharedWrite::Failed => return false,
        }
    }
    false
}

/// Cools a deployment down until `until_ms` whatever its failure count (a spent budget, a
/// provider's `retry-after`): never shortens a cooldown already running. True when this
/// started or extended one.
pub fn cool_down_until(host: &mut impl Host, deployment_id: &str, until_ms: u64) -> bool {
    let key = health_key(deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let mut next = bytes.map(|b| DeploymentHealth::decode(&b)).unwrap_or_default();
        if next.cooldown_until_ms >= until_ms {
            return false;
        }
        if next.cooldown_until_ms <= host.now_ms() {
            next.cooldowns = next.cooldowns.wrapping_add(1);
        }
        next.cooldown_until_ms = until_ms;
        match host.shared_set(&key, &next.encode(), cas) {
            SharedWrite::Written => return true,
            SharedWrite::CasMismatch => continue,
            SharedWrite::Failed => return false,
        }
    }
    false
}

/// Folds one time-to-first-byte sample into the deployment's moving average.
pub fn record_latency(host: &mut impl Host, deployment_id: &str, sample_ms: f64, now_ms: u64) {
    let key = latency_key(deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let next = LatencyStats::record(bytes.and_then(|b| LatencyStats::decode(&b)), sample_ms, now_ms);
        match host.shared_set(&key, &next.encode(), cas) {
            SharedWrite::CasMismatch => continue,
            SharedWrite::Written | SharedWrite::Failed => return,
        }
    }
}

/// The planner's view of every deployment at one instant, read from shared data.
pub struct SharedView<'h, H: Host> {
    pub host: &'h H,
    pub now_ms: u64,
}

impl<H: Host> DeploymentView for SharedView<'_, H> {
    fn usable(&self, d: &Deployment) -> bool {
        !health(self.host, &d.id).is_cooling_down(self.now_ms)
    }

    fn ttfb_ms(&self, d: &Deployment) -> Option<f64> {
        latency(self.host, &d.id).map(|l| l.ewma_ms)
    }

    fn available_in_ms(&self, d: &Deployment) -> Option<u64> {
        let until = health(self.host, &d.id).cooldown_until_ms;
        (until > self.now_ms).then(|| until - self.now_ms)
    }

    fn used_share(&self, d: &Deployment) -> f64 {
        super::limits::capacity(self.host, &d.id).used_share(self.now_ms)
    }

    fn weight_factor(&self, d: &Deployment) -> f64 {
        super::limits::capacity(self.host, &d.id).weight_factor(self.now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::mock::MockHost;

    #[test]
    fn outcomes_and_latency_land_in_shared_data() {
        let mut host = MockHost::default();
        assert!(!record_outcome(&mut host, "a", Outcome::Failure, 1_000, 2, 5_000, false));
        assert!(record_outcome(&mut host, "a", Outcome::Failure, 1_100, 2, 5_000, false));
        assert!(health(&host, "a").is_cooling_down(6_099));
        assert!(!health(&host, "b").is_cooling_down(1_100));
        record_latency(&mut host, "a", 40.0, 1);
        assert_eq!(latency(&host, "a").map(|l| l.ewma_ms), Some(40.0));
    }

    #[test]
    fn a_concurrent_write_is_retried_not_lost() {
        // Another worker writes between each read and write, twice.
        let mut host = MockHost { cas_conflicts: 2, ..MockHost::default() };
        assert!(record_outcome(&mut host, "a", Outcome::Failure, 1_000, 1, 5_000, false));
        assert!(health(&host, "a").is_cooling_down(1_001));
    }
}
