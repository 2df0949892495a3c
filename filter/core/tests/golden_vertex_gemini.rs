//! Gemini on Vertex AI: golden files from the Vertex AI documentation (sources in
//! testdata/vertex_gemini/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use llm_router_core::providers::{ProviderKind, Target};
use serde_json::json;

fn gemini() -> Target {
    target(ProviderKind::VertexGemini, "gemini-2.0-flash-001")
}

#[test]
fn function_calling_conversation_becomes_a_stream_generate_content_request() {
    // "Function calling" → "Example" (get_current_weather, Boston).
    let g = request_golden(&gemini(), "/v1/chat/completions", &read("vertex_gemini/function_calling.openai.json"));
    golden_json("vertex_gemini/function_calling.request.golden.json", &g);
}

#[test]
fn text_answer_becomes_a_chat_completion() {
    let o = run(&gemini(), json_opts(), 200, &[], &[&read("vertex_gemini/generate_text.response.json")]);
    let v = o.json();
    golden_json("vertex_gemini/generate_text.golden.json", &v);
    assert_eq!(o.tokens(), Some((76, 29)));
}

#[test]
fn function_call_answer_becomes_tool_calls() {
    let o = run(&gemini(), json_opts(), 200, &[], &[&read("vertex_gemini/generate_function_call.response.json")]);
    let v = o.json();
    golden_json("vertex_gemini/generate_function_call.golden.json", &v);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn sse_stream_becomes_chunks_with_usage() {
    let o = run(&gemini(), stream_opts(true), 200, &[], &[&read("vertex_gemini/stream_text.sse")]);
    golden_sse("vertex_gemini/stream_text.golden.sse", &o.body);
    assert_eq!(o.tokens(), Some((7, 12)));
}

#[test]
fn streamed_function_calls_arrive_whole() {
    let s = concat!(
        "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"a\",\"args\":{\"x\":1}}},",
        "{\"functionCall\":{\"name\":\"b\",\"args\":{}}}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":5}}\r\n\r\n"
    );
    let o = run(&gemini(), stream_opts(false), 200, &[], &[s.as_bytes()]);
    let c = sse_values(&o.body);
    assert_eq!(
        c[1]["choices"][0]["delta"]["tool_calls"][0],
        json!({"index":0,"id":"call_0","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}})
    );
    assert_eq!(c[2]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
    assert_eq!(c[3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(c[4], "[DONE]");
    assert_eq!(o.tokens(), Some((3, 9)));
}

#[test]
fn errors_and_blocked_prompts() {
    let o = run(&gemini(), stream_opts(true), 429, &[], &[&read("vertex_gemini/error_quota.json")]);
    let v = o.json();
    assert_eq!(
        (o.head.status, v["error"]["code"].as_str(), v["error"]["type"].as_str()),
        (429, Some("RESOURCE_EXHAUSTED"), Some("rate_limit_error"))
    );
    let blocked = br#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5}}"#;
    let o = run(&gemini(), json_opts(), 200, &[], &[blocked]);
    let v = o.json();
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    for (reason, want) in [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("OTHER", "stop"),
    ] {
        let body = json!({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":reason}]});
        let o = run(&gemini(), json_opts(), 200, &[], &[body.to_string().as_bytes()]);
        let v = o.json();
        assert_eq!(v["choices"][0]["finish_reason"], want);
    }
}
