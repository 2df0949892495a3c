//! `stream_timeout` and `timeout` through a real Envoy with the filter: a region that accepts
//! and never answers costs `stream_timeout` (not `timeout`) before the next region answers; a
//! slow but steady stream is not cut; a gap longer than `stream_timeout`, or an answer longer
//! than `timeout`, ends the stream.

mod common;

use std::time::{Duration, Instant};

use common::Gateway;
use llm_router_e2e::{MockRegion, Req, StreamResponse};
use serde_json::{json, Value};

/// One deployment (LiteLLM dialect) of `group` at a mock OpenAI-compatible region.
fn deployment(group: &str, region: &MockRegion, priority: u32, params: &str) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: {}{params}\n    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

/// Priority routing; failures never cool a region down here, so every request tries it again.
fn config(deployments: &[String], router: &str) -> String {
    format!(
        "model_list:\n{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 1000\n{router}",
        deployments.concat()
    )
}

fn stream_body(model: &str) -> Value {
    json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "hello"}]})
}

fn stream(gw: &Gateway, model: &str) -> StreamResponse {
    Req::post(&gw.chat_url())
        .json(&stream_body(model))
        .timeout(Duration::from_secs(20))
        .send_stream()
        .expect("the gateway answers")
}

#[track_caller]
fn assert_between(what: &str, took: Duration, min_ms: u64, max_ms: u64) {
    assert!(
        took >= Duration::from_millis(min_ms) && took <= Duration::from_millis(max_ms),
        "{what} took {took:?}, expected {min_ms}..{max_ms} ms"
    );
}

#[test]
fn a_region_that_accepts_and_never_answers_costs_stream_timeout_not_timeout() {
    let (hung, ok) = (MockRegion::start("us-west-2"), MockRegion::start("us-east-1"));
    let gw = Gateway::start(&config(
        &[deployment("claude", &hung, 1, ""), deployment("claude", &ok, 2, "")],
        "  stream_timeout: 1\n  timeout: 3\n",
    ));
    hung.set_mode(json!({"mode": "hang"}));

    // Every attempt streams upstream (issue 14): a non-streaming request past the hung region
    // costs stream_timeout too, not timeout.
    let started = Instant::now();
    let r = gw.chat("claude", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("2"));
    assert_between("a non-streaming request past the hung region", started.elapsed(), 900, 2500);

    // An embeddings request cannot stream: its attempts keep `timeout` each.
    let started = Instant::now();
    let r = Req::post(&gw.url("/v1/embeddings"))
        .json(&json!({"model": "claude", "input": "hello"}))
        .timeout(Duration::from_secs(20))
        .send()
        .expect("the gateway answers");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_between("an embeddings request past the hung region", started.elapsed(), 2900, 4500);

    let r = stream(&gw, "claude");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert!(r.done(), "{}", r.text());
    assert_between("a stream past the hung region", r.headers_at, 900, 2500);
    assert_eq!(hung.requests(), 3, "each request tried the hung region first");
}

#[test]
fn each_request_waits_for_the_stream_timeout_of_its_own_plan_not_the_config_s_largest() {
    // Without a route per stream_timeout, selected by the filter's header, the fast group's
    // attempts would get the slow group's 20 s.
    let (hung, ok, slow) =
        (MockRegion::start("us-west-2"), MockRegion::start("us-east-1"), MockRegion::start("eu-west-1"));
    let gw = Gateway::start(&config(
        &[
            deployment("fast", &hung, 1, "\n      stream_timeout: 1"),
            deployment("fast", &ok, 2, "\n      stream_timeout: 1"),
            deployment("slow", &slow, 1, "\n      stream_timeout: 20"),
        ],
        "  timeout: 30\n",
    ));
    hung.set_mode(json!({"mode": "hang"}));
    let r = stream(&gw, "fast");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-east-1"));
    assert!(r.done(), "{}", r.text());
    assert_between("the fast group past its hung region", r.headers_at, 900, 2500);
}

#[test]
fn a_steady_stream_runs_past_stream_timeout_but_a_long_gap_or_timeout_ends_it() {
    let region = MockRegion::start("us-west-2");
    let gw = Gateway::start(&config(&[deployment("claude", &region, 1, "")], "  stream_timeout: 1\n  timeout: 6\n"));

    // Gaps of 0.4 s, about 3 s in all: longer than stream_timeout, never a gap as long.
    region.set_mode(json!({"mode": "ok", "chunk_delay_ms": 400, "chunks": 5}));
    let r = stream(&gw, "claude");
    assert_eq!(r.status, 200);
    assert!(r.error.is_none() && r.done(), "a steady stream runs to [DONE]: {:?} {}", r.error, r.text());
    assert!(r.end_at > Duration::from_millis(2000), "it ran past stream_timeout: {:?}", r.end_at);

    // A 1.5 s gap after the first content: the stream ends at stream_timeout. (A gap before
    // any content is a failure of the region before the client sees anything: e2e_first_token.)
    region.set_mode(json!({"mode": "stall_after_content", "stall_ms": 1500}));
    let r = stream(&gw, "claude");
    assert_eq!(r.status, 200);
    assert!(r.first_chunk_at.is_some(), "the first event passed: {}", r.text());
    assert!(!r.done(), "a stalled stream is ended, not completed: {}", r.text());
    assert_between("a stalled stream", r.end_at, 900, 2500);

    // Steady gaps of 0.8 s, about 12 s in all: timeout (6 s) bounds the whole answer.
    region.set_mode(json!({"mode": "ok", "chunk_delay_ms": 800, "chunks": 14}));
    let r = stream(&gw, "claude");
    assert_eq!(r.status, 200);
    assert!(!r.done(), "an answer longer than timeout is ended: {}", r.text());
    assert_between("an answer past timeout", r.end_at, 5500, 8000);
}
