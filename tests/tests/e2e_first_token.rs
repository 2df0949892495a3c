//! Nothing reaches a streaming client before the first content (issue 14, item 3), through a
//! real Envoy with the filter: a region that stalls after its headers, or fails in its stream
//! before any content, is a region failure and the next region serves the whole answer; the
//! client sees one clean 200 naming that region. A slow but steady stream is one attempt.

mod common;
mod xds_common;

use std::time::Duration;

use common::{bedrock_region, Gateway};
use llm_router_e2e::mock::google_oauth::{MockTokenEndpoint, TestServiceAccount};
use llm_router_e2e::mock::Provider;
use llm_router_e2e::{free_port, poll_until, MockRegion, Req, StreamResponse, TempDir};
use serde_json::{json, Value};
use xds_common::XdsGateway;

const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

/// One OpenAI-compatible deployment of `claude` at `region`.
fn openai(region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: claude\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: {}\n    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

/// One Bedrock deployment of `claude` at `region`.
fn bedrock(region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: claude\n    litellm_params:\n      model: bedrock/{BEDROCK_MODEL}\n      aws_region_name: {}\n      api_base: {}/v1\n    priority: {priority}\n",
        region.region(),
        region.url()
    )
}

/// Priority routing with a 2 s stream_timeout; failures never cool a region down here, so every
/// request tries the first region again.
fn config(deployments: &[String]) -> String {
    format!(
        "model_list:\n{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 1000\n  stream_timeout: 2\n  timeout: 20\n",
        deployments.concat()
    )
}

fn stream(chat_url: &str) -> StreamResponse {
    Req::post(chat_url)
        .json(&json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "hello"}]}))
        .timeout(Duration::from_secs(20))
        .send_stream()
        .expect("the gateway answers")
}

/// A complete answer from `region`: 200, named, text, `[DONE]`, no error event anywhere.
#[track_caller]
fn assert_clean_answer_from(r: &StreamResponse, region: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some(region), "{}", r.text());
    assert!(r.error.is_none() && r.done(), "a complete stream: {:?} {}", r.error, r.text());
    assert!(!r.sse_content().is_empty(), "{}", r.text());
    let errors: Vec<Value> = r.sse_json().into_iter().filter(|c| c.get("error").is_some()).collect();
    assert!(errors.is_empty(), "no error reached the client: {errors:?}");
}

/// Runs the failover cases against a first region `a` and a second `b` (both already in the
/// config of the gateway at `chat_url`, `a` first).
fn fails_over_before_content(chat_url: &str, a: &MockRegion, b: &MockRegion, error_before_content: Value) {
    a.set_mode(json!({"mode": "stall_after_headers"}));
    let r = stream(chat_url);
    assert_clean_answer_from(&r, b.region());
    assert!(r.headers_at >= Duration::from_millis(1800), "the stall cost stream_timeout: {:?}", r.headers_at);
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("2"));

    a.set_mode(error_before_content);
    let r = stream(chat_url);
    assert_clean_answer_from(&r, b.region());
    assert!(r.headers_at < Duration::from_millis(1500), "an error fails over at once: {:?}", r.headers_at);

    // A slow but steady stream is not a failure: one attempt, the whole text.
    a.set_mode(json!({"mode": "slow_stream", "first_token_ms": 100, "total_ms": 4000}));
    let before = b.requests();
    let r = stream(chat_url);
    assert_clean_answer_from(&r, a.region());
    assert!(r.end_at >= Duration::from_millis(3500), "{:?}", r.end_at);
    assert_eq!(b.requests(), before, "one attempt");
}

#[test]
fn an_openai_compatible_region_failing_before_content_is_failed_over_cleanly() {
    let (a, b) = (MockRegion::start("us-west-2"), MockRegion::start("us-east-1"));
    let gw = Gateway::start(&config(&[openai(&a, 1), openai(&b, 2)]));
    fails_over_before_content(&gw.chat_url(), &a, &b, json!({"mode": "error_before_content"}));

    // Once content has reached the client the answer is the region's: a stall after it ends the
    // stream at stream_timeout, never a second answer from another region.
    a.set_mode(json!({"mode": "stall_after_content"}));
    let before = b.requests();
    let r = stream(&gw.chat_url());
    assert_eq!((r.status, r.header("x-llm-region").as_deref()), (200, Some("us-west-2")), "{}", r.text());
    assert!(!r.sse_content().is_empty() && !r.done(), "content, then the end: {}", r.text());
    assert!(r.end_at >= Duration::from_millis(1800) && r.end_at < Duration::from_secs(6), "{:?}", r.end_at);
    assert_eq!(b.requests(), before, "no second answer");
}

#[test]
fn a_bedrock_region_failing_before_content_is_failed_over_cleanly() {
    let (a, b) = (bedrock_region("us-west-2"), bedrock_region("us-east-1"));
    let gw = Gateway::start(&config(&[bedrock(&a, 1), bedrock(&b, 2)]));
    fails_over_before_content(
        &gw.chat_url(),
        &a,
        &b,
        json!({"mode": "error_before_content", "error": "throttlingException"}),
    );

    // An Anthropic-form client gets one clean Messages stream from the second region.
    a.set_mode(json!({"mode": "error_before_content", "error": "throttlingException"}));
    let r = Req::post(&gw.url("/v1/messages"))
        .json(&json!({"model": "claude", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hello"}]}))
        .timeout(Duration::from_secs(20))
        .send_stream()
        .expect("the gateway answers");
    assert_eq!((r.status, r.header("x-llm-region").as_deref()), (200, Some("us-east-1")), "{}", r.text());
    let text = r.text();
    assert!(text.contains("event: message_stop") && !text.contains("event: error"), "{text}");
}

#[test]
fn the_last_region_failing_before_content_is_one_error_in_the_client_s_api() {
    let a = MockRegion::start("us-west-2");
    let gw = Gateway::start(&config(&[openai(&a, 1)]));
    a.set_mode(json!({"mode": "error_before_content"}));
    let r = stream(&gw.chat_url());
    assert_eq!(r.status, 503, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert!(v["error"]["message"].is_string(), "{v}");
}

const VERTEX_PROJECT: &str = "company-eu-project";
const VERTEX_ACCOUNT: &str = "llm-gateway@company-eu-project.iam.gserviceaccount.com";

/// One Vertex deployment of `claude` (`model`: Claude or Gemini) at `region`.
fn vertex(model: &str, region: &MockRegion, key_file: &std::path::Path, priority: u32) -> String {
    format!(
        "  - model_name: claude\n    litellm_params:\n      model: vertex_ai/{model}\n      vertex_project: {VERTEX_PROJECT}\n      vertex_location: {}\n      api_base: {}\n      vertex_credentials: {}\n    priority: {priority}\n",
        region.region(),
        region.url(),
        key_file.display()
    )
}

/// Two Vertex regions serving `model` behind a gateway run by `serve` (which gets the token).
fn vertex_failover(model: &str, error_before_content: Value) {
    let start =
        |location| MockRegion::start_provider(location, Provider::Vertex, &["--vertex-project", VERTEX_PROJECT]);
    let (a, b) = (start("europe-west1"), start("europe-west4"));
    let dir = TempDir::new("llm-first-token-sa");
    let port = free_port();
    let account = TestServiceAccount::generate(VERTEX_ACCOUNT, &format!("http://127.0.0.1:{port}/token"));
    let _endpoint = MockTokenEndpoint::start(
        port,
        VERTEX_ACCOUNT,
        &account.public_key_pem,
        Duration::from_secs(3600),
        &[a.url(), b.url()],
    );
    let key_file = dir.path().join("vertex-sa.json");
    std::fs::write(&key_file, &account.key_json).expect("write the key file");
    let gw = XdsGateway::start(&config(&[vertex(model, &a, &key_file, 1), vertex(model, &b, &key_file, 2)]));
    poll_until(Duration::from_secs(20), "served by europe-west1", || {
        let r = Req::post(&gw.chat_url()).json(&common::chat_body("claude")).send().ok()?;
        (r.header("x-llm-region").as_deref() == Some("europe-west1")).then_some(())
    });
    fails_over_before_content(&gw.chat_url(), &a, &b, error_before_content);
}

#[test]
fn a_vertex_gemini_region_failing_before_content_is_failed_over_cleanly() {
    vertex_failover("gemini-2.0-flash", json!({"mode": "error_before_content", "status": 503}));
}

#[test]
fn a_vertex_claude_region_failing_before_content_is_failed_over_cleanly() {
    vertex_failover("claude-3-5-sonnet@20241022", json!({"mode": "error_before_content", "status": 529}));
}
