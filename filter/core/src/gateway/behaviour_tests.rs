//! The gateway's HTTP behaviour end to end on a [`MockHost`]: what the router role answers
//! itself, what it hands Envoy, how it attributes outcomes, and what one upstream attempt sends
//! and returns.

use std::rc::Rc;

use base64::Engine as _;
use llm_router_proto as pb;
use sha2::{Digest, Sha256};

use super::mock::MockHost;
use super::{shared, Action, Host, RouterRequest, UpstreamAttempt, UpstreamDeployment};
use crate::RouterTable;

fn deployment(id: &str, region: &str, zone: &str, priority: u32) -> pb::Deployment {
    pb::Deployment {
        id: id.into(),
        cluster: format!("cluster-{id}"),
        region: region.into(),
        zone: zone.into(),
        provider: "bedrock".into(),
        provider_model: "anthropic.claude-3-5-sonnet-20241022-v2:0".into(),
        priority,
        weight: 1,
        ..Default::default()
    }
}

fn table_with(master_key: Option<&str>) -> Rc<RouterTable> {
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        config_hash: "abc".into(),
        gateway_region: "us-west-2".into(),
        strategy: pb::RoutingStrategy::Priority as i32,
        num_retries: 2,
        allowed_fails: 2,
        cooldown_ms: 5_000,
        zones: vec!["eu".into(), "us".into()],
        model_groups: vec![pb::ModelGroup {
            name: "claude".into(),
            deployments: vec![
                deployment("west", "us-west-2", "us", 1),
                deployment("east", "us-east-1", "us", 2),
                deployment("eu", "eu-west-1", "eu", 3),
            ],
        }],
        first_byte_timeout_ms: 120_000,
        stream_first_byte_timeout_ms: 30_000,
        master_key_sha256: master_key.map(|k| Sha256::digest(k.as_bytes()).to_vec()).unwrap_or_default(),
        ..Default::default()
    };
    Rc::new(RouterTable::compile(&cfg).unwrap())
}

fn table() -> Rc<RouterTable> {
    table_with(None)
}

const CHAT: &[u8] = br#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;

/// Runs the router's request side: headers, then the whole body.
fn route(host: &mut MockHost, table: &Rc<RouterTable>) -> (RouterRequest, Action) {
    let mut r = RouterRequest::new(table.clone(), 7);
    let mut action = r.on_request_headers(host, false);
    if action == Action::Pause && host.sent.is_none() {
        let size = host.request_body.len();
        action = r.on_request_body(host, size, true);
    }
    (r, action)
}

/// A new request on the same gateway: shared data, metrics and the clock carry over.
fn next_request(host: &MockHost, method: &str, path: &str, body: &[u8]) -> MockHost {
    let mut next = MockHost::at(host.now_ms).with_request(&[(":method", method), (":path", path)], body);
    next.shared = host.shared.clone();
    next.counters = host.counters.clone();
    next.histograms = host.histograms.clone();
    next.warnings = host.warnings.clone();
    next
}

fn post(path: &str, body: &[u8], extra: &[(&str, &str)]) -> MockHost {
    let mut headers = vec![(":method", "POST"), (":path", path), ("content-type", "application/json")];
    headers.extend_from_slice(extra);
    MockHost::at(1_000_000).with_request(&headers, body)
}

fn sent_json(host: &MockHost) -> (u32, serde_json::Value) {
    let (status, body) = host.sent.clone().unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn plan_clusters(host: &MockHost) -> Vec<String> {
    let encoded = host.request_header_str(crate::ROUTE_PLAN_HEADER).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    // The clusters appear in the encoded plan in attempt order.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut found: Vec<(usize, String)> = ["cluster-west", "cluster-east", "cluster-eu"]
        .iter()
        .filter_map(|c| text.find(c).map(|i| (i, c.to_string())))
        .collect();
    found.sort();
    found.into_iter().map(|(_, c)| c).collect()
}

#[test]
fn a_model_request_is_planned_and_handed_to_envoy() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[("x-envoy-max-retries", "9"), ("x-envoy-retry-on", "4xx")]);
    let (_, action) = route(&mut host, &t);
    assert_eq!(action, Action::Continue);
    assert!(host.sent.is_none());
    assert_eq!(plan_clusters(&host), ["cluster-west", "cluster-east", "cluster-eu"]);
    assert_eq!(host.request_header_str("x-envoy-max-retries").as_deref(), Some("2"), "the client's value is replaced");
    assert_eq!(host.request_header_str("x-envoy-retry-on"), None, "clients cannot steer Envoy's retries");
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-per-try-timeout-ms").as_deref(), Some("120000"));
    assert_eq!(host.request_header_str(crate::CLIENT_PATH_HEADER).as_deref(), Some("/v1/chat/completions"));
}

#[test]
fn streaming_requests_get_the_stream_first_byte_timeout_and_residency_pins_the_plan() {
    let t = table();
    let body = br#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut host = post("/v1/chat/completions", body, &[("x-llm-residency", "eu")]);
    route(&mut host, &t);
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-per-try-timeout-ms").as_deref(), Some("30000"));
    assert_eq!(plan_clusters(&host), ["cluster-eu"]);
    assert_eq!(host.request_header_str("x-envoy-max-retries").as_deref(), Some("0"));
}

#[test]
fn the_gateway_answers_bad_requests_itself_in_the_client_s_api() {
    let t = table();
    let mut host = post("/v1/chat/completions", br#"{"model":"nope","messages":[]}"#, &[]);
    route(&mut host, &t);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("model_not_found")));
    assert_eq!(host.counter("llm_router_rejected_requests_total.code.model_not_found"), 1);

    let mut host = post("/v1/messages", br#"{"model":"nope","max_tokens":5,"messages":[]}"#, &[]);
    route(&mut host, &t);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["type"].as_str(), v["error"]["type"].as_str().is_some()), (400, Some("error"), true));

    for (headers, code) in [
        (vec![(crate::ROUTE_PLAN_HEADER, "x")], "internal_header_not_allowed"),
        (vec![(crate::CLIENT_PATH_HEADER, "/x")], "internal_header_not_allowed"),
        (vec![("content-length", "999999999")], "request_too_large"),
    ] {
        let mut host = post("/v1/chat/completions", CHAT, &headers);
        route(&mut host, &t);
        assert_eq!(sent_json(&host).1["error"]["code"], code);
    }

    let mut host = MockHost::at(1).with_request(&[(":method", "GET"), (":path", "/v1/chat/completions")], b"");
    route(&mut host, &t);
    assert_eq!(sent_json(&host).0, 405);
    let mut host = MockHost::at(1).with_request(&[(":method", "GET"), (":path", "/admin")], b"");
    route(&mut host, &t);
    assert_eq!(sent_json(&host).0, 404);
}

#[test]
fn a_header_that_is_not_utf8_is_the_client_s_error_not_a_panic() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    host.request_headers.push(("x-llm-residency".into(), vec![0xff, 0xfe]));
    route(&mut host, &t);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_header")));
}

#[test]
fn a_residency_with_nothing_healthy_is_503_and_counted_per_zone() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[("x-llm-residency", "eu")]);
    for _ in 0..2 {
        shared::record_outcome(&mut host, "eu", crate::health::Outcome::Failure, 1_000_000, 2, 5_000, false);
    }
    route(&mut host, &t);
    assert_eq!(sent_json(&host).0, 503);
    assert_eq!(host.counter("llm_router_residency_unavailable_total.zone.eu"), 1);
}

#[test]
fn the_master_key_guards_models_and_model_requests_but_not_health() {
    let t = table_with(Some("sk-gateway"));
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    route(&mut host, &t);
    assert_eq!(sent_json(&host).0, 401);
    let mut host = post("/v1/chat/completions", CHAT, &[("authorization", "Bearer sk-gateway")]);
    assert_eq!(route(&mut host, &t).1, Action::Continue);
    let mut host = MockHost::at(1).with_request(&[(":method", "GET"), (":path", "/v1/models")], b"");
    route(&mut host, &t);
    assert_eq!(sent_json(&host).0, 401);
    let mut host = MockHost::at(1).with_request(&[(":method", "GET"), (":path", "/health")], b"");
    route(&mut host, &t);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["status"].as_str(), v["region"].as_str()), (200, Some("healthy"), Some("us-west-2")));
}

#[test]
fn outcomes_are_attributed_per_attempt_and_the_serving_region_is_named() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    let (mut r, _) = route(&mut host, &t);
    // The first attempt failed; Envoy's retry reached the second deployment, which answered.
    host.respond(&[(":status", "200"), ("x-envoy-attempt-count", "2")], b"{}", true);
    r.on_response_headers(&mut host);
    assert_eq!(host.response_header_str("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(host.response_header_str("x-llm-deployment").as_deref(), Some("east"));
    r.on_log(&mut host);
    let labels = |id: &str, region: &str| format!("model.claude.deployment.{id}.region.{region}");
    assert_eq!(host.counter(&format!("litellm_errors_total.{}", labels("west", "us-west-2"))), 1);
    assert_eq!(host.counter(&format!("litellm_requests_total.{}", labels("east", "us-east-1"))), 1);
    assert_eq!(host.counter(&format!("litellm_errors_total.{}", labels("east", "us-east-1"))), 0);
    assert_eq!(host.histograms.len(), 1, "one duration, for the attempt that served");

    // A second failed request puts the first deployment in cooldown (allowed_fails 2).
    let mut host = next_request(&host, "POST", "/v1/chat/completions", CHAT);
    let (mut r, _) = route(&mut host, &t);
    host.respond(&[(":status", "200"), ("x-envoy-attempt-count", "2")], b"{}", true);
    r.on_response_headers(&mut host);
    r.on_log(&mut host);
    assert!(shared::health(&host, "west").is_cooling_down(host.now_ms + 1));
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{}", labels("west", "us-west-2"))), 1);
    assert_eq!(host.warnings.len(), 1);
    let mut health = next_request(&host, "GET", "/health", b"");
    route(&mut health, &t);
    assert_eq!(sent_json(&health).1["status"], "degraded");
}

#[test]
fn a_response_envoy_made_itself_names_no_region() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    let (mut r, _) = route(&mut host, &t);
    host.respond(&[(":status", "503")], b"no healthy upstream", false);
    r.on_response_headers(&mut host);
    assert_eq!(host.response_header_str("x-llm-region"), None);
    r.on_log(&mut host);
    let west = "model.claude.deployment.west.region.us-west-2";
    assert_eq!(host.counter(&format!("litellm_errors_total.{west}")), 1, "a 503 is a region failure");
}

fn bedrock_attempt() -> UpstreamAttempt {
    let cfg = pb::UpstreamConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        deployment_id: "west".into(),
        provider: "bedrock".into(),
        provider_model: "anthropic.claude-3-5-sonnet-20241022-v2:0".into(),
        authority: "bedrock-runtime.us-west-2.amazonaws.com".into(),
        region: "us-west-2".into(),
        model_name: "claude".into(),
        input_cost_per_token: 0.000003,
        output_cost_per_token: 0.000015,
        ..Default::default()
    };
    UpstreamAttempt::new(Rc::new(UpstreamDeployment::compile(cfg).unwrap()))
}

#[test]
fn an_attempt_speaks_its_deployment_s_api() {
    let mut a = bedrock_attempt();
    let mut host = post(
        "/v1/chat/completions",
        CHAT,
        &[
            ("authorization", "Bearer client-key"),
            ("x-api-key", "client-key"),
            (crate::CLIENT_PATH_HEADER, "/v1/chat/completions"),
            ("content-length", "70"),
        ],
    );
    host.set_request_header(":path", Some("/v1/some/earlier/attempt"));
    assert_eq!(a.on_request_headers(&mut host, false), Action::Pause);
    assert_eq!(host.request_header_str(":authority").as_deref(), Some("bedrock-runtime.us-west-2.amazonaws.com"));
    assert_eq!(host.request_header_str("authorization"), None, "the client's credentials stay at the gateway");
    assert_eq!(host.request_header_str("x-api-key"), None);
    let size = host.request_body.len();
    assert_eq!(a.on_request_body(&mut host, size, true), Action::Continue);
    assert_eq!(
        host.request_header_str(":path").as_deref(),
        Some("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"),
        "from the client's path, not the earlier attempt's"
    );
    let sent: serde_json::Value = serde_json::from_slice(&host.request_body).unwrap();
    assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(host.request_header_str("content-length"), Some(host.request_body.len().to_string()));

    let converse = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":2,"totalTokens":12}}"#;
    host.respond(&[(":status", "200"), ("content-type", "application/json")], converse, true);
    host.now_ms += 40;
    a.on_response_headers(&mut host);
    assert_eq!(shared::latency(&host, "west").map(|l| l.ewma_ms), Some(40.0), "a good answer's first byte is timed");
    let size = host.response_body.len();
    a.on_response_body(&mut host, size, true);
    let answer: serde_json::Value = serde_json::from_slice(&host.response_body).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "hello");
    let labels = "model.claude.deployment.west.region.us-west-2";
    assert_eq!(host.counter(&format!("litellm_input_tokens_total.{labels}")), 10);
    assert_eq!(host.counter(&format!("litellm_output_tokens_total.{labels}")), 2);
    assert_eq!(host.counter(&format!("litellm_spend_microdollars_total.{labels}")), 60);
}

#[test]
fn a_failed_attempt_is_not_timed_and_an_inexpressible_request_is_a_400_in_the_client_s_api() {
    let mut a = bedrock_attempt();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    a.on_request_headers(&mut host, false);
    let size = host.request_body.len();
    a.on_request_body(&mut host, size, true);
    host.respond(&[(":status", "503")], b"", true);
    a.on_response_headers(&mut host);
    assert_eq!(shared::latency(&host, "west"), None);

    let mut a = bedrock_attempt();
    let mut host = post("/v1/embeddings", br#"{"model":"claude","input":"x"}"#, &[]);
    a.on_request_headers(&mut host, false);
    let size = host.request_body.len();
    assert_eq!(a.on_request_body(&mut host, size, true), Action::Pause);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("unsupported_endpoint")));

    let mut a = bedrock_attempt();
    let mut host = post("/v1/messages", br#"{"model":"claude","max_tokens":5,"messages":"nope"}"#, &[]);
    a.on_request_headers(&mut host, false);
    let size = host.request_body.len();
    a.on_request_body(&mut host, size, true);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["type"].as_str()), (400, Some("error")), "Anthropic's error shape: {v}");
}

#[test]
fn two_residency_headers_are_refused_and_zones_are_lower_case() {
    let t = table();
    // A client's header beside a front proxy's: neither may win.
    let mut host = post("/v1/chat/completions", CHAT, &[("x-llm-residency", "eu"), ("x-llm-residency", "us")]);
    route(&mut host, &t);
    let (status, v) = sent_json(&host);
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("duplicate_header")));
    assert_eq!(host.request_header_str(crate::ROUTE_PLAN_HEADER), None, "nothing was planned");

    let mut host = post("/v1/chat/completions", CHAT, &[("x-llm-residency", " EU ")]);
    for _ in 0..2 {
        shared::record_outcome(&mut host, "eu", crate::health::Outcome::Failure, 1_000_000, 2, 5_000, false);
    }
    route(&mut host, &t);
    let (status, v) = sent_json(&host);
    assert_eq!(status, 503);
    assert!(v["error"]["message"].as_str().unwrap().contains("zone 'eu'"), "{v}");
    assert_eq!(host.counter("llm_router_residency_unavailable_total.zone.eu"), 1);
    assert_eq!(host.counter("llm_router_residency_unavailable_total.zone._EU_"), 0);
}

#[test]
fn only_the_envoy_control_headers_present_are_removed() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[("x-envoy-upstream-rq-timeout-ms", "1")]);
    route(&mut host, &t);
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-timeout-ms"), None);
    assert_eq!(host.request_header_str("x-envoy-max-retries").as_deref(), Some("2"));
}
