//! The fleet-wide rpm/tpm counter: Envoy's global rate limit service
//! (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`) on `serve`'s gRPC port, next
//! to ADS, counting on Kuadrant's `limitador` engine: in memory when the config names no Redis,
//! on Redis (`router_settings.redis_*`) when it does, so that gateways naming the same Redis
//! share one count.
//!
//! The protocol, as the filter uses it (`llm_router_core::capacity` writes and reads it):
//! - `domain` `llm_router`; one descriptor per deployment and budget, with the entries
//!   `llm_deployment=<deployment id>` and `llm_limit=rpm|tpm`.
//! - Each descriptor's own `hits_addend` (else the request's; an absent one counts 1):
//!   - 0: a look-up. Nothing is counted; `OVER_LIMIT` when not even one more would fit.
//!   - rpm, n > 0: an attempt. Counted only when it fits, else `OVER_LIMIT` (it is not sent).
//!   - tpm, n > 0: a settlement of n tokens used. Always counted (they were spent); the status
//!     says whether the budget is now spent.
//!   - rpm, n > 0, with the entry `llm_count=sent`: a settlement of n attempts a gateway already
//!     admitted from its own recent view of the count (the filter batches them so that a
//!     request does not wait for the service). Always counted, like tokens.
//! - Each status carries `limit_remaining`, `current_limit` (the budget per minute) and
//!   `duration_until_reset` (the time left in the current 60 s window). A deployment without
//!   that budget gets `OK` with no `current_limit`.
//!
//! Failing open: when the counting backend fails (Redis unreachable), every status is `OK`
//! with no `current_limit`, `llm_router_ratelimit_backend_errors_total` counts it and
//! `llm_router_ratelimit_backend_up` is 0. Traffic is never blocked by a counting outage.
//!
//! Limits are rebuilt from every config `serve` applies ([`LimitsConfig::of`]): a changed
//! rpm/tpm applies at once, and unchanged (and changed) budgets keep their counts.
//!
//! Redis storage: limitador's async Redis storage, one Redis round trip (a Lua script) per
//! check, so gateways sharing a Redis share one exact count. Its cached storage (answers from
//! memory, batched writes) was measured and not chosen: in limitador 0.6 a cached count learns
//! the other gateways' hits only when its cache entry expires (up to 5 s), and two `serve`s
//! sharing an rpm of 20 let 30 of 30 attempts through (tests/ratelimit_service.rs).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    rate_limit::Unit, Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService, RateLimitServiceServer,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use limitador::limit::{Limit, Namespace};
use limitador::storage::redis::{AsyncRedisStorage, CachedRedisStorageBuilder};
use limitador::{AsyncRateLimiter, RateLimiter};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;

/// The only domain counted (the filter's `RATE_LIMIT_DOMAIN`).
pub const DOMAIN: &str = "llm_router";
/// Descriptor entry keys.
pub const DEPLOYMENT_KEY: &str = "llm_deployment";
pub const LIMIT_KEY: &str = "llm_limit";
/// With the value [`SENT`]: the hits were already sent, count them whatever the budget says.
pub const COUNT_KEY: &str = "llm_count";
pub const SENT: &str = "sent";
/// LiteLLM's rpm/tpm are per minute.
pub const WINDOW_SECONDS: u64 = 60;
/// How often the cached Redis storage writes its counts to Redis and learns the others'.
pub const REDIS_FLUSH_PERIOD: Duration = Duration::from_millis(100);
/// How long a Redis command may take before the check fails open.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How often Redis is pinged for `llm_router_ratelimit_backend_up` (and reconnected).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Counters kept in memory (each deployment has at most two).
const CACHE_SIZE: u64 = 100_000;

/// One deployment's budgets per minute, from its `rpm`/`tpm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentLimits {
    pub deployment: String,
    pub model: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// What the counter needs of a config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LimitsConfig {
    pub deployments: Vec<DeploymentLimits>,
    /// `Some(Ok(url))`: count on that Redis; `Some(Err(why))`: the config names a Redis whose
    /// URL cannot be made (an unset variable): fail open; `None`: count in memory.
    pub redis: Option<Result<String, String>>,
}

impl LimitsConfig {
    pub fn of(config: &Config) -> LimitsConfig {
        let deployments = config
            .deployments
            .iter()
            .map(|d| DeploymentLimits { deployment: d.id.clone(), model: d.model_name.clone(), rpm: d.rpm, tpm: d.tpm })
            .collect();
        LimitsConfig { deployments, redis: config.router.redis.as_ref().map(|r| r.url()) }
    }

    /// limitador's limits: one namespace per deployment (a check evaluates only that
    /// deployment's two conditions), one limit per budget.
    pub fn limits(&self) -> Vec<Limit> {
        let mut out = Vec::new();
        for d in &self.deployments {
            for (kind, max) in [("rpm", d.rpm), ("tpm", d.tpm)] {
                if let Some(max) = max {
                    let max = i64::try_from(max).unwrap_or(i64::MAX);
                    let condition = format!("{LIMIT_KEY} == '{kind}'");
                    let mut limit =
                        Limit::new(namespace(&d.deployment), max, WINDOW_SECONDS, [condition], Vec::<String>::new());
                    limit.set_name(format!("{}/{kind}", d.deployment));
                    out.push(limit);
                }
            }
        }
        out
    }
}

fn namespace(deployment: &str) -> Namespace {
    Namespace::from(format!("{DOMAIN}/{deployment}"))
}

/// Sends each applied config's limits to the service (the `serve` side of the channel).
pub type LimitsSender = watch::Sender<Arc<LimitsConfig>>;

/// The counting engine: limitador's blocking in-memory limiter or its async Redis one.
pub enum Engine {
    Memory(RateLimiter),
    Redis(AsyncRateLimiter),
}

impl Engine {
    pub fn memory() -> Engine {
        Engine::Memory(RateLimiter::new(CACHE_SIZE))
    }

    /// limitador's cached Redis storage (checks answered in memory, flushed every
    /// [`REDIS_FLUSH_PERIOD`]); not used by `serve` (see the module's doc), kept for the
    /// measurement.
    pub async fn redis_cached(url: &str) -> Result<Engine, String> {
        let storage = CachedRedisStorageBuilder::new(url)
            .flushing_period(REDIS_FLUSH_PERIOD)
            .response_timeout(REDIS_TIMEOUT)
            .build()
            .await
            .map_err(|e| redacted(&e.to_string(), url))?;
        Ok(Engine::Redis(AsyncRateLimiter::new_with_storage(Box::new(storage))))
    }

    /// limitador's async Redis storage: one Redis round trip per check, exact across gateways
    /// (what `serve` uses).
    pub async fn redis_direct(url: &str) -> Result<Engine, String> {
        let storage = AsyncRedisStorage::new(url).await.map_err(|e| redacted(&e.to_string(), url))?;
        Ok(Engine::Redis(AsyncRateLimiter::new_with_storage(Box::new(storage))))
    }

    async fn configure(&self, limits: Vec<Limit>) -> Result<(), String> {
        match self {
            Engine::Memory(l) => l.configure_with(limits).map_err(|e| e.to_string()),
            Engine::Redis(l) => l.configure_with(limits).await.map_err(|e| e.to_string()),
        }
    }

    /// One descriptor: counts `hits` per the protocol above and returns its status.
    async fn check(&self, deployment: &str, kind: &str, hits: u64, sent: bool) -> Result<DescriptorStatus, String> {
        let ns = namespace(deployment);
        // Both keys always present: a limit's condition on a missing key is an error.
        let values = HashMap::from([
            (DEPLOYMENT_KEY.to_string(), deployment.to_string()),
            (LIMIT_KEY.to_string(), kind.to_string()),
        ]);
        let settle = hits > 0 && (kind == "tpm" || sent);
        let look_only = hits == 0 || settle;
        let delta = i64::try_from(hits).unwrap_or(i64::MAX);
        // A look-up (and the read after a settlement) counts 0 and reads the counters back.
        let counted = if look_only { 0 } else { delta };
        let err = |e: limitador::errors::LimitadorError| e.to_string();
        let mut result = match self {
            Engine::Memory(l) => {
                if settle {
                    l.update_counters(&ns, &values, delta).map_err(err)?;
                }
                l.check_rate_limited_and_update(&ns, &values, counted, true).map_err(err)?
            }
            Engine::Redis(l) => {
                if settle {
                    l.update_counters(&ns, &values, delta).await.map_err(err)?;
                }
                l.check_rate_limited_and_update(&ns, &values, counted, true).await.map_err(err)?
            }
        };
        let Some(counter) = result.counters.pop() else {
            return Ok(DescriptorStatus { code: Code::Ok as i32, ..Default::default() });
        };
        let max = counter.max_value().max(0);
        let remaining = counter.remaining().unwrap_or(max).clamp(0, max);
        // A look-up is OVER_LIMIT when not even one more would fit.
        let over = result.limited || (look_only && remaining == 0);
        let reset = counter.expires_in().unwrap_or(Duration::from_secs(WINDOW_SECONDS));
        Ok(DescriptorStatus {
            code: if over { Code::OverLimit } else { Code::Ok } as i32,
            current_limit: Some(RateLimit {
                name: format!("{deployment}/{kind}"),
                requests_per_unit: u32::try_from(max).unwrap_or(u32::MAX),
                unit: Unit::Minute as i32,
            }),
            limit_remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            duration_until_reset: Some(PbDuration {
                seconds: reset.as_secs() as i64,
                nanos: reset.subsec_nanos() as i32,
            }),
            quota: None,
        })
    }
}

/// A Redis error message without the URL's password.
fn redacted(message: &str, url: &str) -> String {
    match url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).map(|(userinfo, _)| userinfo) {
        Some(userinfo) if !userinfo.is_empty() => message.replace(userinfo, "***"),
        _ => message.to_string(),
    }
}

/// The service's Prometheus metrics (registered in `serve`'s registry).
pub struct RateLimitMetrics {
    /// 1 while the counting backend answers (always 1 in memory).
    pub backend_up: IntGauge,
    /// Checks answered OK because the backend failed, and failed Redis probes.
    pub backend_errors: IntCounter,
    /// Left of each deployment's rpm/tpm this minute, as of the last check.
    pub rpm_remaining: IntGaugeVec,
    pub tpm_remaining: IntGaugeVec,
    /// Each deployment's configured budgets.
    pub rpm_limit: IntGaugeVec,
    pub tpm_limit: IntGaugeVec,
    /// Descriptors answered `OVER_LIMIT`, by deployment and budget.
    pub limit_rejections: IntCounterVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Metric definitions are constants: an error here is a programming error caught by tests.
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

impl RateLimitMetrics {
    pub fn new(registry: &Registry) -> RateLimitMetrics {
        let gauge = |name: &str, help: &str| must(IntGaugeVec::new(Opts::new(name, help), &["model", "deployment"]));
        let m = RateLimitMetrics {
            backend_up: must(IntGauge::new(
                "llm_router_ratelimit_backend_up",
                "1 while the rpm/tpm counting backend (Redis, or memory) answers; 0 while checks fail open",
            )),
            backend_errors: must(IntCounter::new(
                "llm_router_ratelimit_backend_errors_total",
                "rpm/tpm checks answered OK because the counting backend failed, and failed Redis probes",
            )),
            rpm_remaining: gauge(
                "llm_router_deployment_rpm_remaining",
                "Requests left of the deployment's rpm this minute (last check)",
            ),
            tpm_remaining: gauge(
                "llm_router_deployment_tpm_remaining",
                "Tokens left of the deployment's tpm this minute (last check)",
            ),
            rpm_limit: gauge("llm_router_deployment_rpm_limit", "The deployment's rpm (requests per minute)"),
            tpm_limit: gauge("llm_router_deployment_tpm_limit", "The deployment's tpm (tokens per minute)"),
            limit_rejections: must(IntCounterVec::new(
                Opts::new(
                    "llm_router_deployment_limit_rejections_total",
                    "rpm/tpm checks answered OVER_LIMIT (the deployment's budget for the minute is spent)",
                ),
                &["model", "deployment", "limit"],
            )),
        };
        for c in [
            Box::new(m.backend_up.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.backend_errors.clone()),
            Box::new(m.rpm_remaining.clone()),
            Box::new(m.tpm_remaining.clone()),
            Box::new(m.rpm_limit.clone()),
            Box::new(m.tpm_limit.clone()),
            Box::new(m.limit_rejections.clone()),
        ] {
            must(registry.register(c));
        }
        m
    }
}

struct Shared {
    /// None while the configured Redis cannot be reached: checks fail open.
    engine: tokio::sync::RwLock<Option<Arc<Engine>>>,
    metrics: RateLimitMetrics,
    /// deployment id -> model group, for metric labels.
    models: RwLock<HashMap<String, String>>,
}

/// The gRPC service. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiterService {
    shared: Arc<Shared>,
}

impl RateLimiterService {
    /// A service counting on `engine` (None: fail open until one is installed).
    pub fn new(engine: Option<Engine>, registry: &Registry) -> RateLimiterService {
        let metrics = RateLimitMetrics::new(registry);
        metrics.backend_up.set(i64::from(engine.is_some()));
        RateLimiterService {
            shared: Arc::new(Shared {
                engine: tokio::sync::RwLock::new(engine.map(Arc::new)),
                metrics,
                models: RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn into_server(self) -> RateLimitServiceServer<RateLimiterService> {
        RateLimitServiceServer::new(self)
    }

    pub fn metrics(&self) -> &RateLimitMetrics {
        &self.shared.metrics
    }

    /// Applies a config's limits to the current engine and the limit gauges.
    pub async fn configure(&self, cfg: &LimitsConfig) -> Result<(), String> {
        let m = &self.shared.metrics;
        m.rpm_limit.reset();
        m.tpm_limit.reset();
        let mut models = HashMap::new();
        for d in &cfg.deployments {
            let labels = [d.model.as_str(), d.deployment.as_str()];
            if let Some(rpm) = d.rpm {
                m.rpm_limit.with_label_values(&labels).set(i64::try_from(rpm).unwrap_or(i64::MAX));
            }
            if let Some(tpm) = d.tpm {
                m.tpm_limit.with_label_values(&labels).set(i64::try_from(tpm).unwrap_or(i64::MAX));
            }
            models.insert(d.deployment.clone(), d.model.clone());
        }
        *self.shared.models.write().unwrap_or_else(|p| p.into_inner()) = models;
        let engine = self.shared.engine.read().await.clone();
        match engine {
            Some(engine) => engine.configure(cfg.limits()).await,
            None => Ok(()),
        }
    }

    /// Installs (or removes) the engine; the caller configures it first.
    pub async fn set_engine(&self, engine: Option<Arc<Engine>>) {
        *self.shared.engine.write().await = engine;
    }

    fn model_of(&self, deployment: &str) -> String {
        self.shared.models.read().unwrap_or_else(|p| p.into_inner()).get(deployment).cloned().unwrap_or_default()
    }

    /// Answers one request (the gRPC method without the transport).
    pub async fn answer(&self, req: &RateLimitRequest) -> RateLimitResponse {
        let engine = self.shared.engine.read().await.clone();
        let m = &self.shared.metrics;
        let mut statuses = Vec::with_capacity(req.descriptors.len());
        let mut overall = Code::Ok;
        for d in &req.descriptors {
            let (deployment, kind, count) = entries(d);
            let hits = descriptor_hits(d, req.hits_addend);
            let status = match (&engine, req.domain == DOMAIN && !deployment.is_empty()) {
                (_, false) => DescriptorStatus { code: Code::Ok as i32, ..Default::default() },
                (None, true) => {
                    m.backend_errors.inc();
                    DescriptorStatus { code: Code::Ok as i32, ..Default::default() }
                }
                // Redis known to be down (the last check or probe failed): answer at once rather
                // than wait out REDIS_TIMEOUT on every check; the probe brings it back.
                (Some(_), true) if m.backend_up.get() == 0 => {
                    m.backend_errors.inc();
                    DescriptorStatus { code: Code::Ok as i32, ..Default::default() }
                }
                (Some(engine), true) => match engine.check(deployment, kind, hits, count == SENT).await {
                    Ok(s) => s,
                    Err(e) => {
                        warn!(deployment, limit = kind, error = %e, "rate limit check failed; answering OK (fail open)");
                        m.backend_errors.inc();
                        m.backend_up.set(0);
                        DescriptorStatus { code: Code::Ok as i32, ..Default::default() }
                    }
                },
            };
            if status.current_limit.is_some() {
                let model = self.model_of(deployment);
                let labels = [model.as_str(), deployment];
                let remaining = i64::from(status.limit_remaining);
                match kind {
                    "rpm" => m.rpm_remaining.with_label_values(&labels).set(remaining),
                    "tpm" => m.tpm_remaining.with_label_values(&labels).set(remaining),
                    _ => {}
                }
                if status.code == Code::OverLimit as i32 {
                    m.limit_rejections.with_label_values(&[model.as_str(), deployment, kind]).inc();
                    overall = Code::OverLimit;
                }
            }
            statuses.push(status);
        }
        RateLimitResponse { overall_code: overall as i32, statuses, ..Default::default() }
    }
}

/// The descriptor's deployment, budget and how to count (empty when absent).
fn entries(d: &RateLimitDescriptor) -> (&str, &str, &str) {
    let value = |key: &str| d.entries.iter().find(|e| e.key == key).map_or("", |e| e.value.as_str());
    (value(DEPLOYMENT_KEY), value(LIMIT_KEY), value(COUNT_KEY))
}

/// Envoy's rule: the descriptor's `hits_addend` when set (0 allowed), else the request's,
/// where 0 means 1.
fn descriptor_hits(d: &RateLimitDescriptor, request_hits: u32) -> u64 {
    match &d.hits_addend {
        Some(h) => h.value,
        None => u64::from(request_hits.max(1)),
    }
}

#[tonic::async_trait]
impl RateLimitService for RateLimiterService {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.answer(request.get_ref()).await))
    }
}

/// Keeps the service's engine and limits in step with the applied config: builds the engine
/// the config asks for (memory, or Redis, reconnecting every [`PROBE_INTERVAL`] while Redis is
/// unreachable), applies each config's limits, and pings Redis for `backend_up`. Runs until
/// the sender is dropped.
pub async fn follow_config(service: RateLimiterService, mut configs: watch::Receiver<Arc<LimitsConfig>>) {
    let mut backend: Option<Option<Result<String, String>>> = None; // the backend the engine is for
    let mut probe: Option<redis::aio::MultiplexedConnection> = None;
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cfg = configs.borrow_and_update().clone();
        let connected = service.shared.engine.read().await.is_some();
        if backend.as_ref() != Some(&cfg.redis) || !connected {
            if backend.as_ref() != Some(&cfg.redis) {
                service.set_engine(None).await;
                probe = None;
            }
            let engine = match &cfg.redis {
                None => Ok(Engine::memory()),
                Some(Ok(url)) => Engine::redis_direct(url).await,
                Some(Err(why)) => Err(why.clone()),
            };
            match engine {
                Ok(engine) => {
                    if let Err(e) = engine.configure(cfg.limits()).await {
                        warn!(error = %e, "applying rate limits");
                    }
                    service.set_engine(Some(Arc::new(engine))).await;
                    service.metrics().backend_up.set(1);
                    info!(backend = if cfg.redis.is_some() { "redis" } else { "memory" }, "rpm/tpm counting ready");
                }
                Err(e) => {
                    if backend.as_ref() != Some(&cfg.redis) {
                        warn!(error = %e, "rpm/tpm counting backend unavailable; checks answer OK until it is back");
                    }
                    service.metrics().backend_errors.inc();
                    service.metrics().backend_up.set(0);
                }
            }
            backend = Some(cfg.redis.clone());
        }
        if let Err(e) = service.configure(&cfg).await {
            warn!(error = %e, "applying rate limits");
        }
        loop {
            tokio::select! {
                changed = configs.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                _ = tick.tick() => {
                    let Some(Ok(url)) = &cfg.redis else { continue };
                    if !service.shared.engine.read().await.is_some() {
                        break; // reconnect
                    }
                    let up = ping(&mut probe, url).await;
                    if !up {
                        service.metrics().backend_errors.inc();
                    }
                    service.metrics().backend_up.set(i64::from(up));
                }
            }
        }
    }
}

/// PINGs Redis within [`REDIS_TIMEOUT`], (re)connecting when needed.
async fn ping(conn: &mut Option<redis::aio::MultiplexedConnection>, url: &str) -> bool {
    if conn.is_none() {
        let Ok(client) = redis::Client::open(url) else { return false };
        match tokio::time::timeout(REDIS_TIMEOUT * 2, client.get_multiplexed_async_connection()).await {
            Ok(Ok(c)) => *conn = Some(c),
            _ => return false,
        }
    }
    let Some(c) = conn.as_mut() else { return false };
    let pong: Result<Result<String, redis::RedisError>, _> =
        tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("PING").query_async(c)).await;
    let up = matches!(pong, Ok(Ok(_)));
    if !up {
        *conn = None; // reconnect on the next probe
    }
    up
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
    use envoy_types::pb::google::protobuf::UInt64Value;

    fn descriptor(deployment: &str, kind: &str, hits: Option<u64>) -> RateLimitDescriptor {
        RateLimitDescriptor {
            entries: vec![
                Entry { key: DEPLOYMENT_KEY.into(), value: deployment.into() },
                Entry { key: LIMIT_KEY.into(), value: kind.into() },
            ],
            hits_addend: hits.map(|value| UInt64Value { value }),
            ..Default::default()
        }
    }

    fn request(descriptors: Vec<RateLimitDescriptor>) -> RateLimitRequest {
        RateLimitRequest { domain: DOMAIN.into(), descriptors, hits_addend: 0 }
    }

    fn limits(rpm: Option<u64>, tpm: Option<u64>) -> LimitsConfig {
        LimitsConfig {
            deployments: vec![DeploymentLimits { deployment: "d1".into(), model: "m".into(), rpm, tpm }],
            redis: None,
        }
    }

    async fn memory_service(cfg: &LimitsConfig) -> RateLimiterService {
        let s = RateLimiterService::new(Some(Engine::memory()), &Registry::new());
        s.configure(cfg).await.unwrap();
        s
    }

    #[tokio::test]
    async fn rpm_allows_its_budget_then_answers_over_limit_with_a_reset() {
        let s = memory_service(&limits(Some(3), None)).await;
        for left in [2, 1, 0] {
            let r = s.answer(&request(vec![descriptor("d1", "rpm", None)])).await;
            assert_eq!(r.overall_code, Code::Ok as i32);
            assert_eq!(r.statuses[0].limit_remaining, left);
        }
        let r = s.answer(&request(vec![descriptor("d1", "rpm", Some(1))])).await;
        assert_eq!(r.overall_code, Code::OverLimit as i32);
        let reset = r.statuses[0].duration_until_reset.unwrap();
        assert!(reset.seconds > 0 && reset.seconds <= 60, "{reset:?}");
        assert_eq!(r.statuses[0].current_limit.as_ref().unwrap().requests_per_unit, 3);
        assert_eq!(s.metrics().limit_rejections.with_label_values(&["m", "d1", "rpm"]).get(), 1);
        assert_eq!(s.metrics().rpm_remaining.with_label_values(&["m", "d1"]).get(), 0);
    }

    #[tokio::test]
    async fn a_look_up_counts_nothing_and_a_tpm_settlement_always_counts() {
        let s = memory_service(&limits(Some(1), Some(100))).await;
        for _ in 0..3 {
            let r = s.answer(&request(vec![descriptor("d1", "rpm", Some(0)), descriptor("d1", "tpm", Some(0))])).await;
            assert_eq!(r.overall_code, Code::Ok as i32);
            assert_eq!((r.statuses[0].limit_remaining, r.statuses[1].limit_remaining), (1, 100));
        }
        let r = s.answer(&request(vec![descriptor("d1", "tpm", Some(60))])).await;
        assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (Code::Ok as i32, 40));
        // 60 more than the 40 left: counted anyway (the tokens were used), now spent.
        let r = s.answer(&request(vec![descriptor("d1", "tpm", Some(60))])).await;
        assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (Code::OverLimit as i32, 0));
        let r = s.answer(&request(vec![descriptor("d1", "tpm", Some(0))])).await;
        assert_eq!(r.overall_code, Code::OverLimit as i32);
    }

    #[tokio::test]
    async fn attempts_already_sent_are_counted_whatever_the_budget_says() {
        let s = memory_service(&limits(Some(5), None)).await;
        let mut sent = descriptor("d1", "rpm", Some(3));
        sent.entries.push(Entry { key: COUNT_KEY.into(), value: SENT.into() });
        let r = s.answer(&request(vec![sent.clone()])).await;
        assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (Code::Ok as i32, 2));
        // 3 more than the 2 left: an attempt would be refused, attempts already sent are not.
        let r = s.answer(&request(vec![sent])).await;
        assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (Code::OverLimit as i32, 0));
        let r = s.answer(&request(vec![descriptor("d1", "rpm", Some(1))])).await;
        assert_eq!(r.overall_code, Code::OverLimit as i32, "the count is past the budget: 6 of 5");
    }

    #[tokio::test]
    async fn unknown_deployments_domains_and_unlimited_budgets_are_ok_without_a_limit() {
        let s = memory_service(&limits(Some(1), None)).await;
        for req in [
            request(vec![descriptor("other", "rpm", None)]),
            request(vec![descriptor("d1", "tpm", Some(500))]),
            RateLimitRequest {
                domain: "else".into(),
                descriptors: vec![descriptor("d1", "rpm", None)],
                hits_addend: 5,
            },
        ] {
            let r = s.answer(&req).await;
            assert_eq!(r.overall_code, Code::Ok as i32);
            assert_eq!(r.statuses.len(), 1);
            assert!(r.statuses[0].current_limit.is_none());
        }
    }

    #[tokio::test]
    async fn a_new_config_changes_a_budget_at_once_and_keeps_its_count() {
        let s = memory_service(&limits(Some(5), None)).await;
        for _ in 0..3 {
            s.answer(&request(vec![descriptor("d1", "rpm", None)])).await;
        }
        s.configure(&limits(Some(4), None)).await.unwrap();
        let r = s.answer(&request(vec![descriptor("d1", "rpm", Some(0))])).await;
        assert_eq!(r.statuses[0].limit_remaining, 1);
        assert_eq!(r.statuses[0].current_limit.as_ref().unwrap().requests_per_unit, 4);
        s.configure(&limits(Some(3), None)).await.unwrap();
        let r = s.answer(&request(vec![descriptor("d1", "rpm", None)])).await;
        assert_eq!(r.overall_code, Code::OverLimit as i32);
        s.configure(&limits(None, None)).await.unwrap();
        let r = s.answer(&request(vec![descriptor("d1", "rpm", None)])).await;
        assert_eq!(r.overall_code, Code::Ok as i32);
        assert!(r.statuses[0].current_limit.is_none());
    }

    #[tokio::test]
    async fn without_an_engine_every_check_fails_open_and_is_counted() {
        let s = RateLimiterService::new(None, &Registry::new());
        s.configure(&limits(Some(1), None)).await.unwrap();
        for _ in 0..3 {
            let r = s.answer(&request(vec![descriptor("d1", "rpm", None)])).await;
            assert_eq!(r.overall_code, Code::Ok as i32);
        }
        assert_eq!(s.metrics().backend_errors.get(), 3);
        assert_eq!(s.metrics().backend_up.get(), 0);
    }

    #[test]
    fn limits_come_from_each_deployment_s_rpm_and_tpm() {
        let yaml = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/a\n      api_base: http://127.0.0.1:1/v1\n      rpm: 20\n  - model_name: m\n    litellm_params:\n      model: openai/b\n      api_base: http://127.0.0.1:2/v1\n      tpm: 1000\n";
        let cfg = LimitsConfig::of(&crate::config::load_str(yaml, "f.yaml").unwrap().config);
        let ids: Vec<&str> = cfg.deployments.iter().map(|d| d.deployment.as_str()).collect();
        assert_eq!(ids.len(), 2);
        let got: Vec<(Option<u64>, Option<u64>)> = cfg.deployments.iter().map(|d| (d.rpm, d.tpm)).collect();
        assert_eq!(got, vec![(Some(20), None), (None, Some(1000))]);
        let limits = cfg.limits();
        assert_eq!(limits.iter().map(|l| (l.max_value(), l.seconds())).collect::<Vec<_>>(), vec![(20, 60), (1000, 60)]);
        assert_eq!(limits[0].name(), Some(format!("{}/rpm", ids[0]).as_str()));
        assert_eq!(cfg.redis, None);
    }

    #[test]
    fn redis_errors_never_show_the_password() {
        assert_eq!(
            redacted("cannot reach redis://:s3cret@h:1/", "redis://:s3cret@h:1/"),
            "cannot reach redis://***@h:1/"
        );
    }
}
