//! The OpenAI-compatible mock (the default provider) checks the bearer key when one is
//! configured and answers tool calls as OpenAI does (no Envoy needed).

mod mock_common;

use llm_router_e2e::Req;
use mock_common::start;
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
