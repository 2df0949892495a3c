//! Capacity on a [`MockHost`]: each attempt's check with the fleet-wide rate limit service,
//! what a spent budget and a provider's `retry-after` do to the plan, and the tokens settled.

use std::rc::Rc;

use llm_router_proto as pb;

use super::limits::{self, CapacityRecord};
use super::mock::MockHost;
use super::{shared, Action, RouterRequest, UpstreamAttempt, UpstreamDeployment};
use crate::capacity::{self, LimitCheck, LimitKind};
use crate::RouterTable;

const NOW: u64 = 1_000_000;
const CHAT: &[u8] = br#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;
const LABELS: &str = "model.claude.deployment.limited.region.us-west-2";

fn limited(rpm: u64, tpm: u64, cluster: &str) -> Rc<UpstreamDeployment> {
    let cfg = pb::UpstreamConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        deployment_id: "limited".into(),
        provider: "openai".into(),
        provider_model: "gpt-4o".into(),
        authority: "api.openai.com".into(),
        region: "us-west-2".into(),
        model_name: "claude".into(),
        rpm_limit: rpm,
        tpm_limit: tpm,
        ratelimit_cluster: cluster.into(),
        ratelimit_timeout_ms: 100,
        ..Default::default()
    };
    Rc::new(UpstreamDeployment::compile(cfg).unwrap())
}

fn request_host() -> MockHost {
    MockHost::at(NOW).with_request(
        &[(":method", "POST"), (":path", "/v1/chat/completions"), ("content-type", "application/json")],
        CHAT,
    )
}

/// Runs an attempt's request side; returns what the body callback answered.
fn send(a: &mut UpstreamAttempt, host: &mut MockHost) -> Action {
    assert_eq!(a.on_request_headers(host, false), Action::Pause);
    let size = host.request_body.len();
    a.on_request_body(host, size, true)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn field_varint(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

/// A `RateLimitResponse`: per status (over limit, limit, remaining, seconds to reset).
fn answer(statuses: &[(bool, u64, u64, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    let over = statuses.iter().any(|s| s.0);
    field_varint(&mut out, 1, if over { 2 } else { 1 });
    for &(over, limit, remaining, reset_s) in statuses {
        let mut s = Vec::new();
        field_varint(&mut s, 1, if over { 2 } else { 1 });
        let mut l = Vec::new();
        field_varint(&mut l, 1, limit);
        field_varint(&mut l, 2, 2); // MINUTE
        field_bytes(&mut s, 2, &l);
        if remaining > 0 {
            field_varint(&mut s, 3, remaining);
        }
        let mut d = Vec::new();
        field_varint(&mut d, 1, reset_s);
        field_bytes(&mut s, 4, &d);
        field_bytes(&mut out, 2, &s);
    }
    out
}

#[test]
fn an_attempt_at_a_limited_deployment_asks_for_one_request_and_a_token_look_up_then_goes() {
    let dep = limited(20, 1000, "llm_router_xds");
    let mut host = request_host();
    let mut a = UpstreamAttempt::new(dep);
    assert_eq!(send(&mut a, &mut host), Action::Pause, "waits for the check");
    let (cluster, method, message, timeout) = host.grpc_calls[0].clone();
    assert_eq!(
        (cluster.as_str(), method.as_str(), timeout),
        ("llm_router_xds", "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit", 100)
    );
    let want = capacity::encode_rate_limit_request(&[
        LimitCheck { deployment: "limited", kind: LimitKind::Rpm, hits: 1, sent: false },
        LimitCheck { deployment: "limited", kind: LimitKind::Tpm, hits: 0, sent: false },
    ]);
    assert_eq!(message, want);
    assert!(host.request_header_str(":path").is_some_and(|p| p.ends_with("/chat/completions")), "translated first");

    host.now_ms = NOW + 5;
    a.on_limit_answer(&mut host, 1, 0, &answer(&[(false, 20, 7, 30), (false, 1000, 400, 30)]));
    assert_eq!(host.resumed, 1);
    assert_eq!(host.sent, None);
    assert_eq!(host.gauges.get(&format!("llm_router_deployment_rpm_remaining.{LABELS}")), Some(&7));
    assert_eq!(host.gauges.get(&format!("llm_router_deployment_tpm_remaining.{LABELS}")), Some(&400));
    let record = limits::capacity(&host, "limited");
    assert_eq!((record.rpm, record.tpm), (Some((7, 20)), Some((400, 1000))));
    assert_eq!(record.used_share(NOW + 10), 0.65, "the larger used share: 13 of 20 requests");
    assert_eq!(record.used_share(NOW + 5 + 30_000), 0.0, "the next minute starts unused");
}

#[test]
fn over_the_limit_the_attempt_is_a_429_with_retry_after_and_the_deployment_is_skipped_until_its_minute_ends() {
    let dep = limited(20, 0, "llm_router_xds");
    let mut host = request_host();
    let mut a = UpstreamAttempt::new(dep.clone());
    assert_eq!(send(&mut a, &mut host), Action::Pause);
    a.on_limit_answer(&mut host, 99, 0, &answer(&[(true, 20, 0, 12)]));
    assert_eq!(host.sent, None, "another call's answer is not this attempt's");
    a.on_limit_answer(&mut host, 1, 0, &answer(&[(true, 20, 0, 12)]));
    let (status, body) = host.sent.clone().unwrap();
    assert_eq!(status, 429);
    assert_eq!(host.sent_headers, [("retry-after".to_owned(), "12".to_owned())]);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert_eq!(host.resumed, 0);
    assert_eq!(host.counter(&format!("llm_router_limit_rejections_total.{LABELS}")), 1);
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{LABELS}.cause.limit")), 1);
    assert!(shared::health(&host, "limited").is_cooling_down(NOW + 11_999));
    assert!(!shared::health(&host, "limited").is_cooling_down(NOW + 12_000));
    // Its own 429 passes untouched (not read as the provider's throttling).
    host.respond(&[(":status", "429"), ("retry-after", "12")], b"{}", false);
    assert_eq!(a.on_response_headers(&mut host, false), Action::Continue);
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{LABELS}.cause.provider_retry_after")), 0);

    // The next attempt there (planned before the cooldown began) is refused without a call.
    let mut host2 = request_host();
    host2.shared = host.shared.clone();
    host2.now_ms = NOW + 2_000;
    let mut b = UpstreamAttempt::new(dep);
    assert_eq!(send(&mut b, &mut host2), Action::Pause);
    assert!(host2.grpc_calls.is_empty());
    assert_eq!(host2.sent.as_ref().map(|s| s.0), Some(429));
    assert_eq!(host2.sent_headers, [("retry-after".to_owned(), "10".to_owned())]);
}

#[test]
fn the_check_fails_open_on_errors_and_is_not_made_without_a_cluster() {
    // A gRPC error (14 UNAVAILABLE, or a timeout) lets the attempt go, counted.
    let mut host = request_host();
    let mut a = UpstreamAttempt::new(limited(20, 0, "llm_router_xds"));
    assert_eq!(send(&mut a, &mut host), Action::Pause);
    a.on_limit_answer(&mut host, 1, 14, b"");
    assert_eq!((host.resumed, host.sent.is_none()), (1, true));
    assert_eq!(host.counter(&format!("llm_router_ratelimit_unavailable_total.{LABELS}")), 1);
    // The service answering without a count (its Redis is down) is counted the same.
    let mut host = request_host();
    let mut a = UpstreamAttempt::new(limited(20, 0, "llm_router_xds"));
    send(&mut a, &mut host);
    a.on_limit_answer(&mut host, 1, 0, &[0x08, 1, 0x12, 2, 0x08, 1]);
    assert_eq!(host.resumed, 1);
    assert_eq!(host.counter(&format!("llm_router_ratelimit_unavailable_total.{LABELS}")), 1);
    // A call that cannot be started.
    let mut host = MockHost { grpc_refused: true, ..request_host() };
    let mut a = UpstreamAttempt::new(limited(20, 0, "llm_router_xds"));
    assert_eq!(send(&mut a, &mut host), Action::Continue);
    assert_eq!(host.counter(&format!("llm_router_ratelimit_unavailable_total.{LABELS}")), 1);
    // A static render has no rate limit service: nothing is asked.
    let mut host = request_host();
    let mut a = UpstreamAttempt::new(limited(20, 1000, ""));
    assert_eq!(send(&mut a, &mut host), Action::Continue);
    assert!(host.grpc_calls.is_empty());
}

#[test]
fn a_provider_s_retry_after_sets_the_cooldown_and_its_quota_headers_lower_the_weight() {
    let mut host = request_host();
    let mut a = UpstreamAttempt::new(limited(0, 0, ""));
    assert_eq!(send(&mut a, &mut host), Action::Continue);
    host.respond(&[(":status", "429"), ("retry-after", "4")], b"{}", true);
    a.on_response_headers(&mut host, false);
    let health = shared::health(&host, "limited");
    assert_eq!(health.cooldown_until_ms, NOW + 4_000, "the provider's 4 s, not cooldown_time");
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{LABELS}.cause.provider_retry_after")), 1);
    // The router's failure accounting of the same attempt changes nothing.
    assert!(!shared::record_outcome(&mut host, "limited", crate::health::Outcome::Failure, NOW + 1, 1, 1_000, false));
    assert_eq!(shared::health(&host, "limited").cooldown_until_ms, NOW + 4_000);

    let mut host = request_host();
    let mut a = UpstreamAttempt::new(limited(0, 0, ""));
    send(&mut a, &mut host);
    host.respond(
        &[
            (":status", "200"),
            ("content-type", "text/event-stream"),
            ("x-ratelimit-remaining-tokens", "2000"),
            ("x-ratelimit-limit-tokens", "100000"),
        ],
        b"",
        true,
    );
    a.on_response_headers(&mut host, false);
    let record = limits::capacity(&host, "limited");
    assert_eq!(record.weight_factor(NOW), 0.2, "2% left: a fifth of its weight");
    assert_eq!(record.weight_factor(NOW + limits::SHARE_SIGNAL_MS), 1.0, "a minute later it is forgotten");
}

#[test]
fn answered_tokens_are_settled_by_the_root_context_and_can_spend_the_budget() {
    let dep = limited(0, 1000, "llm_router_xds");
    let mut host = MockHost::at(NOW);
    limits::add_pending_tokens(&mut host, &dep, 300);
    limits::add_pending_tokens(&mut host, &dep, 450);
    assert_eq!(limits::settle(&mut host, &dep), Some(1));
    let want = capacity::encode_rate_limit_request(&[LimitCheck {
        deployment: "limited",
        kind: LimitKind::Tpm,
        hits: 750,
        sent: false,
    }]);
    assert_eq!(host.grpc_calls[0].2, want);
    assert_eq!(limits::settle(&mut host, &dep), None, "taken once");
    limits::finish_settlement(&mut host, &dep, 0, &answer(&[(true, 1000, 0, 20)]));
    assert!(shared::health(&host, "limited").is_cooling_down(NOW + 19_999));
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{LABELS}.cause.limit")), 1);
    // A call that cannot start keeps the tokens for the next tick.
    let mut host = MockHost { grpc_refused: true, ..MockHost::at(NOW) };
    limits::add_pending_tokens(&mut host, &dep, 10);
    assert_eq!(limits::settle(&mut host, &dep), None);
    host.grpc_refused = false;
    assert_eq!(limits::settle(&mut host, &dep), Some(1));
}

fn usage_table() -> Rc<RouterTable> {
    let dep = |id: &str, region: &str| pb::Deployment {
        id: id.into(),
        cluster: format!("cluster-{id}"),
        region: region.into(),
        zone: "us".into(),
        provider: "openai".into(),
        provider_model: "gpt-4o".into(),
        weight: 1,
        rpm_limit: 20,
        ..Default::default()
    };
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        strategy: pb::RoutingStrategy::UsageBased as i32,
        num_retries: 1,
        cooldown_ms: 1_000,
        zones: vec!["us".into()],
        model_groups: vec![pb::ModelGroup {
            name: "claude".into(),
            deployments: vec![dep("busy", "us-west-2"), dep("idle", "us-east-1")],
        }],
        ..Default::default()
    };
    Rc::new(RouterTable::compile(&cfg).unwrap())
}

fn keep(host: &mut MockHost, id: &str, record: CapacityRecord) {
    host.shared.insert(format!("llm-router/capacity/{id}"), (record.encode(), 1));
}

#[test]
fn usage_based_routing_puts_the_least_used_share_first() {
    let t = usage_table();
    for seed in 0..20 {
        let mut host = request_host();
        let minute = NOW + 30_000;
        keep(&mut host, "busy", CapacityRecord { rpm: Some((2, 20)), counts_until_ms: minute, ..Default::default() });
        keep(&mut host, "idle", CapacityRecord { rpm: Some((15, 20)), counts_until_ms: minute, ..Default::default() });
        let mut r = RouterRequest::new(t.clone(), seed);
        assert_eq!(r.on_request_headers(&mut host, false), Action::Pause);
        assert_eq!(r.on_request_body(&mut host, CHAT.len(), true), Action::Continue);
        let plan = host.request_header_str(crate::ROUTE_PLAN_HEADER).unwrap();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, plan).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let (idle, busy) = (text.find("cluster-idle").unwrap(), text.find("cluster-busy").unwrap());
        assert!(idle < busy, "seed {seed}: {text}");
    }
}

#[test]
fn when_every_deployment_is_spent_the_client_gets_429_with_the_first_availability() {
    let t = usage_table();
    let mut host = request_host();
    shared::cool_down_until(&mut host, "busy", NOW + 41_200);
    shared::cool_down_until(&mut host, "idle", NOW + 7_300);
    let mut r = RouterRequest::new(t, 1);
    r.on_request_headers(&mut host, false);
    assert_eq!(r.on_request_body(&mut host, CHAT.len(), true), Action::Pause);
    let (status, body) = host.sent.clone().unwrap();
    assert_eq!(status, 429);
    assert_eq!(host.sent_headers, [("retry-after".to_owned(), "8".to_owned())]);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
    assert_eq!(host.counter("llm_router_rejected_requests_total.code.rate_limit_exceeded"), 1);
}

#[test]
fn capacity_records_round_trip_and_garbage_reads_as_nothing_known() {
    let r = CapacityRecord {
        rpm: Some((3, 20)),
        tpm: None,
        counts_until_ms: 5,
        share_factor: Some(0.25),
        share_until_ms: 9,
        counted_at_ms: 4,
        rpm_unsettled: 2,
    };
    assert_eq!(CapacityRecord::decode(&r.encode()), r);
    assert_eq!(CapacityRecord::decode(b"junk"), CapacityRecord::default());
    assert_eq!(CapacityRecord::default().weight_factor(0), 1.0);
    assert_eq!(CapacityRecord::default().used_share(0), 0.0);
}

#[test]
fn a_limit_cooldown_never_shortens_a_longer_one() {
    let mut host = MockHost::at(NOW);
    assert!(shared::cool_down_until(&mut host, "d", NOW + 10_000));
    assert!(!shared::cool_down_until(&mut host, "d", NOW + 5_000));
    assert_eq!(shared::health(&host, "d").cooldown_until_ms, NOW + 10_000);
    assert_eq!(shared::health(&host, "d").cooldowns, 1);
}

fn limited_first_table(with_backup: bool) -> Rc<RouterTable> {
    let dep = |id: &str, priority: u32, rpm: u64| pb::Deployment {
        id: id.into(),
        cluster: format!("cluster-{id}"),
        region: "us-west-2".into(),
        zone: "us".into(),
        provider: "openai".into(),
        provider_model: "gpt-4o".into(),
        priority,
        weight: 1,
        rpm_limit: rpm,
        ..Default::default()
    };
    let mut deployments = vec![dep("limited", 1, 20)];
    if with_backup {
        deployments.push(dep("backup", 2, 0));
    }
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        strategy: pb::RoutingStrategy::Priority as i32,
        num_retries: 1,
        cooldown_ms: 1_000,
        zones: vec!["us".into()],
        model_groups: vec![pb::ModelGroup { name: "claude".into(), deployments }],
        ratelimit_cluster: "llm_router_xds".into(),
        ratelimit_timeout_ms: 100,
        ..Default::default()
    };
    Rc::new(RouterTable::compile(&cfg).unwrap())
}

fn planned_clusters(host: &MockHost) -> String {
    let plan = host.request_header_str(crate::ROUTE_PLAN_HEADER).unwrap_or_default();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, plan).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn the_router_checks_the_plan_s_first_deployment_and_spills_over_when_it_is_spent() {
    let t = limited_first_table(true);
    let mut host = request_host();
    let mut r = RouterRequest::new(t.clone(), 1);
    r.on_request_headers(&mut host, false);
    assert_eq!(r.on_request_body(&mut host, CHAT.len(), true), Action::Pause, "waits for the check");
    let want = capacity::encode_rate_limit_request(&[LimitCheck {
        deployment: "limited",
        kind: LimitKind::Rpm,
        hits: 1,
        sent: false,
    }]);
    assert_eq!(host.grpc_calls[0].2, want);
    assert_eq!(host.request_header_str(crate::ROUTE_PLAN_HEADER), None, "nothing handed to Envoy yet");
    r.on_limit_answer(&mut host, 1, 0, &answer(&[(true, 20, 0, 30)]));
    assert_eq!(host.resumed, 1);
    let plan = planned_clusters(&host);
    assert!(plan.contains("cluster-backup") && !plan.contains("cluster-limited"), "{plan}");
    assert_eq!(host.request_header_str("x-envoy-max-retries").as_deref(), Some("0"));
    let labels = "model.claude.deployment.limited.region.us-west-2";
    assert_eq!(host.counter(&format!("llm_router_spillover_total.{labels}")), 1);
    assert_eq!(host.counter(&format!("llm_router_limit_rejections_total.{labels}")), 1);
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{labels}.cause.limit")), 1);

    // The next request plans without it and without asking (the backup has no limit).
    let mut next = request_host();
    next.shared = host.shared.clone();
    let mut r = RouterRequest::new(t.clone(), 2);
    r.on_request_headers(&mut next, false);
    assert_eq!(r.on_request_body(&mut next, CHAT.len(), true), Action::Continue);
    assert!(next.grpc_calls.is_empty());

    // When it fits, the plan keeps both, in order.
    let mut host = request_host();
    let mut r = RouterRequest::new(t, 3);
    r.on_request_headers(&mut host, false);
    r.on_request_body(&mut host, CHAT.len(), true);
    r.on_limit_answer(&mut host, 1, 0, &answer(&[(false, 20, 19, 30)]));
    let plan = planned_clusters(&host);
    assert!(plan.find("cluster-limited") < plan.find("cluster-backup"), "{plan}");
    assert_eq!(host.request_header_str("x-envoy-max-retries").as_deref(), Some("1"));
}

#[test]
fn a_sole_spent_deployment_is_a_429_with_retry_after_and_an_unreachable_service_lets_it_go() {
    let t = limited_first_table(false);
    let mut host = request_host();
    let mut r = RouterRequest::new(t.clone(), 1);
    r.on_request_headers(&mut host, false);
    r.on_request_body(&mut host, CHAT.len(), true);
    r.on_limit_answer(&mut host, 1, 0, &answer(&[(true, 20, 0, 42)]));
    assert_eq!(host.sent.as_ref().map(|s| s.0), Some(429));
    assert_eq!(host.sent_headers, [("retry-after".to_owned(), "42".to_owned())]);
    assert_eq!(host.resumed, 0);

    let mut host = request_host();
    let mut r = RouterRequest::new(t, 1);
    r.on_request_headers(&mut host, false);
    r.on_request_body(&mut host, CHAT.len(), true);
    r.on_limit_answer(&mut host, 1, 4, b"");
    assert_eq!((host.resumed, host.sent.is_none()), (1, true), "DEADLINE_EXCEEDED: fail open");
    assert!(planned_clusters(&host).contains("cluster-limited"));
}

#[test]
fn the_first_attempt_is_not_checked_again_upstream() {
    let mut host = request_host();
    host.request_headers.push(("x-envoy-attempt-count".into(), b"1".to_vec()));
    let mut a = UpstreamAttempt::new(limited(20, 1000, "llm_router_xds"));
    assert_eq!(send(&mut a, &mut host), Action::Continue);
    assert!(host.grpc_calls.is_empty());
    // A retry there is.
    let mut host = request_host();
    host.request_headers.push(("x-envoy-attempt-count".into(), b"2".to_vec()));
    let mut a = UpstreamAttempt::new(limited(20, 1000, "llm_router_xds"));
    assert_eq!(send(&mut a, &mut host), Action::Pause);
    assert_eq!(host.grpc_calls.len(), 1);
}

/// A router request for the limited-first table, run up to its plan; returns the body's action.
fn route(t: &Rc<RouterTable>, host: &mut MockHost, seed: u64) -> Action {
    let mut r = RouterRequest::new(t.clone(), seed);
    r.on_request_headers(host, false);
    let action = r.on_request_body(host, CHAT.len(), true);
    if action == Action::Pause && !host.grpc_calls.is_empty() && host.sent.is_none() {
        // Waits for the service: answer it with 7 of 20 left, 30 s of the minute to go.
        let token = host.grpc_calls.len() as u32;
        r.on_limit_answer(host, token, 0, &answer(&[(false, 20, 7, 30)]));
    }
    action
}

#[test]
fn a_recent_count_admits_attempts_without_a_call_and_one_settlement_counts_them() {
    let t = limited_first_table(true);
    let mut host = request_host();
    assert_eq!(route(&t, &mut host, 1), Action::Pause, "no count yet: the service is asked");
    assert_eq!(host.grpc_calls.len(), 1);
    for (n, seed) in (2..5).enumerate() {
        host.now_ms = NOW + 100 * (n as u64 + 1);
        assert_eq!(
            route(&t, &mut host, seed),
            Action::Continue,
            "admitted from the count of {} ms ago",
            host.now_ms - NOW
        );
        assert!(planned_clusters(&host).contains("cluster-limited"));
    }
    assert_eq!(host.grpc_calls.len(), 1, "no call for the three after the first");
    let record = limits::capacity(&host, "limited");
    assert_eq!((record.rpm, record.rpm_unsettled), (Some((4, 20)), 3));

    // The deployment's root context settles the three in one call, marked as already sent.
    let dep = limited(20, 0, "llm_router_xds");
    assert_eq!(limits::settle(&mut host, &dep), Some(2));
    let want = capacity::encode_rate_limit_request(&[LimitCheck {
        deployment: "limited",
        kind: LimitKind::Rpm,
        hits: 3,
        sent: true,
    }]);
    assert_eq!(host.grpc_calls[1].2, want);
    assert_eq!(limits::settle(&mut host, &dep), None, "nothing more to settle");
    // One more admitted while the settlement is under way; then the service's count (which
    // has another gateway's 2 attempts too) comes back, less the one not settled yet.
    host.now_ms = NOW + 450;
    assert_eq!(route(&t, &mut host, 9), Action::Continue);
    limits::finish_settlement(&mut host, &dep, 0, &answer(&[(false, 20, 2, 29)]));
    let record = limits::capacity(&host, "limited");
    assert_eq!((record.rpm, record.rpm_unsettled, record.counted_at_ms), (Some((1, 20)), 1, NOW + 450));

    // A count older than a second admits nothing: the service is asked again.
    host.now_ms = NOW + 450 + limits::RECENT_COUNT_MS + 1;
    let calls = host.grpc_calls.len();
    assert_eq!(route(&t, &mut host, 10), Action::Pause);
    assert_eq!(host.grpc_calls.len(), calls + 1);
}

#[test]
fn a_recent_count_with_nothing_left_spills_over_without_a_call() {
    let t = limited_first_table(true);
    let mut host = request_host();
    let minute_ends = NOW + 20_000;
    keep(
        &mut host,
        "limited",
        CapacityRecord {
            rpm: Some((1, 20)),
            counts_until_ms: minute_ends,
            counted_at_ms: NOW - 50,
            ..Default::default()
        },
    );
    assert_eq!(route(&t, &mut host, 1), Action::Continue);
    assert!(planned_clusters(&host).contains("cluster-limited"), "the last one left");
    let mut next = request_host();
    next.shared = host.shared.clone();
    assert_eq!(route(&t, &mut next, 2), Action::Continue);
    let plan = planned_clusters(&next);
    assert!(plan.contains("cluster-backup") && !plan.contains("cluster-limited"), "{plan}");
    assert!(next.grpc_calls.is_empty());
    let labels = "model.claude.deployment.limited.region.us-west-2";
    assert_eq!(next.counter(&format!("llm_router_spillover_total.{labels}")), 1);
    assert_eq!(next.counter(&format!("llm_router_cooldowns_total.{labels}.cause.limit")), 1);
    assert!(shared::health(&next, "limited").is_cooling_down(minute_ends - 1));
    assert!(!shared::health(&next, "limited").is_cooling_down(minute_ends));
}

#[test]
fn a_settlement_that_cannot_start_keeps_the_attempts_for_the_next_tick() {
    let dep = limited(20, 1000, "llm_router_xds");
    let mut host = MockHost { grpc_refused: true, ..MockHost::at(NOW) };
    keep(
        &mut host,
        "limited",
        CapacityRecord {
            rpm: Some((5, 20)),
            tpm: Some((900, 1000)),
            counts_until_ms: NOW + 9_000,
            rpm_unsettled: 4,
            ..Default::default()
        },
    );
    limits::add_pending_tokens(&mut host, &dep, 25);
    assert_eq!(limits::settle(&mut host, &dep), None);
    host.grpc_refused = false;
    assert_eq!(limits::settle(&mut host, &dep), Some(1));
    let want = capacity::encode_rate_limit_request(&[
        LimitCheck { deployment: "limited", kind: LimitKind::Rpm, hits: 4, sent: true },
        LimitCheck { deployment: "limited", kind: LimitKind::Tpm, hits: 25, sent: false },
    ]);
    assert_eq!(host.grpc_calls[0].2, want);
}
