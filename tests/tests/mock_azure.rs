//! The Azure OpenAI mock checks requests as Azure does (no Envoy needed): the `api-key`,
//! the `api-version`, the deployment, and streams with Azure's prompt-filter chunk first
//! (also under the streaming faults).

mod mock_common;

use std::time::Duration;

use llm_router_e2e::{MockRegion, Req};
use mock_common::{
    arrival_of_text, assert_slow_stream_timing, faults_logged, read_until_client_gives_up, slow_stream_mode, start,
};
use serde_json::{json, Value};

fn chat() -> Value {
    json!({"messages": [{"role": "user", "content": "hi"}]})
}

fn azure_mock() -> MockRegion {
    start(
        "swedencentral",
        &[
            "--provider",
            "azure",
            "--api-key",
            "azkey-123",
            "--azure-deployment",
            "gpt4o-prod",
            "--expect-model",
            "gpt-4o-2024-08-06",
        ],
    )
}

#[test]
fn azure_checks_key_version_and_deployment() {
    let m = azure_mock();
    let url = |dep: &str, q: &str| format!("{}/openai/deployments/{dep}/chat/completions{q}", m.url());
    let ok_url = url("gpt4o-prod", "?api-version=2024-10-21");

    let r = Req::post(&ok_url).json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Access denied due to invalid subscription key"));
    let r = Req::post(&ok_url).header("api-key", "nope").json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    // A bearer key is not an api-key.
    let r = Req::post(&ok_url).header("authorization", "Bearer azkey-123").json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(m.last_auth()["verified"], false);

    let key = [("api-key", "azkey-123")];
    let r = Req::post(&url("gpt4o-prod", "")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["message"], "Resource not found");
    let r = Req::post(&url("gpt4o-prod", "?api-version=2031-01-01")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "API version not supported");
    let r = Req::post(&url("gpt35", "?api-version=2024-10-21")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "DeploymentNotFound");
    // OpenAI's own paths are not Azure's.
    let r = Req::post(&format!("{}/v1/chat/completions", m.url())).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);

    let r = Req::post(&ok_url).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["model"], "gpt-4o-2024-08-06");
    assert_eq!(b["choices"][0]["message"]["content"], "hello from swedencentral");
    assert!(b["prompt_filter_results"].is_array());
    let s = m.stats();
    assert_eq!(s["last_op"], "azure.chat.completions");
    assert_eq!(s["last_model"], "gpt4o-prod");
    assert_eq!(s["last_auth"]["scheme"], "api-key");
    assert_eq!(s["last_auth"]["verified"], true);

    // Body still validated as OpenAI does.
    let r = Req::post(&ok_url).headers(&key).json(&json!({"messages": [], "foo": 1})).send().unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn azure_streams_with_a_prompt_filter_chunk_first() {
    let m = azure_mock();
    let r = Req::post(&format!("{}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01", m.url()))
        .header("api-key", "azkey-123")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send_stream()
        .unwrap();
    assert_eq!(r.status, 200);
    let chunks = r.sse_json();
    assert_eq!(chunks[0]["choices"], json!([]));
    assert!(chunks[0]["prompt_filter_results"].is_array());
    assert!(r.done());
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "hello from swedencentral");
}

// ---------------------------------------------------------------- Streaming faults

/// The gateway's streamed request (after issue 14): `stream` and usage included.
fn streamed_req(m: &MockRegion) -> Req {
    Req::post(&format!("{}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21", m.url()))
        .header("api-key", "azkey-123")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "stream": true,
                      "stream_options": {"include_usage": true}}))
}

#[test]
fn azure_streams_usage_when_asked() {
    let m = azure_mock();
    let r = streamed_req(&m).send_stream().unwrap();
    assert_eq!(r.status, 200);
    let chunks = r.sse_json();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["model"], "gpt-4o-2024-08-06");
    let u = &last["usage"];
    assert_eq!(u["completion_tokens"], 5);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    assert!(r.done());
}

#[test]
fn azure_stall_after_headers() {
    let m = azure_mock();
    m.set_mode(json!({"mode": "stall_after_headers", "count": 1}));
    let r = read_until_client_gives_up(streamed_req(&m));
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    assert!(r.header("apim-request-id").is_some());
    assert!(r.body.is_empty(), "{}", r.text());
    assert!(streamed_req(&m).send_stream().unwrap().done());
    assert_eq!(faults_logged(&m), ["stall_after_headers", "ok"]);
}

#[test]
fn azure_error_before_content() {
    let m = azure_mock();
    m.set_mode(json!({"mode": "error_before_content"}));
    let r = streamed_req(&m).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.error.is_none());
    let data = r.sse_data();
    assert_eq!(data.len(), 3, "prompt filter chunk, role chunk, error, no [DONE]: {}", r.text());
    let filter: Value = serde_json::from_str(&data[0]).unwrap();
    assert!(filter["prompt_filter_results"].is_array());
    let role: Value = serde_json::from_str(&data[1]).unwrap();
    assert_eq!(role["choices"][0]["delta"]["role"], "assistant");
    let err: Value = serde_json::from_str(&data[2]).unwrap();
    assert_eq!(err["error"]["type"], "server_error");
    assert!(err["error"]["message"].is_string());
    assert!(err.get("choices").is_none());
}

#[test]
fn azure_stall_after_content() {
    let m = azure_mock();
    m.set_mode(json!({"mode": "stall_after_content"}));
    let r = read_until_client_gives_up(streamed_req(&m));
    let chunks = r.sse_json();
    assert_eq!(chunks.len(), 3, "{}", r.text());
    assert_eq!(chunks[2]["choices"][0]["delta"]["content"], "hell");
    assert!(!r.done());
}

#[test]
fn azure_slow_stream() {
    let m = azure_mock();
    m.set_mode(slow_stream_mode());
    let r = streamed_req(&m).send_stream().unwrap();
    assert_slow_stream_timing(&r, "\"hell\"");
    assert!(arrival_of_text(&r, "prompt_filter_results") < Duration::from_millis(150));
    assert!(r.done());
    let text: String = r.sse_json().iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "hello from swedencentral");
}
