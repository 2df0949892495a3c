//! Anthropic-form clients (`POST /v1/messages`) on every provider: the request translated (or
//! passed on to Anthropic and Claude on Vertex), answers and errors in Anthropic's shape
//! (testdata/anthropic_clients/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use llm_router_core::providers::{
    anthropic_error_body, translate_request, ClientApi, ProviderKind, ResponseOptions, Target,
};
use llm_router_core::RequestError;
use serde_json::{json, Value};

const PATH: &str = "/v1/messages";

fn opts(stream: bool) -> ResponseOptions {
    ResponseOptions {
        stream,
        include_usage: true,
        created: CREATED,
        request_id: 0xfeed,
        client_api: ClientApi::Anthropic,
        upstream_stream: false,
    }
}

/// Anthropic SSE output as `[event, data]` pairs.
fn events(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (ev, data) = e.split_once('\n').unwrap();
            let ev = ev.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], ev, "event name matches its data's type");
            json!([ev, data])
        })
        .collect()
}

fn golden_events(rel: &str, actual: &[u8]) {
    golden_json(rel, &Value::Array(events(actual)))
}

#[test]
fn the_request_on_every_provider() {
    let body = read("anthropic_clients/tool_use.anthropic.json");
    let vertex = |kind, model: &str| target(kind, model);
    for (t, golden) in [
        (target(ProviderKind::Bedrock, "anthropic.claude-3-7-sonnet-20250219-v1:0"), "bedrock"),
        (Target { base_path: "/v1".into(), ..target(ProviderKind::OpenAi, "gpt-4o") }, "openai"),
        (Target { api_version: Some("2024-10-21".into()), ..target(ProviderKind::Azure, "gpt-4o-eu") }, "azure"),
        (vertex(ProviderKind::VertexGemini, "gemini-2.0-flash-001"), "vertex_gemini"),
        (vertex(ProviderKind::VertexAnthropic, "claude-3-7-sonnet@20250219"), "vertex_anthropic"),
        (target(ProviderKind::Anthropic, "claude-3-7-sonnet-20250219"), "anthropic"),
    ] {
        let g = request_golden(&t, PATH, &body);
        golden_json(&format!("anthropic_clients/tool_use.{golden}.request.golden.json"), &g);
        let r = translate_request(&t, PATH, &body).unwrap();
        assert_eq!(r.client_api, ClientApi::Anthropic);
        assert!(r.stream && r.include_usage, "{golden}");
    }
    // Anthropic gets the client's bytes, but for the model.
    let r = translate_request(&target(ProviderKind::Anthropic, "claude-x"), PATH, &body).unwrap();
    let expected = String::from_utf8(body.clone()).unwrap().replace("\"claude\"", "\"claude-x\"");
    assert_eq!(String::from_utf8(r.body).unwrap(), expected);
}

#[test]
fn bedrock_answers_in_anthropics_shape() {
    let t = target(ProviderKind::Bedrock, "anthropic.claude-3-7-sonnet-20250219-v1:0");
    let o = run(&t, opts(false), 200, &[], &[&read("bedrock/converse_tool_use.response.json")]);
    let v = o.json();
    golden_json("anthropic_clients/bedrock_tool_use.message.golden.json", &v);
    let stream = bedrock_stream("bedrock/stream_tool_use.events.json");
    let o = run(&t, opts(true), 200, &[], &[&stream]);
    golden_events("anthropic_clients/bedrock_tool_use.events.golden.json", &o.body);
    assert_eq!(o.tokens(), Some((375, 63)));
}

#[test]
fn openai_answers_in_anthropics_shape() {
    let t = target(ProviderKind::OpenAi, "gpt-4o");
    let o = run(&t, opts(false), 200, &[], &[&read("openai/chat_completion.response.json")]);
    let v = o.json();
    golden_json("anthropic_clients/openai_text.message.golden.json", &v);
    let o = run(&t, opts(true), 200, &[], &[&read("openai/stream_usage.sse")]);
    golden_events("anthropic_clients/openai_text.events.golden.json", &o.body);
    assert_eq!(o.tokens(), Some((9, 12)));
}

#[test]
fn openai_tool_call_fragments_become_input_json_deltas() {
    let chunks = [
        r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        "[DONE]",
    ];
    let sse: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    let o = run(&target(ProviderKind::Azure, "d"), opts(true), 200, &[], &[sse.as_bytes()]);
    let ev = events(&o.body);
    let names: Vec<&str> = ev.iter().map(|e| e[0].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(ev[1][1]["content_block"], json!({"type":"tool_use","id":"call_1","name":"get_weather","input":{}}));
    let args: String = ev.iter().filter_map(|e| e[1]["delta"]["partial_json"].as_str()).collect();
    assert_eq!(args, "{\"location\":\"Paris\"}");
    assert_eq!(ev[5][1]["delta"]["stop_reason"], "tool_use");
    assert_eq!(ev[5][1]["usage"], json!({"input_tokens":5,"output_tokens":7}));
}

#[test]
fn anthropic_and_vertex_answers_pass_through_with_usage() {
    for kind in [ProviderKind::Anthropic, ProviderKind::VertexAnthropic] {
        let t = target(kind, "claude");
        let s = read("anthropic/stream_tool_use.sse");
        let pieces: Vec<&[u8]> = s.chunks(17).collect();
        let o = run(&t, opts(true), 200, &[("content-type", "text/event-stream")], &pieces);
        assert_eq!(o.body, s);
        assert!(o.head.remove_headers.is_empty());
        assert_eq!(o.tokens(), Some((472, 89)));
        let m = read("anthropic/message_text.response.json");
        let o = run(&t, opts(false), 200, &[], &[&m]);
        assert_eq!((o.body, o.usage.map(|u| u.output_tokens)), (m, Some(503)));
    }
    // Anthropic's own errors pass unchanged; Vertex's Google-shaped ones become Anthropic's.
    let e = read("anthropic/error_invalid_request.json");
    let o = run(&target(ProviderKind::Anthropic, "c"), opts(true), 400, &[], &[&e]);
    assert_eq!((o.head.status, o.body), (400, e));
    let o = run(
        &target(ProviderKind::VertexAnthropic, "c"),
        opts(true),
        429,
        &[],
        &[&read("vertex_anthropic/error_quota.json")],
    );
    let v = o.json();
    assert_eq!(
        (o.head.status, v["type"].as_str(), v["error"]["type"].as_str()),
        (429, Some("error"), Some("rate_limit_error"))
    );
}

#[test]
fn errors_reach_anthropic_clients_in_anthropics_shape() {
    let t = target(ProviderKind::Bedrock, "m");
    let o = run(
        &t,
        opts(true),
        429,
        &[("x-amzn-errortype", "ThrottlingException")],
        &[b"{\"message\":\"Too many requests\"}"],
    );
    let v = o.json();
    assert_eq!(v, json!({"type":"error","error":{"type":"rate_limit_error","message":"Too many requests"}}));
    let o = run(&t, opts(true), 200, &[], &[&bedrock_stream("bedrock/stream_throttled.events.json")]);
    let ev = events(&o.body);
    assert_eq!(
        ev.last().unwrap()[1],
        json!({"type":"error","error":{"type":"rate_limit_error","message":"Too many requests, please wait before trying again."}})
    );
    let e = RequestError::bad_request("unsupported_parameter", "nope");
    assert_eq!(
        serde_json::from_slice::<Value>(&anthropic_error_body(&e)).unwrap(),
        json!({"type":"error","error":{"type":"invalid_request_error","message":"nope"}})
    );
    // A request Bedrock cannot take is refused naming the part.
    let b = br#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}"#;
    let e = translate_request(&t, PATH, b).unwrap_err();
    assert!(e.message.contains("document") && e.status == 400, "{}", e.message);
}

#[test]
fn a_bedrock_stream_read_back_as_anthropic_gives_the_same_answer_as_openai() {
    // Bedrock → Anthropic SSE → (Anthropic dialect) → OpenAI chunks must carry what
    // Bedrock → OpenAI chunks carry: the same text, tool call and finish reason.
    let t = target(ProviderKind::Bedrock, "m");
    let stream = bedrock_stream("bedrock/stream_tool_use.events.json");
    let direct = sse_values(&run(&t, stream_opts(false), 200, &[], &[&stream]).body);
    let anthropic = run(&t, opts(true), 200, &[], &[&stream]).body;
    let back =
        sse_values(&run(&target(ProviderKind::Anthropic, "m"), stream_opts(false), 200, &[], &[&anthropic]).body);
    let strip = |chunks: &[Value]| -> Vec<Value> {
        chunks
            .iter()
            .map(|c| {
                if c.is_string() {
                    c.clone()
                } else {
                    json!([c["choices"][0]["delta"], c["choices"][0]["finish_reason"]])
                }
            })
            .collect()
    };
    assert_eq!(strip(&back), strip(&direct));
}
