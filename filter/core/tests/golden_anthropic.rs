//! Anthropic Messages and Claude on Vertex AI: golden files from Anthropic's and Vertex's
//! documentation (sources in testdata/anthropic/README.md, testdata/vertex_anthropic/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use llm_router_core::providers::{ProviderKind, Target};
use serde_json::{json, Value};

fn anthropic() -> Target {
    target(ProviderKind::Anthropic, "claude-3-7-sonnet-20250219")
}

fn vertex() -> Target {
    target(ProviderKind::VertexAnthropic, "claude-3-7-sonnet@20250219")
}

#[test]
fn tool_conversation_becomes_a_messages_request() {
    // "Tool use" guide, get_weather.
    let g = request_golden(&anthropic(), "/v1/chat/completions", &read("anthropic/tool_use.openai.json"));
    golden_json("anthropic/tool_use.request.golden.json", &g);
}

#[test]
fn the_same_conversation_for_claude_on_vertex() {
    // Vertex AI, "Use Claude models": rawPredict, anthropic_version vertex-2023-10-16, no model.
    let g = request_golden(&vertex(), "/v1/chat/completions", &read("anthropic/tool_use.openai.json"));
    golden_json("vertex_anthropic/tool_use.request.golden.json", &g);
    assert_eq!(g["body"].get("model"), None);
    let direct = request_golden(&anthropic(), "/v1/chat/completions", &read("anthropic/tool_use.openai.json"));
    let mut a = direct["body"].clone();
    let mut b = g["body"].clone();
    a.as_object_mut().unwrap().remove("model");
    b.as_object_mut().unwrap().remove("anthropic_version");
    assert_eq!(a, b, "Vertex Claude shares the Messages body");
}

#[test]
fn text_answer_becomes_a_chat_completion() {
    // API reference, "Create a Message", example response.
    for t in [anthropic(), vertex()] {
        let o = run(&t, json_opts(), 200, &[], &[&read("anthropic/message_text.response.json")]);
        let v = o.json();
        if t.kind == ProviderKind::Anthropic {
            golden_json("anthropic/message_text.golden.json", &v);
        }
        assert_eq!(v["choices"][0]["message"]["content"], "Hi! My name is Claude.");
        assert_eq!(o.tokens(), Some((2095, 503)));
    }
}

#[test]
fn tool_use_answer_becomes_tool_calls() {
    let o = run(&anthropic(), json_opts(), 200, &[], &[&read("anthropic/message_tool_use.response.json")]);
    let v = o.json();
    golden_json("anthropic/message_tool_use.golden.json", &v);
    assert_eq!(first_tool_call_args(&v), json!({"location": "San Francisco, CA", "unit": "celsius"}));
}

#[test]
fn text_stream_becomes_chunks() {
    // "Streaming Messages", basic streaming request.
    let o = run(&anthropic(), stream_opts(true), 200, &[], &[&read("anthropic/stream_text.sse")]);
    golden_sse("anthropic/stream_text.golden.sse", &o.body);
    assert_eq!(o.tokens(), Some((25, 15)));
}

#[test]
fn tool_stream_becomes_tool_call_deltas() {
    // "Streaming Messages", streaming request with tool use.
    let o = run(&vertex(), stream_opts(false), 200, &[], &[&read("anthropic/stream_tool_use.sse")]);
    golden_sse("anthropic/stream_tool_use.golden.sse", &o.body);
    let args: String = sse_values(&o.body)
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"location": "San Francisco, CA", "unit": "fahrenheit"})
    );
    assert_eq!(o.tokens(), Some((472, 89)));
}

#[test]
fn an_error_event_becomes_an_openai_error_event() {
    let o = run(&anthropic(), stream_opts(true), 200, &[], &[&read("anthropic/stream_error.sse")]);
    golden_sse("anthropic/stream_error.golden.sse", &o.body);
}

#[test]
fn http_errors_keep_status_in_openais_shape() {
    let o = run(&anthropic(), stream_opts(true), 400, &[], &[&read("anthropic/error_invalid_request.json")]);
    assert_eq!(o.head.status, 400);
    let v = o.json();
    assert_eq!(
        v,
        json!({"error": {"message": "max_tokens: Field required", "type": "invalid_request_error", "param": null, "code": "invalid_request_error"}})
    );
    let o = run(
        &anthropic(),
        json_opts(),
        529,
        &[],
        &[br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#],
    );
    assert_eq!(o.head.status, 529);
    // Vertex's own quota error is in Google's shape.
    let o = run(&vertex(), json_opts(), 429, &[], &[&read("vertex_anthropic/error_quota.json")]);
    let v = o.json();
    assert_eq!((o.head.status, v["error"]["code"].as_str()), (429, Some("RESOURCE_EXHAUSTED")));
}

#[test]
fn finish_reasons_map() {
    for (stop, want) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ] {
        let body = json!({"id":"m","content":[{"type":"text","text":"x"}],"stop_reason":stop,"usage":{"input_tokens":1,"output_tokens":1}});
        let o = run(&anthropic(), json_opts(), 200, &[], &[body.to_string().as_bytes()]);
        let v = o.json();
        assert_eq!(v["choices"][0]["finish_reason"], want);
    }
}

#[test]
fn cached_prompt_tokens_count_as_input() {
    let body = br#"{"id":"m","content":[],"stop_reason":"end_turn","usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":3}}"#;
    let o = run(&anthropic(), json_opts(), 200, &[], &[body]);
    assert_eq!(o.tokens(), Some((115, 3)));
    let v = o.json();
    assert_eq!(v["choices"][0]["message"]["content"], Value::Null);
}

#[test]
fn a_stream_cut_short_ends_with_an_error_not_done() {
    let full = read("anthropic/stream_text.sse");
    let cut = &full[..full.len() / 2];
    let o = run(&anthropic(), stream_opts(true), 200, &[], &[cut]);
    assert_eq!(final_error(&o)["error"]["code"], "upstream_stream_truncated");
    assert!(!String::from_utf8_lossy(&o.body).contains("[DONE]"));
}
