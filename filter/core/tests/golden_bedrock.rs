//! Bedrock Converse: golden request/response/stream files from the Bedrock documentation
//! (sources in testdata/bedrock/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use llm_router_core::providers::ProviderKind;
use serde_json::json;

const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";

fn bedrock() -> llm_router_core::providers::Target {
    target(ProviderKind::Bedrock, MODEL)
}

#[test]
fn tool_conversation_becomes_a_converse_stream_request() {
    // Bedrock User Guide, "Use a tool to complete an Amazon Bedrock model response" (top_song).
    let g = request_golden(&bedrock(), "/v1/chat/completions", &read("bedrock/tool_use.openai.json"));
    golden_json("bedrock/tool_use.request.golden.json", &g);
}

#[test]
fn text_answer_becomes_a_chat_completion() {
    // Bedrock API Reference, Converse, "Response Syntax".
    let o = run(
        &bedrock(),
        json_opts(),
        200,
        &[("x-amzn-requestid", "5ec4a1d8-0d76-4b4c-9b5c-3c0e1f0b2a11")],
        &[&read("bedrock/converse_text.response.json")],
    );
    assert_eq!(o.head.status, 200);
    assert!(o.head.remove_headers.iter().any(|h| h == "content-length"));
    let v = o.json();
    golden_json("bedrock/converse_text.golden.json", &v);
    assert_eq!(o.tokens(), Some((453, 23)));
}

#[test]
fn tool_use_answer_becomes_tool_calls_with_json_string_arguments() {
    let o = run(&bedrock(), json_opts(), 200, &[], &[&read("bedrock/converse_tool_use.response.json")]);
    let v = o.json();
    golden_json("bedrock/converse_tool_use.golden.json", &v);
    assert_eq!(first_tool_call_args(&v), json!({"sign": "WZPZ"}));
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn text_stream_becomes_chunks_with_a_usage_chunk_and_done() {
    // Bedrock API Reference, ConverseStream, "Response Syntax".
    let stream = bedrock_stream("bedrock/stream_text.events.json");
    let o = run(&bedrock(), stream_opts(true), 200, &[("x-amzn-requestid", "rid-1")], &[&stream]);
    assert_eq!(o.head.status, 200);
    assert!(o.head.set_headers.contains(&("content-type".into(), "text/event-stream".into())));
    golden_sse("bedrock/stream_text.golden.sse", &o.body);
    assert_eq!(o.tokens(), Some((453, 23)));
}

#[test]
fn tool_stream_becomes_tool_call_deltas() {
    let stream = bedrock_stream("bedrock/stream_tool_use.events.json");
    let o = run(&bedrock(), stream_opts(false), 200, &[], &[&stream]);
    golden_sse("bedrock/stream_tool_use.golden.sse", &o.body);
    // Without include_usage there is no usage chunk, but the usage is still known.
    assert!(sse_values(&o.body).iter().all(|c| c.get("usage").is_none()));
    assert_eq!(o.usage.map(|u| u.output_tokens), Some(63));
}

#[test]
fn an_exception_in_the_stream_becomes_an_openai_error_event() {
    let stream = bedrock_stream("bedrock/stream_throttled.events.json");
    let o = run(&bedrock(), stream_opts(true), 200, &[], &[&stream]);
    golden_sse("bedrock/stream_throttled.golden.sse", &o.body);
    let last = sse_values(&o.body).pop().unwrap();
    assert_eq!(last["error"]["code"], "ThrottlingException");
}

#[test]
fn each_event_goes_out_as_soon_as_its_frame_is_complete() {
    let events = read_json("bedrock/stream_text.events.json");
    let frames: Vec<Vec<u8>> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            frame(&[(":event-type", e[0].as_str().unwrap()), (":message-type", "event")], e[1].to_string().as_bytes())
        })
        .collect();
    let chunks: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let o = run(&bedrock(), stream_opts(true), 200, &[], &chunks);
    let counts: Vec<usize> = o.per_chunk.iter().map(|c| sse_values(c).len()).collect();
    // messageStart → role chunk; two text deltas; block stop → nothing; messageStop → finish;
    // metadata → usage chunk, then [DONE] at the end of the body.
    assert_eq!(counts, [1, 1, 1, 0, 1, 2]);
}

#[test]
fn error_statuses_follow_the_exception_and_keep_openais_shape() {
    let cases: &[(u16, &str, &[u8], u16, &str)] = &[
        (
            429,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            b"{\"message\":\"Too many requests, please wait before trying again.\"}",
            429,
            "rate_limit_error",
        ),
        (400, "ValidationException", b"{\"message\":\"Malformed input request\"}", 400, "invalid_request_error"),
        (403, "AccessDeniedException", b"{\"Message\":\"not authorized\"}", 403, "permission_error"),
        (404, "ResourceNotFoundException", b"{\"message\":\"model not found\"}", 404, "not_found_error"),
        (408, "ModelTimeoutException", b"{\"message\":\"timed out\"}", 408, "timeout_error"),
        (503, "ServiceUnavailableException", b"{\"message\":\"unavailable\"}", 503, "service_unavailable_error"),
        (500, "InternalServerException", b"{\"message\":\"internal\"}", 500, "api_error"),
        (429, "ModelNotReadyException", b"{\"message\":\"not ready\"}", 429, "rate_limit_error"),
        (424, "ModelErrorException", b"{\"message\":\"model failed\"}", 502, "api_error"),
    ];
    for &(status, ty, body, want, kind) in cases {
        for stream in [false, true] {
            let opts = if stream { stream_opts(true) } else { json_opts() };
            let o = run(&bedrock(), opts, status, &[("x-amzn-errortype", ty)], &[&body[..5], &body[5..]]);
            assert_eq!(o.head.status, want, "{ty}");
            assert!(o.head.set_headers.contains(&("content-type".into(), "application/json".into())));
            let v = o.json();
            assert_eq!(v["error"]["type"], kind, "{ty}");
            assert_eq!(v["error"]["code"], ty.split(':').next().unwrap());
            assert!(v["error"]["message"].as_str().unwrap().len() > 3);
            assert_eq!(o.usage, None);
        }
    }
}

#[test]
fn finish_reasons_map() {
    for (stop, want) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
    ] {
        let body = json!({"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":stop,"usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}});
        let o = run(&bedrock(), json_opts(), 200, &[], &[body.to_string().as_bytes()]);
        let v = o.json();
        assert_eq!(v["choices"][0]["finish_reason"], want, "{stop}");
        let stream = [
            frame(&[(":event-type", "messageStart"), (":message-type", "event")], br#"{"role":"assistant"}"#),
            frame(
                &[(":event-type", "messageStop"), (":message-type", "event")],
                json!({"stopReason": stop}).to_string().as_bytes(),
            ),
        ]
        .concat();
        let o = run(&bedrock(), stream_opts(false), 200, &[], &[&stream]);
        let chunks = sse_values(&o.body);
        assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], want, "{stop}");
    }
}

#[test]
fn a_body_that_is_not_converse_json_is_a_502_shaped_error() {
    let o = run(&bedrock(), json_opts(), 200, &[], &[b"<html>"]);
    let v = o.json();
    assert_eq!(v["error"]["code"], "invalid_provider_response");
}
