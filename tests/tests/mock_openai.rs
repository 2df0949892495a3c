//! The OpenAI-compatible mock (the default provider) checks the bearer key when one is
//! configured, answers tool calls as OpenAI does, and misbehaves in streams as asked (the
//! streaming faults), no Envoy needed.

mod mock_common;

use std::time::Duration;

use llm_router_e2e::{MockRegion, Req};
use mock_common::{
    arrival_of_text, assert_slow_stream_timing, assert_stalled_between, faults_logged, read_until_client_gives_up,
    slow_stream_mode, start, STALL_MS,
};
use serde_json::{json, Value};

#[test]
fn openai_requires_the_bearer_key_when_configured() {
    let m = start("us-east", &["--api-key", "sk-mock-0123456789"]);
    let url = format!("{}/v1/chat/completions", m.url());
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let r = Req::post(&url).json(&body).send().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"].as_str().unwrap().starts_with("You didn't provide an API key"));
    let r = Req::post(&url).header("authorization", "Bearer sk-wrong-0123456789").json(&body).send().unwrap();
    assert_eq!(r.status, 401);
    let e = r.json();
    assert_eq!(e["error"]["code"], "invalid_api_key");
    assert!(!e["error"]["message"].as_str().unwrap().contains("sk-wrong-0123456789"));
    let r = Req::post(&url).header("authorization", "Bearer sk-mock-0123456789").json(&body).send().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(m.last_auth()["scheme"], "bearer");
    assert_eq!(m.last_auth()["verified"], true);

    // Without --api-key nothing is required (the default mock).
    let open = start("us-east", &[]);
    let r = Req::post(&format!("{}/v1/chat/completions", open.url())).json(&body).send().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(open.last_auth()["scheme"], "none");
}

#[test]
fn openai_tool_calls() {
    let m = start("us-east", &[]);
    let url = format!("{}/v1/chat/completions", m.url());
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]);
    let r = Req::post(&url)
        .json(&json!({"model": "m", "tools": tools, "messages": [{"role": "user", "content": "find"}]}))
        .send()
        .unwrap();
    let b = r.json();
    assert_eq!(b["choices"][0]["finish_reason"], "tool_calls");
    let call = &b["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "lookup");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"q": "mock-q"}));
    // After the tool answered: text.
    let r = Req::post(&url)
        .json(&json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "find"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "found"}]}))
        .send()
        .unwrap();
    assert_eq!(r.json()["choices"][0]["finish_reason"], "stop");
    // Streamed: the arguments arrive in pieces.
    let r = Req::post(&url)
        .json(&json!({"model": "m", "stream": true, "tools": tools, "messages": [{"role": "user", "content": "find"}]}))
        .send_stream()
        .unwrap();
    let chunks = r.sse_json();
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"q": "mock-q"}));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
}

// ---------------------------------------------------------------- Streaming faults

/// The request the gateway sends for every chat after issue 14: streamed, usage included.
fn streamed_chat() -> Value {
    json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "hi"}]})
}

fn chat_req(m: &MockRegion) -> Req {
    Req::post(&format!("{}/v1/chat/completions", m.url())).json(&streamed_chat())
}

#[test]
fn openai_stall_after_headers() {
    let m = start("us-east", &[]);
    m.set_mode(json!({"mode": "stall_after_headers", "count": 1}));
    let r = read_until_client_gives_up(chat_req(&m));
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    assert!(r.body.is_empty(), "{}", r.text());
    // `count: 1`: the next attempt is answered; the log shows both.
    let r = chat_req(&m).send_stream().unwrap();
    assert!(r.done());
    assert_eq!(faults_logged(&m), ["stall_after_headers", "ok"]);
    assert_eq!(m.stats()["served_ok"], 1);

    // With stall_ms the stream comes, complete, after the stall.
    m.set_mode(json!({"mode": "stall_after_headers", "stall_ms": STALL_MS}));
    let r = chat_req(&m).send_stream().unwrap();
    assert!(r.headers_at < Duration::from_millis(700), "{:?}", r.headers_at);
    assert!(r.first_chunk_at.unwrap() >= Duration::from_millis(STALL_MS), "{:?}", r.first_chunk_at);
    assert_eq!(r.sse_content(), "hello from us-east");
    assert!(r.done());
}

#[test]
fn openai_error_before_content() {
    let m = start("us-east", &[]);
    m.set_mode(json!({"mode": "error_before_content", "count": 1}));
    let r = chat_req(&m).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    assert!(r.error.is_none(), "the stream ends cleanly: {:?}", r.error);
    let data = r.sse_data();
    assert_eq!(data.len(), 2, "role chunk, error, and no [DONE]: {}", r.text());
    let role: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(role["object"], "chat.completion.chunk");
    assert_eq!(role["choices"][0]["delta"], json!({"role": "assistant", "content": "", "refusal": null}));
    let err: Value = serde_json::from_str(&data[1]).unwrap();
    assert_eq!(
        err,
        json!({"error": {"message": "The server had an error while processing your request. Sorry about that!",
                         "type": "server_error", "param": null, "code": null}})
    );
    assert!(r.text().ends_with("\n\n"));
    assert_eq!(r.sse_content(), "");
    assert_eq!(faults_logged(&m), ["error_before_content"]);
    assert_eq!(m.recent()[0]["status"], 200);
    assert_eq!(m.stats()["served_ok"], 0, "a broken stream is not a served answer");
    assert!(chat_req(&m).send_stream().unwrap().done(), "count: 1 applied to one request");
}

#[test]
fn openai_stall_after_content() {
    let m = start("us-east", &[]);
    m.set_mode(json!({"mode": "stall_after_content"}));
    let r = read_until_client_gives_up(chat_req(&m));
    let chunks = r.sse_json();
    assert_eq!(chunks.len(), 2, "role chunk and the first content: {}", r.text());
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "hel");
    assert!(!r.done());

    m.set_mode(json!({"mode": "stall_after_content", "stall_ms": STALL_MS}));
    let r = chat_req(&m).send_stream().unwrap();
    assert_stalled_between(&r, "\"hel\"", "\"lo f\"");
    assert_eq!(r.sse_content(), "hello from us-east");
    assert!(r.done());
    assert!(r.sse_json().last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn openai_slow_stream() {
    let m = start("us-east", &[]);
    m.set_mode(slow_stream_mode());
    let r = chat_req(&m).send_stream().unwrap();
    assert_slow_stream_timing(&r, "\"hel\"");
    assert!(arrival_of_text(&r, "\"role\"") < Duration::from_millis(150), "the role chunk goes at once");
    assert_eq!(r.sse_content(), "hello from us-east");
    assert!(r.done());
    let chunks = r.sse_json();
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 5);
    assert_eq!(m.stats()["served_ok"], 1);
}

#[test]
fn openai_stream_options_are_checked() {
    let m = start("us-east", &[]);
    let mut b = streamed_chat();
    b["stream_options"]["include_usage"] = json!("yes");
    let r = Req::post(&format!("{}/v1/chat/completions", m.url())).json(&b).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "stream_options.include_usage");
    assert_eq!(r.json()["error"]["code"], "invalid_type");
}
