//! Bad input gets the right 4xx in OpenAI's error shape, and nothing else is affected: the
//! filter never panics, whatever a client sends.

mod common;

use common::{chat_body, Gateway};
use llm_router_e2e::{MockRegion, Req};

fn gateway(region: &MockRegion) -> Gateway {
    Gateway::start(&format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/m\n      api_base: {}/v1\n      region_name: us-west-2\n",
        region.url()
    ))
}

fn assert_error(r: &llm_router_e2e::Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
}

#[test]
fn bad_requests_get_openai_shaped_4xx_and_reach_no_region() {
    let region = MockRegion::start("us-west-2");
    let gw = gateway(&region);
    let url = gw.chat_url();
    let post = |body: &[u8]| {
        Req::post(&url).header("content-type", "application/json").body(body.to_vec()).send().expect("answer")
    };

    assert_error(&post(b"{\"model\": \"claude\", "), 400, "invalid_json");
    assert_error(&post(b"not json at all"), 400, "invalid_json");
    assert_error(&post(b"\xff\xfe\x00"), 400, "invalid_json");
    assert_error(&post(br#"{"messages": [{"role": "user", "content": "hi"}]}"#), 400, "missing_model");
    assert_error(&post(br#"{"model": 42, "messages": []}"#), 400, "invalid_model");
    assert_error(&post(br#"{"model": "gpt-9", "messages": []}"#), 400, "model_not_found");
    let huge = format!(
        r#"{{"model": "claude", "messages": [{{"role": "user", "content": "{}"}}]}}"#,
        "x".repeat(9 * 1024 * 1024)
    );
    assert_error(&post(huge.as_bytes()), 413, "request_too_large");
    let r = Req::post(&url).json(&chat_body("claude")).header("x-llm-route-plan", "AAAA").send().expect("answer");
    assert_error(&r, 400, "internal_header_not_allowed");
    let r =
        Req::post(&url).json(&chat_body("claude")).header_bytes("x-llm-region", b"\xff\xfe").send().expect("answer");
    assert_error(&r, 400, "invalid_header");
    let r =
        Req::post(&url).json(&chat_body("claude")).header("x-llm-routing-strategy", "fastest").send().expect("answer");
    assert_error(&r, 400, "invalid_routing_strategy");
    let r = Req::get(&url).send().expect("answer");
    assert_error(&r, 405, "method_not_allowed");
    let r = Req::post(&gw.url("/v2/nothing")).json(&chat_body("claude")).send().expect("answer");
    assert_error(&r, 404, "not_found");

    assert_eq!(region.requests(), 0, "no bad request reached the region");

    // Nothing else is affected: every worker still serves.
    for _ in 0..40 {
        let r = gw.chat("claude", &[]);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(region.requests(), 40);
    assert!(!gw.envoy.log_tail(200).contains("panicked"), "{}", gw.envoy.log_tail(200));
}

#[test]
fn client_sent_envoy_control_headers_do_not_steer_retries() {
    let region = MockRegion::start("us-west-2");
    let gw = gateway(&region);
    let r = Req::post(&gw.chat_url())
        .json(&chat_body("claude"))
        .header("x-envoy-max-retries", "50")
        .header("x-envoy-upstream-rq-timeout-ms", "1")
        .header("authorization", "Bearer client-secret-123")
        .send()
        .expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = region.last_headers();
    assert!(seen.get("x-envoy-max-retries").is_none(), "{seen}");
    assert!(seen.get("x-llm-route-plan").is_none(), "internal header not forwarded: {seen}");
    assert!(!seen.to_string().contains("client-secret-123"), "client credentials not forwarded: {seen}");
}
