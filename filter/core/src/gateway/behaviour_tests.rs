//! The gateway's HTTP behaviour end to end on a [`MockHost`]: what the router role answers
//! itself, what it hands Envoy, how it attributes outcomes, and what one upstream attempt sends
//! and returns.

use std::rc::Rc;

use base64::Engine as _;
use llm_router_proto as pb;

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
                pb::Deployment {
                    stream_timeout_ms: 30_000,
                    timeout_ms: 600_000,
                    ..deployment("west", "us-west-2", "us", 1)
                },
                pb::Deployment {
                    stream_timeout_ms: 10_000,
                    timeout_ms: 120_000,
                    ..deployment("east", "us-east-1", "us", 2)
                },
                pb::Deployment {
                    stream_timeout_ms: 5_000,
                    timeout_ms: 60_000,
                    ..deployment("eu", "eu-west-1", "eu", 3)
                },
            ],
        }],
        master_key: master_key.map(|k| pb::MasterKey {
            salt: b"behaviour-test-salt".to_vec(),
            hmac_sha256: crate::auth::hmac_sha256(b"behaviour-test-salt", k).to_vec(),
        }),
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
    // A non-streaming request: each attempt may take the plan's largest timeout (west's), and
    // the answer that times each of its three attempts.
    assert_eq!(host.request_header_str(crate::STREAM_TIMEOUT_HEADER).as_deref(), Some("600000"));
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-timeout-ms").as_deref(), Some("1800000"));
    assert_eq!(host.request_header_str(crate::CLIENT_PATH_HEADER).as_deref(), Some("/v1/chat/completions"));
}

#[test]
fn the_limits_are_the_largest_of_the_plan_s_deployments_and_residency_pins_the_plan() {
    let t = table();
    let body = br#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut host = post("/v1/chat/completions", body, &[("x-llm-residency", "eu")]);
    route(&mut host, &t);
    // Only eu is planned: its own limits, not west's larger ones.
    assert_eq!(host.request_header_str(crate::STREAM_TIMEOUT_HEADER).as_deref(), Some("5000"));
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-timeout-ms").as_deref(), Some("60000"));
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
        (vec![(crate::STREAM_TIMEOUT_HEADER, "1")], "internal_header_not_allowed"),
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
fn a_residency_with_nothing_healthy_is_429_with_retry_after_and_counted_per_zone() {
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[("x-llm-residency", "eu")]);
    for _ in 0..2 {
        shared::record_outcome(&mut host, "eu", crate::health::Outcome::Failure, 1_000_000, 2, 5_000, false);
    }
    host.now_ms = 1_001_500;
    route(&mut host, &t);
    // Cooling down until 1_005_000: the client is told to come back in 4 s (3.5 rounded up),
    // never a 503 that invites an immediate retry.
    assert_eq!(sent_json(&host).0, 429);
    assert_eq!(host.sent_headers, [("retry-after".to_owned(), "4".to_owned())]);
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
fn health_names_why_a_deployment_is_unavailable_by_a_code() {
    let mut west = deployment("west", "us-west-2", "us", 1);
    west.unavailable = pb::Unavailable::VertexTokenRefreshFailed as i32;
    let mut east = deployment("east", "us-east-1", "us", 2);
    // A code from a newer control plane: still unavailable, shown generically.
    east.unavailable = 99;
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        gateway_region: "us-west-2".into(),
        model_groups: vec![pb::ModelGroup {
            name: "claude".into(),
            deployments: vec![west, east, deployment("eu", "eu-west-1", "eu", 3)],
        }],
        ..Default::default()
    };
    let t = Rc::new(RouterTable::compile(&cfg).unwrap());
    let mut host = MockHost::at(1).with_request(&[(":method", "GET"), (":path", "/health")], b"");
    route(&mut host, &t);
    let (_, v) = sent_json(&host);
    let entry = |id: &str| v["deployments"].as_array().unwrap().iter().find(|d| d["id"] == id).cloned().unwrap();
    assert_eq!(
        (entry("west")["unavailable"].as_str(), entry("west")["healthy"].as_bool()),
        (Some("vertex_token_refresh_failed"), Some(false))
    );
    assert_eq!(
        (entry("east")["unavailable"].as_str(), entry("east")["healthy"].as_bool()),
        (Some("unavailable"), Some(false))
    );
    assert!(entry("eu").get("unavailable").is_none(), "{v}");
    assert_eq!(v["status"], "degraded");
}

#[test]
fn a_master_key_with_a_short_salt_or_a_bad_digest_is_refused_at_configure() {
    let mut cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        model_groups: vec![pb::ModelGroup {
            name: "claude".into(),
            deployments: vec![deployment("w", "us-west-2", "us", 1)],
        }],
        master_key: Some(pb::MasterKey { salt: vec![7; 8], hmac_sha256: vec![0; 32] }),
        ..Default::default()
    };
    assert!(RouterTable::compile(&cfg).unwrap_err().contains("salt"));
    cfg.master_key = Some(pb::MasterKey { salt: vec![7; 16], hmac_sha256: vec![0; 31] });
    assert!(RouterTable::compile(&cfg).unwrap_err().contains("32 bytes"));
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
    assert_eq!(host.counter(&format!("llm_router_cooldowns_total.{}.cause.failures", labels("west", "us-west-2"))), 1);
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
    let size = host.request_body.len();
    assert_eq!(a.on_request_body(&mut host, size, true), Action::Continue);
    assert_eq!(host.request_header_str(":authority").as_deref(), Some("bedrock-runtime.us-west-2.amazonaws.com"));
    assert_eq!(host.request_header_str("authorization"), None, "the client's credentials stay at the gateway");
    assert_eq!(host.request_header_str("x-api-key"), None);
    assert_eq!(
        host.request_header_str(":path").as_deref(),
        Some("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream"),
        "from the client's path, not the earlier attempt's"
    );
    let sent: serde_json::Value = serde_json::from_slice(&host.request_body).unwrap();
    assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");
    assert_eq!(host.request_header_str("content-length"), Some(host.request_body.len().to_string()));

    let converse = br#"{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":10,"outputTokens":2,"totalTokens":12}}"#;
    host.respond(&[(":status", "200"), ("content-type", "application/json")], converse, true);
    host.now_ms += 40;
    a.on_response_headers(&mut host, false);
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
    a.on_response_headers(&mut host, false);
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
    assert_eq!(status, 429);
    assert!(v["error"]["message"].as_str().unwrap().contains("zone 'eu'"), "{v}");
    assert_eq!(host.counter("llm_router_residency_unavailable_total.zone.eu"), 1);
    assert_eq!(host.counter("llm_router_residency_unavailable_total.zone._EU_"), 0);
}

#[test]
fn only_the_envoy_control_headers_present_are_removed() {
    let t = table();
    let mut host = post(
        "/v1/chat/completions",
        CHAT,
        &[("x-envoy-upstream-rq-timeout-ms", "1"), ("x-envoy-upstream-rq-per-try-timeout-ms", "1")],
    );
    route(&mut host, &t);
    // The client's limits are gone; the plan's whole-answer limit is set (a non-streaming
    // request: timeout for each of its three attempts).
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-timeout-ms").as_deref(), Some("1800000"));
    assert_eq!(host.request_header_str("x-envoy-upstream-rq-per-try-timeout-ms"), None);
    assert_eq!(host.request_header_str("x-envoy-max-retries").as_deref(), Some("2"));
}

fn attempt_at(provider: &str, model: &str, id: &str, authority: &str) -> UpstreamAttempt {
    let cfg = pb::UpstreamConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        deployment_id: id.into(),
        provider: provider.into(),
        provider_model: model.into(),
        authority: authority.into(),
        region: "us-west-2".into(),
        model_name: "claude".into(),
        ..Default::default()
    };
    UpstreamAttempt::new(Rc::new(UpstreamDeployment::compile(cfg).unwrap()))
}

fn anthropic_attempt() -> UpstreamAttempt {
    attempt_at("anthropic", "claude-3-5-sonnet-20241022", "direct", "api.anthropic.com")
}

/// Runs one attempt's request side on `host` (whose header map earlier attempts may have
/// rewritten, as Envoy's shared map is).
fn send_attempt(a: &mut UpstreamAttempt, host: &mut MockHost, body: &[u8]) {
    host.request_body = body.to_vec();
    assert_eq!(a.on_request_headers(host, false), Action::Pause);
    let size = host.request_body.len();
    assert_eq!(a.on_request_body(host, size, true), Action::Continue, "{:?}", host.sent);
}

fn header_names(host: &MockHost) -> Vec<String> {
    let mut names: Vec<String> = host.request_headers.iter().map(|(k, _)| k.clone()).collect();
    names.sort();
    names
}

const MESSAGES: &[u8] = br#"{"model":"claude","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;

#[test]
fn each_attempt_sends_only_the_allowed_headers_and_the_client_s_provider_headers_survive_other_attempts() {
    let mut host = post(
        "/v1/messages",
        MESSAGES,
        &[
            (":scheme", "http"),
            (":authority", "gateway.internal"),
            ("authorization", "Bearer sk-gateway-master"),
            ("x-api-key", "sk-gateway-master"),
            ("openai-organization", "org-client"),
            ("openai-project", "proj-client"),
            ("x-goog-user-project", "someone-elses-project"),
            ("x-llm-foo", "bar"),
            ("x-llm-residency", "us"),
            ("x-envoy-foo", "bar"),
            ("x-forwarded-for", "203.0.113.9"),
            ("user-agent", "sdk/1.0"),
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("x-request-id", "req-42"),
            (crate::CLIENT_PATH_HEADER, "/v1/messages"),
            ("content-length", "78"),
        ],
    );
    // What Envoy's header-to-metadata filter does before the router.
    host.carry_client_headers();

    let mut a = anthropic_attempt();
    send_attempt(&mut a, &mut host, MESSAGES);
    let mut want = vec![
        ":authority",
        ":method",
        ":path",
        ":scheme",
        "accept",
        "accept-encoding",
        "anthropic-beta",
        "anthropic-version",
        "content-length",
        "content-type",
        "x-request-id",
    ];
    assert_eq!(header_names(&host), want);
    assert_eq!(host.request_header_str("anthropic-beta").as_deref(), Some("prompt-caching-2024-07-31"));
    assert_eq!(host.request_header_str(":authority").as_deref(), Some("api.anthropic.com"));
    assert_eq!(host.request_header_str("x-request-id").as_deref(), Some("req-42"));
    assert_eq!(host.header_map_writes, 1, "the headers are written in one host call");

    // The next attempt, to Bedrock, sees the map as the first left it: the Anthropic headers go.
    let mut b = bedrock_attempt();
    send_attempt(&mut b, &mut host, MESSAGES);
    want.retain(|h| !h.starts_with("anthropic-"));
    assert_eq!(header_names(&host), want);
    assert_eq!(
        host.request_header_str(":path").as_deref(),
        Some("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream"),
        "translated from the client's path, carried in metadata"
    );

    // And a third, to Anthropic again, gets the client's beta header back.
    let mut c = anthropic_attempt();
    send_attempt(&mut c, &mut host, MESSAGES);
    assert_eq!(host.request_header_str("anthropic-beta").as_deref(), Some("prompt-caching-2024-07-31"));
    assert_eq!(host.request_header_str(":path").as_deref(), Some("/v1/messages"));
}

#[test]
fn provider_headers_naming_the_gateway_s_account_are_not_returned() {
    let mut a = anthropic_attempt();
    let mut host = post("/v1/messages", MESSAGES, &[]);
    send_attempt(&mut a, &mut host, MESSAGES);
    host.respond(
        &[
            (":status", "200"),
            ("content-type", "application/json"),
            ("anthropic-organization-id", "0b7c-gateway-org"),
            ("openai-organization", "org-gateway"),
            ("openai-project", "proj_gateway"),
            ("request-id", "req_011"),
            ("x-request-id", "req-42"),
        ],
        b"{}",
        true,
    );
    assert_eq!(a.on_response_headers(&mut host, false), Action::Continue);
    for gone in ["anthropic-organization-id", "openai-organization", "openai-project"] {
        assert_eq!(host.response_header_str(gone), None, "{gone}");
    }
    assert_eq!(host.response_header_str("request-id").as_deref(), Some("req_011"));
    assert_eq!(host.response_header_str("x-request-id").as_deref(), Some("req-42"));
}

#[test]
fn a_provider_refusing_the_gateway_s_credentials_is_a_502_counted_and_logged_by_error_type() {
    let mut a = bedrock_attempt();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    send_attempt(&mut a, &mut host, CHAT);
    let aws_body = br#"{"message":"The security token included in the request is expired"}"#;
    host.respond(
        &[
            (":status", "403"),
            ("content-type", "application/json"),
            ("content-length", &aws_body.len().to_string()),
            ("x-amzn-errortype", "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/"),
            ("x-amzn-requestid", "aws-req-1"),
        ],
        aws_body,
        true,
    );
    host.now_ms += 40;
    assert_eq!(a.on_response_headers(&mut host, false), Action::Pause, "the body names the error: wait for it");
    assert_eq!(host.response_header_str(":status").as_deref(), Some("502"));
    assert_eq!(host.response_header_str("content-length"), None);
    assert_eq!(host.response_header_str("x-amzn-errortype"), None);
    assert_eq!(host.response_header_str("x-amzn-requestid").as_deref(), Some("aws-req-1"));
    let size = host.response_body.len();
    assert_eq!(a.on_response_body(&mut host, size, true), Action::Continue);
    let v: serde_json::Value = serde_json::from_slice(&host.response_body).unwrap();
    assert_eq!(
        (v["error"]["code"].as_str(), v["error"]["type"].as_str()),
        (Some("upstream_auth_failed"), Some("api_error"))
    );
    assert!(!v.to_string().contains("expired"), "the provider's message stays at the gateway: {v}");
    let labels = "model.claude.deployment.west.region.us-west-2";
    assert_eq!(
        host.counter(&format!("llm_router_upstream_auth_failures_total.{labels}.provider_error.ExpiredTokenException")),
        1
    );
    assert_eq!(host.warnings.len(), 1);
    let w = &host.warnings[0];
    assert!(w.contains("west") && w.contains("403") && w.contains("ExpiredTokenException"), "{w}");
    assert!(!w.contains("security token"), "never the body: {w}");
    assert_eq!(shared::latency(&host, "west"), None, "a refusal is not a good answer's first byte");
}

#[test]
fn a_refusal_in_several_chunks_is_read_capped_and_answered_in_the_anthropic_client_s_shape() {
    let mut a = anthropic_attempt();
    let mut host = post("/v1/messages", MESSAGES, &[]);
    send_attempt(&mut a, &mut host, MESSAGES);
    host.respond(&[(":status", "401"), ("content-type", "application/json"), ("www-authenticate", "x")], b"", true);
    assert_eq!(a.on_response_headers(&mut host, false), Action::Pause);
    assert_eq!(host.response_header_str("www-authenticate"), None);
    host.response_body = br#"{"type":"error","error":{"type":"authenti"#.to_vec();
    let size = host.response_body.len();
    assert_eq!(a.on_response_body(&mut host, size, false), Action::Pause);
    assert!(host.response_body.is_empty(), "what was read is not held twice");
    host.response_body = br#"cation_error","message":"invalid x-api-key"}}"#.to_vec();
    let size = host.response_body.len();
    assert_eq!(a.on_response_body(&mut host, size, true), Action::Continue);
    let v: serde_json::Value = serde_json::from_slice(&host.response_body).unwrap();
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("api_error")), "{v}");
    let labels = "model.claude.deployment.direct.region.us-west-2";
    assert_eq!(
        host.counter(&format!("llm_router_upstream_auth_failures_total.{labels}.provider_error.authentication_error")),
        1
    );

    // A refusal with no body at all still becomes a 502 and is counted.
    let mut a = bedrock_attempt();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    send_attempt(&mut a, &mut host, CHAT);
    host.respond(&[(":status", "403"), ("x-amzn-errortype", "AccessDeniedException")], b"", true);
    assert_eq!(a.on_response_headers(&mut host, true), Action::Continue, "nothing to wait for");
    assert_eq!(host.response_header_str(":status").as_deref(), Some("502"));
    let labels = "model.claude.deployment.west.region.us-west-2";
    assert_eq!(
        host.counter(&format!("llm_router_upstream_auth_failures_total.{labels}.provider_error.AccessDeniedException")),
        1
    );

    // A huge refusal is not kept whole.
    let mut a = anthropic_attempt();
    let mut host = post("/v1/messages", MESSAGES, &[]);
    send_attempt(&mut a, &mut host, MESSAGES);
    host.respond(&[(":status", "403")], b"", true);
    a.on_response_headers(&mut host, false);
    for _ in 0..100 {
        host.response_body = vec![b'x'; 64 * 1024];
        assert_eq!(a.on_response_body(&mut host, 64 * 1024, false), Action::Pause);
    }
    host.response_body.clear();
    a.on_response_body(&mut host, 0, true);
    let labels = "model.claude.deployment.direct.region.us-west-2";
    assert_eq!(host.counter(&format!("llm_router_upstream_auth_failures_total.{labels}.provider_error.unknown")), 1);
    assert_eq!(response_status(&host), 502);
}

fn response_status(host: &MockHost) -> u32 {
    host.response_header_str(":status").and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn a_client_s_400_from_the_provider_is_passed_on_and_held_against_no_region() {
    let mut a = bedrock_attempt();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    send_attempt(&mut a, &mut host, CHAT);
    host.respond(
        &[(":status", "400"), ("x-amzn-errortype", "ValidationException")],
        br#"{"message":"messages: too many"}"#,
        true,
    );
    assert_eq!(a.on_response_headers(&mut host, false), Action::Continue);
    assert_eq!(host.response_header_str(":status").and_then(|s| s.parse::<u32>().ok()).unwrap_or(400), 400);
    assert!(host.counters.keys().all(|k| !k.starts_with("llm_router_upstream_auth_failures_total")));

    // The router: a final 400 after one attempt fails no deployment.
    let t = table();
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    let (mut r, _) = route(&mut host, &t);
    host.respond(&[(":status", "400")], b"{}", true);
    r.on_response_headers(&mut host);
    r.on_log(&mut host);
    assert_eq!(host.counter("litellm_errors_total.model.claude.deployment.west.region.us-west-2"), 0);
}

#[test]
fn the_router_holds_a_final_401_or_403_against_the_deployment() {
    let t = table();
    for status in ["401", "403"] {
        let mut host = post("/v1/chat/completions", CHAT, &[]);
        let (mut r, _) = route(&mut host, &t);
        host.respond(&[(":status", status)], b"{}", true);
        r.on_response_headers(&mut host);
        r.on_log(&mut host);
        assert_eq!(host.counter("litellm_errors_total.model.claude.deployment.west.region.us-west-2"), 1, "{status}");
    }
}

const STREAM_CHAT: &[u8] = br#"{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const ANTHROPIC_START: &[u8] =
    b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3}}}\n\n";
const ANTHROPIC_HELLO: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hello\"}}\n\n";
const ANTHROPIC_OVERLOADED: &[u8] =
    b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

/// A streaming OpenAI-form client's attempt at Anthropic (translated), its 200 headers seen.
fn held_anthropic_stream(host: &mut MockHost) -> UpstreamAttempt {
    let mut a = anthropic_attempt();
    send_attempt(&mut a, host, STREAM_CHAT);
    host.respond(&[(":status", "200"), ("content-type", "text/event-stream")], b"", true);
    a
}

/// Hands `a` one chunk of the provider's body, as Envoy does (alone: what was held before is
/// the filter's).
fn chunk(a: &mut UpstreamAttempt, host: &mut MockHost, body: &[u8], end_of_stream: bool) -> Action {
    host.response_body = body.to_vec();
    a.on_response_body(host, body.len(), end_of_stream)
}

#[test]
fn a_streamed_answer_is_held_until_its_first_content_and_timed_there() {
    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = held_anthropic_stream(&mut host);
    host.now_ms += 10;
    assert_eq!(a.on_response_headers(&mut host, false), Action::Pause, "nothing reaches the client yet");
    assert_eq!(shared::latency(&host, "direct"), None, "not timed at the headers");
    host.now_ms += 30;
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_START, false), Action::Pause);
    assert!(host.response_body.is_empty(), "held by the filter, not buffered twice");
    host.now_ms += 60;
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_HELLO, false), Action::Continue);
    let sent = String::from_utf8(host.response_body.clone()).unwrap();
    assert!(sent.contains("\"role\":\"assistant\"") && sent.contains("hello"), "what was held, then the text: {sent}");
    assert_eq!(response_status(&host), 200);
    assert_eq!(shared::latency(&host, "direct").map(|l| l.ewma_ms), Some(100.0), "time to first content");
    // After the release the stream flows as before.
    let stop = b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_eq!(chunk(&mut a, &mut host, stop, true), Action::Continue);
}

#[test]
fn an_error_before_content_is_a_retried_status_with_the_error_in_the_client_s_api() {
    // Overloaded: a 429, which Envoy retries like a 5xx.
    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = held_anthropic_stream(&mut host);
    assert_eq!(a.on_response_headers(&mut host, false), Action::Pause);
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_START, false), Action::Pause);
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_OVERLOADED, true), Action::Continue);
    assert_eq!(response_status(&host), 429);
    assert_eq!(host.response_header_str("content-type").as_deref(), Some("application/json"));
    let (_, v) = (0, serde_json::from_slice::<serde_json::Value>(&host.response_body).unwrap());
    assert_eq!(v["error"]["code"].as_str(), Some("overloaded_error"), "one OpenAI error, no stream: {v}");
    assert_eq!(shared::latency(&host, "direct"), None, "a failure is not timed");

    // Cut short before any content: a 503; what comes after is dropped.
    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = held_anthropic_stream(&mut host);
    a.on_response_headers(&mut host, false);
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_START, true), Action::Continue);
    assert_eq!(response_status(&host), 503);
    let v: serde_json::Value = serde_json::from_slice(&host.response_body).unwrap();
    assert_eq!(v["error"]["code"].as_str(), Some("upstream_stream_truncated"), "{v}");
}

#[test]
fn a_pass_through_stream_is_held_and_failed_over_like_a_translated_one() {
    let openai = || attempt_at("openai", "gpt-4o", "oai", "api.openai.com");
    let role = b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n";
    let text = b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n";
    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = openai();
    send_attempt(&mut a, &mut host, STREAM_CHAT);
    host.respond(&[(":status", "200"), ("content-type", "text/event-stream")], b"", true);
    assert_eq!(a.on_response_headers(&mut host, false), Action::Pause);
    assert_eq!(chunk(&mut a, &mut host, role, false), Action::Pause);
    assert_eq!(chunk(&mut a, &mut host, text, false), Action::Continue);
    assert_eq!(host.response_body, [&role[..], &text[..]].concat(), "the provider's own bytes, all of them");

    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = openai();
    send_attempt(&mut a, &mut host, STREAM_CHAT);
    host.respond(&[(":status", "200"), ("content-type", "text/event-stream")], b"", true);
    a.on_response_headers(&mut host, false);
    chunk(&mut a, &mut host, role, false);
    let error = b"data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n";
    assert_eq!(chunk(&mut a, &mut host, error, false), Action::Continue);
    assert_eq!(response_status(&host), 503);
    let v: serde_json::Value = serde_json::from_slice(&host.response_body).unwrap();
    assert_eq!(v["error"]["message"].as_str(), Some("boom"), "{v}");
    assert_eq!(chunk(&mut a, &mut host, text, true), Action::Continue);
    assert!(host.response_body.is_empty(), "nothing after the failure");

    // A client that does not stream is not held.
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    let mut a = openai();
    send_attempt(&mut a, &mut host, CHAT);
    host.respond(&[(":status", "200"), ("content-type", "application/json")], b"", true);
    assert_eq!(a.on_response_headers(&mut host, false), Action::Continue);
}

#[test]
fn a_held_answer_is_released_at_the_cap_and_an_error_after_content_is_an_error_event() {
    // Role chunks carry no content; past the cap they are let through rather than held.
    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = attempt_at("openai", "gpt-4o", "oai", "api.openai.com");
    send_attempt(&mut a, &mut host, STREAM_CHAT);
    host.respond(&[(":status", "200"), ("content-type", "text/event-stream")], b"", true);
    a.on_response_headers(&mut host, false);
    let roles =
        b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n".repeat(1024);
    let mut chunks = 1;
    while chunk(&mut a, &mut host, &roles, false) == Action::Pause {
        chunks += 1;
        assert!(chunks * roles.len() <= super::upstream::HELD_CAP + roles.len(), "held past the cap");
    }
    assert!(chunks * roles.len() > super::upstream::HELD_CAP, "released only at the cap, after {chunks} chunks");
    assert_eq!(host.response_body.len(), chunks * roles.len(), "everything held is released");

    // After content, a provider error ends the client's stream with an error event.
    let mut host = post("/v1/chat/completions", STREAM_CHAT, &[]);
    let mut a = held_anthropic_stream(&mut host);
    a.on_response_headers(&mut host, false);
    chunk(&mut a, &mut host, &[ANTHROPIC_START, ANTHROPIC_HELLO].concat(), false);
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_OVERLOADED, true), Action::Continue);
    assert_eq!(response_status(&host), 200);
    let sent = String::from_utf8(host.response_body.clone()).unwrap();
    assert!(sent.starts_with("data: {\"error\"") && sent.contains("overloaded_error"), "{sent}");
}

#[test]
fn a_whole_answer_is_assembled_from_a_stream_released_at_its_first_content_and_cut_if_it_fails_after() {
    let stop = b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let whole = || {
        let mut host = post("/v1/chat/completions", CHAT, &[]);
        let mut a = anthropic_attempt();
        send_attempt(&mut a, &mut host, CHAT);
        let sent: serde_json::Value = serde_json::from_slice(&host.request_body).unwrap();
        assert_eq!(sent["stream"], true, "the provider is asked for a stream: {sent}");
        host.respond(&[(":status", "200"), ("content-type", "text/event-stream")], b"", true);
        (host, a)
    };
    let (mut host, mut a) = whole();
    host.now_ms += 10;
    assert_eq!(a.on_response_headers(&mut host, false), Action::Pause, "held until the first content");
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_START, false), Action::Pause);
    host.now_ms += 40;
    // The first content releases the status line; the chunks pass empty (Envoy's per-try idle
    // timer sees each), and the answer is written whole at the end.
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_HELLO, false), Action::Continue);
    assert!(host.response_body.is_empty());
    assert_eq!(response_status(&host), 200);
    assert_eq!(host.response_header_str("content-type").as_deref(), Some("application/json"));
    assert_eq!(shared::latency(&host, "direct").map(|l| l.ewma_ms), Some(50.0), "time to first content");
    assert_eq!(chunk(&mut a, &mut host, stop, true), Action::Continue);
    let v: serde_json::Value = serde_json::from_slice(&host.response_body).unwrap();
    assert_eq!(
        (
            v["object"].as_str(),
            v["choices"][0]["message"]["content"].as_str(),
            v["usage"]["completion_tokens"].as_u64()
        ),
        (Some("chat.completion"), Some("hello"), Some(2)),
        "{v}"
    );
    assert!(!host.reset);

    // An error after the first content: the response is cut, never ended as if whole.
    let (mut host, mut a) = whole();
    a.on_response_headers(&mut host, false);
    chunk(&mut a, &mut host, ANTHROPIC_START, false);
    chunk(&mut a, &mut host, ANTHROPIC_HELLO, false);
    chunk(&mut a, &mut host, ANTHROPIC_OVERLOADED, true);
    assert!(host.reset, "the response is reset");

    // Before any content it is a retried 429, as for a stream.
    let (mut host, mut a) = whole();
    a.on_response_headers(&mut host, false);
    chunk(&mut a, &mut host, ANTHROPIC_START, false);
    assert_eq!(chunk(&mut a, &mut host, ANTHROPIC_OVERLOADED, true), Action::Continue);
    assert_eq!(response_status(&host), 429);
    let failed: u64 = host
        .counters
        .iter()
        .filter(|(k, _)| k.starts_with("llm_router_failed_before_content_total"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed, 1);
}

#[test]
fn a_wildcard_deployment_sends_the_provider_the_client_s_model_in_its_template() {
    let attempt = |model_name: &str, template: &str| {
        let cfg = pb::UpstreamConfig {
            schema_version: llm_router_proto::SCHEMA_VERSION,
            deployment_id: "any".into(),
            provider: "anthropic".into(),
            provider_model: template.into(),
            authority: "api.anthropic.com".into(),
            model_name: model_name.into(),
            ..Default::default()
        };
        UpstreamAttempt::new(Rc::new(UpstreamDeployment::compile(cfg).unwrap()))
    };
    let sent_model = |mut a: UpstreamAttempt, client_model: &str| {
        let body =
            format!(r#"{{"model":"{client_model}","max_tokens":5,"messages":[{{"role":"user","content":"hi"}}]}}"#);
        let mut host = post("/v1/messages", body.as_bytes(), &[(crate::CLIENT_PATH_HEADER, "/v1/messages")]);
        send_attempt(&mut a, &mut host, body.as_bytes());
        let sent: serde_json::Value = serde_json::from_slice(&host.request_body).unwrap();
        sent["model"].as_str().unwrap().to_owned()
    };
    assert_eq!(sent_model(attempt("anthropic/*", "*"), "anthropic/claude-3-7-sonnet"), "claude-3-7-sonnet");
    assert_eq!(sent_model(attempt("claude-*", "claude-*-latest"), "claude-3-7-sonnet"), "claude-3-7-sonnet-latest");
    assert_eq!(sent_model(attempt("*", "claude-3-5-haiku"), "anything"), "claude-3-5-haiku", "no star: as written");
    // A request that is not JSON is the client's error, as for any deployment.
    let mut a = attempt("*", "*");
    let mut host = post("/v1/messages", b"nope", &[]);
    a.on_request_headers(&mut host, false);
    assert_eq!(a.on_request_body(&mut host, 4, true), Action::Pause);
    assert_eq!(sent_json(&host).0, 400);
}

#[test]
fn a_deployment_s_own_cooldown_time_outlasts_the_router_s() {
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        strategy: pb::RoutingStrategy::Priority as i32,
        num_retries: 1,
        allowed_fails: 1,
        cooldown_ms: 5_000,
        model_groups: vec![pb::ModelGroup {
            name: "claude".into(),
            deployments: vec![
                pb::Deployment { cooldown_ms: Some(60_000), ..deployment("west", "us-west-2", "us", 1) },
                deployment("east", "us-east-1", "us", 2),
            ],
        }],
        ..Default::default()
    };
    let t = Rc::new(RouterTable::compile(&cfg).unwrap());
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    let (mut r, _) = route(&mut host, &t);
    host.respond(&[(":status", "503"), ("x-envoy-attempt-count", "2")], b"{}", true);
    r.on_response_headers(&mut host);
    r.on_log(&mut host);
    let now = host.now_ms;
    assert_eq!(shared::health(&host, "west").cooldown_until_ms, now + 60_000, "west's own cooldown_time");
    assert_eq!(shared::health(&host, "east").cooldown_until_ms, now + 5_000, "east has the router's");
}

#[test]
fn a_fallback_a_wildcard_group_serves_sends_its_own_name_in_the_template() {
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        strategy: pb::RoutingStrategy::Priority as i32,
        model_groups: vec![
            pb::ModelGroup { name: "gpt-4o".into(), deployments: vec![deployment("west", "us-west-2", "us", 1)] },
            pb::ModelGroup { name: "anthropic/*".into(), deployments: vec![deployment("east", "us-east-1", "us", 1)] },
        ],
        fallbacks: vec![pb::Fallback {
            model_group: "gpt-4o".into(),
            fallback_groups: vec!["anthropic/claude-3-5-haiku".into()],
        }],
        ..Default::default()
    };
    let t = Rc::new(RouterTable::compile(&cfg).unwrap());
    let body = br#"{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut host = post("/v1/messages", body, &[]);
    route(&mut host, &t);
    assert_eq!(plan_clusters(&host), ["cluster-west", "cluster-east"]);
    let names = host.request_header_str(crate::WILDCARD_MODELS_HEADER);
    assert_eq!(names.as_deref(), Some(r#"{"anthropic/*":"anthropic/claude-3-5-haiku"}"#));

    // The fallback attempt at the wildcard deployment: the name that reached it, not the body's.
    host.carry_client_headers();
    let cfg = pb::UpstreamConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        deployment_id: "east".into(),
        provider: "anthropic".into(),
        provider_model: "*".into(),
        authority: "api.anthropic.com".into(),
        model_name: "anthropic/*".into(),
        ..Default::default()
    };
    let mut a = UpstreamAttempt::new(Rc::new(UpstreamDeployment::compile(cfg).unwrap()));
    send_attempt(&mut a, &mut host, body);
    let sent: serde_json::Value = serde_json::from_slice(&host.request_body).unwrap();
    assert_eq!(sent["model"], "claude-3-5-haiku");

    // A client may not name the models itself.
    let mut host = post("/v1/messages", body, &[(crate::WILDCARD_MODELS_HEADER, r#"{"anthropic/*":"x"}"#)]);
    route(&mut host, &t);
    assert_eq!(sent_json(&host).1["error"]["code"], "internal_header_not_allowed");
}

/// What one request costs in host calls (each a wasm-to-Envoy crossing), for the common case:
/// an OpenAI client, an OpenAI-compatible deployment, a whole answer that comes back whole.
/// Printed for docs/benchmarks.md; the bounds keep a change from adding calls unnoticed.
#[test]
fn host_calls_per_request_stay_within_their_budget() {
    let openai = |id: &str| pb::Deployment {
        provider: "openai".into(),
        provider_model: "gpt-4o".into(),
        stream_timeout_ms: 30_000,
        timeout_ms: 600_000,
        streams_whole_answers: true,
        ..deployment(id, "us-west-2", "us", 1)
    };
    let cfg = pb::RouterConfig {
        schema_version: llm_router_proto::SCHEMA_VERSION,
        strategy: pb::RoutingStrategy::Priority as i32,
        num_retries: 1,
        allowed_fails: 2,
        cooldown_ms: 5_000,
        zones: vec!["us".into()],
        model_groups: vec![pb::ModelGroup { name: "claude".into(), deployments: vec![openai("west")] }],
        ..Default::default()
    };
    let table = Rc::new(RouterTable::compile(&cfg).unwrap());
    let mut host = post("/v1/chat/completions", CHAT, &[]);
    let (mut r, action) = route(&mut host, &table);
    assert_eq!(action, Action::Continue);
    let router_request = host.host_calls();

    let mut a = attempt_at("openai", "gpt-4o", "west", "api.openai.com");
    let before = host.host_calls();
    send_attempt(&mut a, &mut host, CHAT);
    let attempt_request = host.host_calls() - before;
    let answer = br#"{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
    host.respond(&[(":status", "200"), ("content-type", "application/json")], b"", true);
    let before = host.host_calls();
    let _ = a.on_response_headers(&mut host, false);
    let _ = chunk(&mut a, &mut host, answer, true);
    let attempt_response = host.host_calls() - before;

    let before = host.host_calls();
    r.on_response_headers(&mut host);
    r.on_log(&mut host);
    let router_response = host.host_calls() - before;
    println!(
        "host calls: router request {router_request}, attempt request {attempt_request}, attempt response {attempt_response}, router response and log {router_response}; by kind {:?}",
        host.calls.borrow()
    );
    assert!(router_request <= 16, "router request side: {router_request}");
    assert!(attempt_request <= 12, "attempt request side: {attempt_request}");
    assert!(attempt_response <= 12, "attempt response side: {attempt_response}");
    assert!(router_response <= 16, "router response side: {router_response}");
}
