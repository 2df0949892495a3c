//! The Anthropic mock checks requests as the Messages API does (no Envoy needed): the
//! `x-api-key`, `anthropic-version`, body rules, the SSE event sequence, tool use, faults and
//! streaming faults.

mod mock_common;

use std::time::Duration;

use llm_router_e2e::{MockRegion, Req};
use mock_common::{
    anthropic_post, arrival_of_text, assert_slow_stream_timing, assert_stalled_between, faults_logged, messages_body,
    read_until_client_gives_up, slow_stream_mode, sse_events, start, STALL_MS,
};
use serde_json::{json, Value};

fn anthropic_mock() -> MockRegion {
    start("us-east-1", &["--provider", "anthropic", "--api-key", "sk-ant-mock"])
}

const ANT: [(&str, &str); 2] = [("x-api-key", "sk-ant-mock"), ("anthropic-version", "2023-06-01")];

#[test]
fn anthropic_checks_key_version_and_body() {
    let m = anthropic_mock();
    let r = anthropic_post(&m, &[("anthropic-version", "2023-06-01")], &messages_body());
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = anthropic_post(&m, &[("x-api-key", "sk-ant-other"), ("anthropic-version", "2023-06-01")], &messages_body());
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["message"], "invalid x-api-key");
    // A bearer token is not the API key.
    let r = anthropic_post(
        &m,
        &[("authorization", "Bearer sk-ant-mock"), ("anthropic-version", "2023-06-01")],
        &messages_body(),
    );
    assert_eq!(r.status, 401);

    let r = anthropic_post(&m, &[("x-api-key", "sk-ant-mock")], &messages_body());
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "anthropic-version: header is required");

    let cases = [
        ("n", json!(1), "n: Extra inputs are not permitted"),
        ("stream_options", json!({}), "stream_options: Extra inputs are not permitted"),
        ("max_tokens", Value::Null, "max_tokens: Field required"),
        ("model", Value::Null, "model: Field required"),
        ("messages", json!([{"role": "system", "content": "x"}]), "top-level `system` parameter"),
        (
            "messages",
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
            "Input tag 'image_url'",
        ),
        ("messages", json!([{"role": "user", "content": ""}]), "must have non-empty content"),
        ("temperature", json!(1.5), "temperature: Input should be less than or equal to 1"),
    ];
    for (key, val, want) in cases {
        let mut b = messages_body();
        if val.is_null() {
            b.as_object_mut().unwrap().remove(key);
        } else {
            b[key] = val;
        }
        let r = anthropic_post(&m, &ANT, &b);
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(e["error"]["message"].as_str().unwrap().contains(want), "{b}: {e}");
    }

    let r = anthropic_post(&m, &ANT, &messages_body());
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("request-id").is_some());
    let b = r.json();
    assert_eq!(b["type"], "message");
    assert_eq!(b["role"], "assistant");
    assert_eq!(b["model"], "claude-3-5-sonnet-20241022");
    assert_eq!(b["content"], json!([{"type": "text", "text": "hello from us-east-1"}]));
    assert_eq!(b["stop_reason"], "end_turn");
    assert!(b["id"].as_str().unwrap().starts_with("msg_"));
    assert!(b["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(b["usage"]["output_tokens"], 5);
    let s = m.stats();
    assert_eq!(s["last_op"], "anthropic.messages");
    assert_eq!(s["last_model"], "claude-3-5-sonnet-20241022");
    assert_eq!(s["last_auth"]["scheme"], "x-api-key");
}

#[test]
fn anthropic_sse_shape() {
    let m = anthropic_mock();
    let mut b = messages_body();
    b["stream"] = json!(true);
    let r = Req::post(&format!("{}/v1/messages", m.url())).headers(&ANT).json(&b).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    let ev = sse_events(&r.text());
    let names: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[1..3], ["content_block_start", "ping"]);
    assert_eq!(&names[names.len() - 3..], ["content_block_stop", "message_delta", "message_stop"]);
    let start = &ev[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert!(start["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let text: String = ev
        .iter()
        .filter(|e| e.0 == "content_block_delta")
        .map(|e| {
            assert_eq!(e.1["delta"]["type"], "text_delta");
            e.1["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "hello from us-east-1");
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[test]
fn anthropic_tool_use_and_faults() {
    let m = anthropic_mock();
    let mut b = messages_body();
    b["tools"] = json!([{"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let r = anthropic_post(&m, &ANT, &b);
    let v = r.json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["type"], "tool_use");
    assert_eq!(v["content"][0]["input"], json!({"city": "mock-city"}));
    let id = v["content"][0]["id"].as_str().unwrap().to_string();
    // tool_choice none → text.
    let mut none = b.clone();
    none["tool_choice"] = json!({"type": "none"});
    assert_eq!(anthropic_post(&m, &ANT, &none).json()["stop_reason"], "end_turn");
    // The tool_result must answer the tool_use.
    let mut turn = b.clone();
    turn["messages"] = json!([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other", "content": "5C"}]}
    ]);
    let r = anthropic_post(&m, &ANT, &turn);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("unexpected `tool_use_id`"));
    turn["messages"][2]["content"][0]["tool_use_id"] = json!(id);
    let r = anthropic_post(&m, &ANT, &turn);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stop_reason"], "end_turn");
    // Streamed tool use.
    let mut s = b.clone();
    s["stream"] = json!(true);
    let r = Req::post(&format!("{}/v1/messages", m.url())).headers(&ANT).json(&s).send_stream().unwrap();
    let ev = sse_events(&r.text());
    assert_eq!(ev[1].1["content_block"]["type"], "tool_use");
    let args: String = ev
        .iter()
        .filter(|e| e.0 == "content_block_delta")
        .map(|e| e.1["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "mock-city"}));
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");

    m.set_mode(json!({"mode": "error", "status": 529}));
    let r = anthropic_post(&m, &ANT, &messages_body());
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    m.set_mode(json!({"mode": "rate_limit"}));
    let r = anthropic_post(&m, &ANT, &messages_body());
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
}

// ---------------------------------------------------------------- Streaming faults

fn streamed_req(m: &MockRegion) -> Req {
    let mut b = messages_body();
    b["stream"] = json!(true);
    Req::post(&format!("{}/v1/messages", m.url())).headers(&ANT).json(&b)
}

fn names(ev: &[(String, Value)]) -> Vec<&str> {
    ev.iter().map(|e| e.0.as_str()).collect()
}

#[test]
fn anthropic_stall_after_headers() {
    let m = anthropic_mock();
    m.set_mode(json!({"mode": "stall_after_headers", "count": 1}));
    let r = read_until_client_gives_up(streamed_req(&m));
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    assert!(r.header("request-id").is_some());
    assert!(r.body.is_empty(), "{}", r.text());
    let r = streamed_req(&m).send_stream().unwrap();
    assert_eq!(sse_events(&r.text()).last().unwrap().0, "message_stop");
    assert_eq!(faults_logged(&m), ["stall_after_headers", "ok"]);
}

#[test]
fn anthropic_error_before_content() {
    let m = anthropic_mock();
    m.set_mode(json!({"mode": "error_before_content"}));
    let r = streamed_req(&m).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.error.is_none());
    let ev = sse_events(&r.text());
    assert_eq!(names(&ev), ["message_start", "content_block_start", "ping", "error"]);
    assert_eq!(ev[3].1, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert!(r.text().ends_with("\n\n"), "{}", r.text());

    // `status` picks the error, as for the `error` fault.
    m.set_mode(json!({"mode": "error_before_content", "status": 500}));
    let r = streamed_req(&m).send_stream().unwrap();
    let ev = sse_events(&r.text());
    assert_eq!(ev.last().unwrap().1["error"], json!({"type": "api_error", "message": "Internal server error"}));
}

#[test]
fn anthropic_stall_after_content() {
    let m = anthropic_mock();
    m.set_mode(json!({"mode": "stall_after_content"}));
    let r = read_until_client_gives_up(streamed_req(&m));
    let ev = sse_events(&r.text());
    assert_eq!(names(&ev), ["message_start", "content_block_start", "ping", "content_block_delta"]);
    assert_eq!(ev[3].1["delta"], json!({"type": "text_delta", "text": "hell"}));

    m.set_mode(json!({"mode": "stall_after_content", "stall_ms": STALL_MS}));
    let r = streamed_req(&m).send_stream().unwrap();
    assert_stalled_between(&r, "\"hell\"", "\"o fr\"");
    assert_eq!(sse_events(&r.text()).last().unwrap().0, "message_stop");
}

#[test]
fn anthropic_slow_stream() {
    let m = anthropic_mock();
    m.set_mode(slow_stream_mode());
    let r = streamed_req(&m).send_stream().unwrap();
    assert_slow_stream_timing(&r, "\"hell\"");
    assert!(arrival_of_text(&r, "message_start") < Duration::from_millis(150));
    let ev = sse_events(&r.text());
    assert_eq!(ev.len(), 11, "{}", r.text());
    let text: String = ev.iter().filter_map(|e| e.1["delta"]["text"].as_str()).collect();
    assert_eq!(text, "hello from us-east-1");
    assert_eq!(ev[9].1["usage"]["output_tokens"], 5);
    assert_eq!(ev[10].0, "message_stop");
}
