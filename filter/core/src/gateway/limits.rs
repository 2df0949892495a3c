//! Capacity in the gateway: each attempt at a deployment with `rpm`/`tpm` is checked against
//! the fleet-wide count of the rate limit service (`llm-router serve`, [`crate::capacity`]'s
//! protocol) before it is sent, and the answer's tokens are settled there afterwards. What the
//! service says is kept per deployment in shared data ([`CapacityRecord`]): every worker's
//! planner reads it for usage-based routing, and a spent budget becomes a cooldown with cause
//! `limit` (the plan skips the deployment until its minute ends, without asking again).
//!
//! A round trip per request would cost more than the check may (≤ 100 µs): while the service's
//! count is recent ([`RECENT_COUNT_MS`]), an attempt is admitted from it in shared data (one
//! less left, one more to settle) and the deployment's root contexts settle the admitted
//! attempts and the answers' tokens in one call every [`SETTLEMENT_PERIOD_MS`], which also
//! brings the count back, other gateways' attempts included. Only an attempt without a recent
//! count (the first of a minute, or after a quiet second) waits for the service.
//!
//! Failing open: a call that cannot be made, an error or a timeout lets the attempt go
//! unchecked (`llm_router_ratelimit_unavailable_total`); residency is decided before, by the
//! plan, and never depends on the check.

use super::{shared, stat, Host, SharedWrite, UpstreamDeployment};
use crate::capacity::{self, LimitAnswer, LimitCheck, LimitKind};

/// Attempts at a compare-and-swap before giving up (another worker kept writing the key).
const CAS_ATTEMPTS: usize = 8;

/// How long the service's last count admits attempts without asking it. Gateways sharing a
/// budget see each other's attempts within about a settlement period, so near the limit they
/// may admit a few more than it between them (the e2e test allows ±2 in 20).
pub const RECENT_COUNT_MS: u64 = 1_000;
/// How often a deployment's root context settles what was admitted and used.
pub const SETTLEMENT_PERIOD_MS: u64 = 100;

/// Why a deployment was cooled down, as the `cause` label of `llm_router_cooldowns_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownCause {
    /// `allowed_fails` failures within a minute: `cooldown_time`.
    Failures,
    /// The provider's 429/503 said how long (`retry-after` and the like).
    ProviderRetryAfter,
    /// The deployment's rpm/tpm budget for this minute is spent (the rate limit service).
    Limit,
}

impl CooldownCause {
    pub const ALL: [CooldownCause; 3] =
        [CooldownCause::Failures, CooldownCause::ProviderRetryAfter, CooldownCause::Limit];

    pub fn label(self) -> &'static str {
        match self {
            CooldownCause::Failures => "failures",
            CooldownCause::ProviderRetryAfter => "provider_retry_after",
            CooldownCause::Limit => "limit",
        }
    }
}

/// `llm_router_cooldowns_total.<labels>.cause.<cause>`.
pub fn cooldown_stat(labels: &str, cause: CooldownCause) -> String {
    stat("llm_router_cooldowns_total", &format!("{labels}.cause.{}", cause.label()))
}

/// What is known of one deployment's capacity, shared by every worker.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CapacityRecord {
    /// The rate limit service's last word on each budget: (remaining, limit) this minute.
    pub rpm: Option<(u64, u64)>,
    pub tpm: Option<(u64, u64)>,
    /// When the minute those counts belong to ends; after it they say nothing.
    pub counts_until_ms: u64,
    /// The provider's own remaining-quota signal ([`capacity::share_factor`]) and until when
    /// it holds (a minute after it was seen: providers' quotas are per minute).
    pub share_factor: Option<f64>,
    pub share_until_ms: u64,
    /// When the service last gave the counts (they admit attempts for [`RECENT_COUNT_MS`]).
    pub counted_at_ms: u64,
    /// Attempts admitted from `rpm` since, not yet settled with the service (already taken
    /// off `rpm`'s remaining).
    pub rpm_unsettled: u64,
}

const NONE: u64 = u64::MAX;
const RECORD_LEN: usize = 9 * 8;
/// How long a provider's share signal is believed without a newer answer.
pub const SHARE_SIGNAL_MS: u64 = 60_000;

impl CapacityRecord {
    /// Anything unreadable is "nothing known" (never a reason to refuse traffic).
    pub fn decode(bytes: &[u8]) -> CapacityRecord {
        if bytes.len() != RECORD_LEN {
            return CapacityRecord::default();
        }
        let at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        let pair = |i: usize| (at(i) != NONE && at(i + 1) != NONE).then(|| (at(i), at(i + 1)));
        CapacityRecord {
            rpm: pair(0),
            tpm: pair(2),
            counts_until_ms: at(4),
            share_factor: (at(5) != NONE).then(|| at(5) as f64 / 1e6),
            share_until_ms: at(6),
            counted_at_ms: at(7),
            rpm_unsettled: at(8),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let (rr, rl) = self.rpm.unwrap_or((NONE, NONE));
        let (tr, tl) = self.tpm.unwrap_or((NONE, NONE));
        let share = self.share_factor.map_or(NONE, |f| (f.clamp(0.0, 1.0) * 1e6).round() as u64);
        [rr, rl, tr, tl, self.counts_until_ms, share, self.share_until_ms, self.counted_at_ms, self.rpm_unsettled]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    /// The larger used share of the two budgets this minute, 0 to 1; 0 once the minute ended
    /// or when nothing is known.
    pub fn used_share(&self, now_ms: u64) -> f64 {
        if now_ms >= self.counts_until_ms {
            return 0.0;
        }
        [self.rpm, self.tpm]
            .iter()
            .flatten()
            .filter(|(_, limit)| *limit > 0)
            .map(|(remaining, limit)| 1.0 - (*remaining).min(*limit) as f64 / *limit as f64)
            .fold(0.0, f64::max)
    }

    /// A budget of this minute is known to be spent.
    pub fn is_spent(&self, now_ms: u64) -> bool {
        now_ms < self.counts_until_ms && [self.rpm, self.tpm].iter().flatten().any(|(left, _)| *left == 0)
    }

    /// The provider's share signal while it holds, else 1.
    pub fn weight_factor(&self, now_ms: u64) -> f64 {
        match self.share_factor {
            Some(f) if now_ms < self.share_until_ms => f.clamp(capacity::MIN_SHARE_FACTOR, 1.0),
            _ => 1.0,
        }
    }
}

fn capacity_key(deployment_id: &str) -> String {
    format!("llm-router/capacity/{deployment_id}")
}

fn pending_tokens_key(deployment_id: &str) -> String {
    format!("llm-router/tpm-pending/{deployment_id}")
}

pub fn capacity(host: &impl Host, deployment_id: &str) -> CapacityRecord {
    host.shared_get(&capacity_key(deployment_id)).0.map(|b| CapacityRecord::decode(&b)).unwrap_or_default()
}

/// Read-modify-write of a deployment's record, retried on a concurrent write.
fn update_capacity(host: &mut impl Host, deployment_id: &str, change: impl Fn(&mut CapacityRecord)) {
    let key = capacity_key(deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let mut record = bytes.map(|b| CapacityRecord::decode(&b)).unwrap_or_default();
        change(&mut record);
        match host.shared_set(&key, &record.encode(), cas) {
            SharedWrite::CasMismatch => continue,
            SharedWrite::Written | SharedWrite::Failed => return,
        }
    }
}

/// A 2xx answer's remaining-quota headers: the deployment's weight shrinks while its
/// provider's quota is nearly spent.
pub fn record_share_signal(host: &mut impl Host, deployment_id: &str, factor: f64, now_ms: u64) {
    update_capacity(host, deployment_id, |r| {
        r.share_factor = Some(factor);
        r.share_until_ms = now_ms.saturating_add(SHARE_SIGNAL_MS);
    });
}

/// A deployment an attempt is about to go to, as the limit check needs it (from the router's
/// table or the upstream role's config).
#[derive(Debug, Clone, Copy)]
pub struct LimitTarget<'a> {
    pub deployment_id: &'a str,
    pub region: &'a str,
    /// `model.M.deployment.D.region.R` for stat names.
    pub labels: &'a str,
    pub rpm_limit: u64,
    pub tpm_limit: u64,
    /// The cluster of the rate limit service; empty = nothing is counted (static render).
    pub cluster: &'a str,
    pub timeout_ms: u64,
}

impl<'a> LimitTarget<'a> {
    pub fn of_upstream(dep: &'a UpstreamDeployment) -> LimitTarget<'a> {
        let cfg = &dep.cfg;
        LimitTarget {
            deployment_id: &cfg.deployment_id,
            region: &cfg.region,
            labels: &dep.labels,
            rpm_limit: cfg.rpm_limit,
            tpm_limit: cfg.tpm_limit,
            cluster: &cfg.ratelimit_cluster,
            timeout_ms: cfg.ratelimit_timeout_ms,
        }
    }

    pub fn of_planned(d: &'a crate::Deployment, table: &'a crate::RouterTable) -> LimitTarget<'a> {
        LimitTarget {
            deployment_id: &d.id,
            region: &d.region,
            labels: &d.labels,
            rpm_limit: d.rpm_limit,
            tpm_limit: d.tpm_limit,
            cluster: &table.ratelimit_cluster,
            timeout_ms: table.ratelimit_timeout_ms,
        }
    }
}

/// The budgets an attempt is checked against: one rpm hit (the attempt itself; refused and
/// not counted when it does not fit) and a tpm look-up (does one more token fit?).
pub fn attempt_checks<'a>(t: &LimitTarget<'a>) -> Vec<LimitCheck<'a>> {
    let mut checks = Vec::new();
    if t.cluster.is_empty() {
        return checks;
    }
    if t.rpm_limit > 0 {
        checks.push(LimitCheck { deployment: t.deployment_id, kind: LimitKind::Rpm, hits: 1, sent: false });
    }
    if t.tpm_limit > 0 {
        checks.push(LimitCheck { deployment: t.deployment_id, kind: LimitKind::Tpm, hits: 0, sent: false });
    }
    checks
}

/// How an attempt's limit check starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStart {
    /// No limit to check, or the check cannot be made (fail open): send the attempt.
    Go,
    /// Waiting for the service's answer to this call.
    Pending(u32),
    /// The deployment is already known to be spent: refuse without asking.
    Spent { wait_ms: u64 },
}

/// What the service's answer means for the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckEnd {
    Go,
    Spent { wait_ms: u64 },
}

/// Starts an attempt's check: skip it when the deployment has no limit, refuse at once when
/// another attempt already found the budget spent, decide from the service's recent count
/// when there is one, else ask the service.
pub fn start_attempt_check(host: &mut impl Host, t: &LimitTarget<'_>) -> CheckStart {
    let checks = attempt_checks(t);
    if checks.is_empty() {
        return CheckStart::Go;
    }
    let now = host.now_ms();
    let health = shared::health(host, t.deployment_id);
    if health.is_cooling_down(now) {
        // Planned before the cooldown began (another worker's attempt found the budget spent,
        // or the provider asked for a pause): it would be refused or throttled.
        return CheckStart::Spent { wait_ms: health.cooldown_until_ms - now };
    }
    if let Some(decision) = admit_from_recent_count(host, t, now) {
        return decision;
    }
    let request = capacity::encode_rate_limit_request(&checks);
    let (service, method) = (capacity::RATE_LIMIT_SERVICE, capacity::RATE_LIMIT_METHOD);
    match host.grpc_call(t.cluster, service, method, &request, t.timeout_ms) {
        Some(token) => CheckStart::Pending(token),
        None => {
            unavailable(host, t, "the call could not be made");
            CheckStart::Go
        }
    }
}

/// Reads the service's answer to an attempt's check (`grpc_status` 0 = OK; `body` the
/// response message): keeps the counts, and on `OVER_LIMIT` cools the deployment down
/// (cause `limit`) until its minute ends.
pub fn finish_attempt_check(host: &mut impl Host, t: &LimitTarget<'_>, grpc_status: u32, body: &[u8]) -> CheckEnd {
    let Some(answer) = read_answer(host, t, grpc_status, body) else { return CheckEnd::Go };
    let kinds = attempt_checks(t).iter().map(|c| c.kind).collect::<Vec<_>>();
    match keep_answer(host, t, &kinds, &answer) {
        Some(wait_ms) => CheckEnd::Spent { wait_ms },
        None => CheckEnd::Go,
    }
}

/// Decides an attempt from the service's count when it is recent: refused when a budget it
/// checks is spent; else admitted, one less left of rpm and one more attempt to settle. None
/// when the count is too old or lacks a budget (the service is asked).
fn admit_from_recent_count(host: &mut impl Host, t: &LimitTarget<'_>, now: u64) -> Option<CheckStart> {
    let key = capacity_key(t.deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let mut r = CapacityRecord::decode(&bytes?);
        let recent = now < r.counts_until_ms && now.saturating_sub(r.counted_at_ms) <= RECENT_COUNT_MS;
        let (rpm, tpm) = (t.rpm_limit > 0, t.tpm_limit > 0);
        if !recent || (rpm && r.rpm.is_none()) || (tpm && r.tpm.is_none()) {
            return None;
        }
        let spent = |budget: Option<(u64, u64)>| budget.is_some_and(|(left, _)| left == 0);
        if (rpm && spent(r.rpm)) || (tpm && spent(r.tpm)) {
            let wait_ms = r.counts_until_ms - now;
            start_limit_cooldown(host, t, now, wait_ms);
            return Some(CheckStart::Spent { wait_ms });
        }
        if !rpm {
            return Some(CheckStart::Go);
        }
        r.rpm = r.rpm.map(|(left, limit)| (left - 1, limit));
        r.rpm_unsettled += 1;
        match host.shared_set(&key, &r.encode(), cas) {
            SharedWrite::CasMismatch => continue,
            SharedWrite::Written => return Some(CheckStart::Go),
            SharedWrite::Failed => return None,
        }
    }
    None
}

/// A decoded answer, or None after counting why the check failed open.
fn read_answer(host: &mut impl Host, t: &LimitTarget<'_>, grpc_status: u32, body: &[u8]) -> Option<LimitAnswer> {
    if grpc_status != 0 {
        unavailable(host, t, &format!("gRPC status {grpc_status}"));
        return None;
    }
    let Some(answer) = capacity::decode_rate_limit_response(body) else {
        unavailable(host, t, "an unreadable answer");
        return None;
    };
    if answer.statuses.iter().all(|s| s.limit.is_none()) {
        // The service knows no limit for a deployment that has one: its counting backend
        // failed (it answers OK without a limit) or it has not applied this config yet.
        unavailable(host, t, "no count (the service's backend failed open)");
    }
    Some(answer)
}

/// Keeps what an answer says of each budget (`kinds`: the checks' kinds, in order), sets the
/// remaining gauges, and on OVER_LIMIT starts a `limit` cooldown. Returns the wait when the
/// budget is spent.
fn keep_answer(host: &mut impl Host, t: &LimitTarget<'_>, kinds: &[LimitKind], answer: &LimitAnswer) -> Option<u64> {
    let now = host.now_ms();
    let id = t.deployment_id;
    let mut wait_ms: Option<u64> = None;
    let mut counts: Vec<(LimitKind, u64, u64, u64)> = Vec::new();
    for (kind, status) in kinds.iter().zip(&answer.statuses) {
        if let (Some(remaining), Some(limit)) = (status.remaining, status.limit) {
            counts.push((*kind, remaining, limit, status.reset_ms.unwrap_or(0)));
            let gauge = match kind {
                LimitKind::Rpm => "llm_router_deployment_rpm_remaining",
                LimitKind::Tpm => "llm_router_deployment_tpm_remaining",
            };
            host.set_gauge(&stat(gauge, t.labels), remaining);
        }
        if status.over_limit {
            // The window's end; a service that gave none is asked again in a second.
            let wait = status.reset_ms.unwrap_or(1_000).max(1);
            wait_ms = Some(wait_ms.map_or(wait, |w| w.max(wait)));
        }
    }
    if !counts.is_empty() {
        update_capacity(host, id, |r| {
            for &(kind, remaining, limit, reset_ms) in &counts {
                match kind {
                    // Attempts admitted here since the call are not in the service's count yet.
                    LimitKind::Rpm => {
                        let counted = remaining.saturating_sub(r.rpm_unsettled);
                        // Two workers' settlements can be answered out of order; within one
                        // minute the count only falls, so a larger one is the older answer.
                        let same_minute = now < r.counts_until_ms;
                        r.rpm = Some(match r.rpm {
                            Some((left, _)) if same_minute => (left.min(counted), limit),
                            _ => (counted, limit),
                        });
                    }
                    LimitKind::Tpm => r.tpm = Some((remaining, limit)),
                }
                r.counts_until_ms = now.saturating_add(reset_ms);
            }
            // Both budgets of the deployment are always asked for together.
            r.counted_at_ms = now;
        });
    }
    let wait_ms = wait_ms?;
    start_limit_cooldown(host, t, now, wait_ms);
    Some(wait_ms)
}

/// The deployment's budget is spent for `wait_ms`: the plans skip it until then.
fn start_limit_cooldown(host: &mut impl Host, t: &LimitTarget<'_>, now: u64, wait_ms: u64) {
    if shared::cool_down_until(host, t.deployment_id, now.saturating_add(wait_ms)) {
        host.add_counter(&cooldown_stat(t.labels, CooldownCause::Limit), 1);
        host.log_warn(&format!(
            "llm-router: deployment {} ({}) is at its rate limit; skipped for {wait_ms} ms",
            t.deployment_id, t.region
        ));
    }
}

fn unavailable(host: &mut impl Host, t: &LimitTarget<'_>, why: &str) {
    host.add_counter(&stat("llm_router_ratelimit_unavailable_total", t.labels), 1);
    host.log_warn(&format!("llm-router: rate limit check for deployment {} failed open: {why}", t.deployment_id));
}

/// An answer's tokens, to be settled with the service by the deployment's root context
/// ([`settle`]): a call from the stream's own context would be cancelled when
/// the stream ends, which is right after the usage is known.
pub fn add_pending_tokens(host: &mut impl Host, dep: &UpstreamDeployment, tokens: u64) {
    if tokens == 0 || dep.cfg.tpm_limit == 0 || dep.cfg.ratelimit_cluster.is_empty() {
        return;
    }
    let key = pending_tokens_key(&dep.cfg.deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let pending = bytes.as_deref().map(read_u64).unwrap_or(0);
        match host.shared_set(&key, &pending.saturating_add(tokens).to_le_bytes(), cas) {
            SharedWrite::CasMismatch => continue,
            SharedWrite::Written | SharedWrite::Failed => return,
        }
    }
}

fn read_u64(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map(u64::from_le_bytes).unwrap_or(0)
}

/// Takes every worker's pending tokens of the deployment (one worker wins them).
fn take_pending_tokens(host: &mut impl Host, deployment_id: &str) -> u64 {
    let key = pending_tokens_key(deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let pending = bytes.as_deref().map(read_u64).unwrap_or(0);
        if pending == 0 {
            return 0;
        }
        match host.shared_set(&key, &0u64.to_le_bytes(), cas) {
            SharedWrite::CasMismatch => continue,
            SharedWrite::Failed => return 0,
            SharedWrite::Written => return pending,
        }
    }
    0
}

/// Takes the attempts admitted from the recent count and not yet settled (one worker wins them).
fn take_unsettled_attempts(host: &mut impl Host, deployment_id: &str) -> u64 {
    let key = capacity_key(deployment_id);
    for _ in 0..CAS_ATTEMPTS {
        let (bytes, cas) = host.shared_get(&key);
        let Some(bytes) = bytes else { return 0 };
        let mut r = CapacityRecord::decode(&bytes);
        let taken = r.rpm_unsettled;
        if taken == 0 {
            return 0;
        }
        r.rpm_unsettled = 0;
        match host.shared_set(&key, &r.encode(), cas) {
            SharedWrite::CasMismatch => continue,
            SharedWrite::Failed => return 0,
            SharedWrite::Written => return taken,
        }
    }
    0
}

/// The budgets a settlement reports on, in the order of its descriptors.
fn settlement_kinds(dep: &UpstreamDeployment) -> Vec<LimitKind> {
    let cfg = &dep.cfg;
    let mut kinds = Vec::with_capacity(2);
    if cfg.rpm_limit > 0 {
        kinds.push(LimitKind::Rpm);
    }
    if cfg.tpm_limit > 0 {
        kinds.push(LimitKind::Tpm);
    }
    kinds
}

/// Settles with the service what every worker admitted and used at the deployment since the
/// last settlement (attempts admitted from the recent count; answers' tokens) in one call,
/// whose answer brings the count back. The call's token, or None when there was nothing to
/// settle or the call could not be made (then what was taken is put back for the next tick).
pub fn settle(host: &mut impl Host, dep: &UpstreamDeployment) -> Option<u32> {
    let cfg = &dep.cfg;
    let kinds = settlement_kinds(dep);
    if kinds.is_empty() || cfg.ratelimit_cluster.is_empty() {
        return None;
    }
    let id = cfg.deployment_id.as_str();
    let attempts = if cfg.rpm_limit > 0 { take_unsettled_attempts(host, id) } else { 0 };
    let tokens = if cfg.tpm_limit > 0 { take_pending_tokens(host, id) } else { 0 };
    if attempts == 0 && tokens == 0 {
        return None;
    }
    // A budget with nothing to settle is looked up (0 hits), so the answer renews both counts.
    let checks: Vec<LimitCheck<'_>> = kinds
        .iter()
        .map(|&kind| match kind {
            LimitKind::Rpm => LimitCheck { deployment: id, kind, hits: attempts, sent: true },
            LimitKind::Tpm => LimitCheck { deployment: id, kind, hits: tokens, sent: false },
        })
        .collect();
    let request = capacity::encode_rate_limit_request(&checks);
    let (service, method) = (capacity::RATE_LIMIT_SERVICE, capacity::RATE_LIMIT_METHOD);
    let token = host.grpc_call(&cfg.ratelimit_cluster, service, method, &request, cfg.ratelimit_timeout_ms);
    if token.is_none() {
        add_pending_tokens(host, dep, tokens);
        if attempts > 0 {
            update_capacity(host, id, |r| r.rpm_unsettled = r.rpm_unsettled.saturating_add(attempts));
        }
    }
    token
}

/// The service's answer to a settlement: the counts, and a `limit` cooldown when the budget is
/// now spent. A failed settlement is counted and not retried (the service may have counted it).
pub fn finish_settlement(host: &mut impl Host, dep: &UpstreamDeployment, grpc_status: u32, body: &[u8]) {
    let t = LimitTarget::of_upstream(dep);
    if let Some(answer) = read_answer(host, &t, grpc_status, body) {
        keep_answer(host, &t, &settlement_kinds(dep), &answer);
    }
}

/// The client's error for an attempt refused at the deployment's limit: a 429 Envoy retries on
/// the next deployment (and the client's answer when it was the last).
pub fn limit_error(deployment_id: &str, wait_ms: u64) -> crate::RequestError {
    crate::RequestError::rate_limited(format!(
        "deployment '{deployment_id}' is at its rate limit for this minute; retry after {} s",
        capacity::retry_after_seconds([wait_ms])
    ))
}
