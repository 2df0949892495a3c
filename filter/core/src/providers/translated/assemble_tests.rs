//! Answers assembled from a provider's stream for a client that wants one whole answer
//! ([`ResponseOptions::upstream_stream`]): every dialect, both client APIs, compared with the
//! answer the same provider's whole (non-streaming) body translates to.

use serde_json::{json, Value};

use crate::providers::codec::eventstream::{encode_event, encode_frame};
use crate::providers::codec::MAX_ANSWER_BODY;
use crate::providers::{
    anthropic, bedrock, openai, response_translator, vertex, ClientApi, FirstContent, ProviderKind, ResponseOptions,
    ResponseTranslator, Target, Usage,
};

const KINDS: [ProviderKind; 6] = [
    ProviderKind::Bedrock,
    ProviderKind::VertexGemini,
    ProviderKind::Anthropic,
    ProviderKind::VertexAnthropic,
    ProviderKind::OpenAi,
    ProviderKind::Azure,
];
const APIS: [ClientApi; 2] = [ClientApi::OpenAi, ClientApi::Anthropic];
const MIB: usize = 1024 * 1024;

/// One answer: its text in pieces, maybe a tool call `(id, name, argument fragments)`.
struct Answer {
    text: &'static [&'static str],
    tool: Option<(&'static str, &'static str, &'static [&'static str])>,
}

const TEXT: Answer = Answer { text: &["Hel", "lo ", "world"], tool: None };
const TOOL: Answer =
    Answer { text: &["Let me look."], tool: Some(("tu_1", "get_weather", &["{\"city\": ", "\"Paris\"}"])) };
const TOOL_ONLY: Answer = Answer { text: &[], tool: Some(("tu_2", "now", &["", "{}"])) };
const USAGE: (u64, u64) = (11, 7);

impl Answer {
    fn joined(&self) -> String {
        self.text.concat()
    }

    fn args(&self) -> Option<Value> {
        self.tool.map(|(_, _, f)| serde_json::from_str(&f.concat()).unwrap())
    }
}

fn sse(data: &Value) -> Vec<u8> {
    format!("data: {data}\n\n").into_bytes()
}

fn anthropic_event(data: Value) -> Vec<u8> {
    format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap()).into_bytes()
}

fn bedrock_event(event: &str, payload: Value) -> Vec<u8> {
    encode_event(event, payload.to_string().as_bytes())
}

fn gemini_event(parts: Value, finish: Option<&str>) -> Vec<u8> {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}});
    let mut event = json!({"responseId": "r1"});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
        event["usageMetadata"] = json!({"promptTokenCount": USAGE.0, "candidatesTokenCount": USAGE.1});
    }
    event["candidates"] = json!([candidate]);
    sse(&event)
}

fn openai_chunk(delta: Value, finish: Option<&str>) -> Vec<u8> {
    sse(&json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 3, "model": "o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
}

/// The provider's stream of `a`, one element per provider event.
fn stream(kind: ProviderKind, a: &Answer) -> Vec<Vec<u8>> {
    let mut s = Vec::new();
    match kind {
        ProviderKind::Bedrock => {
            s.push(bedrock_event("messageStart", json!({"role": "assistant"})));
            for t in a.text {
                s.push(bedrock_event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": t}})));
            }
            if let Some((id, name, fragments)) = a.tool {
                let start = json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": id, "name": name}}});
                s.push(bedrock_event("contentBlockStart", start));
                for f in fragments {
                    let delta = json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": f}}});
                    s.push(bedrock_event("contentBlockDelta", delta));
                }
            }
            let stop = if a.tool.is_some() { "tool_use" } else { "end_turn" };
            s.push(bedrock_event("messageStop", json!({"stopReason": stop})));
            let usage = json!({"inputTokens": USAGE.0, "outputTokens": USAGE.1, "totalTokens": USAGE.0 + USAGE.1});
            s.push(bedrock_event("metadata", json!({"usage": usage, "metrics": {"latencyMs": 9}})));
        }
        ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio => {
            // Gemini sends a function call whole, in one part.
            for t in a.text {
                s.push(gemini_event(json!([{"text": t}]), None));
            }
            if let Some((_, name, _)) = a.tool {
                s.push(gemini_event(json!([{"functionCall": {"name": name, "args": a.args()}}]), None));
            }
            s.push(gemini_event(json!([]), Some("STOP")));
        }
        ProviderKind::Anthropic | ProviderKind::VertexAnthropic => {
            let message = json!({"id": "msg_up", "type": "message", "role": "assistant", "model": "c", "content": [],
                "stop_reason": null, "usage": {"input_tokens": USAGE.0, "output_tokens": 1}});
            s.push(anthropic_event(json!({"type": "message_start", "message": message})));
            s.push(anthropic_event(json!({"type": "ping"})));
            let block = json!({"type": "text", "text": ""});
            s.push(anthropic_event(json!({"type": "content_block_start", "index": 0, "content_block": block})));
            for t in a.text {
                let delta = json!({"type": "text_delta", "text": t});
                s.push(anthropic_event(json!({"type": "content_block_delta", "index": 0, "delta": delta})));
            }
            s.push(anthropic_event(json!({"type": "content_block_stop", "index": 0})));
            if let Some((id, name, fragments)) = a.tool {
                let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                s.push(anthropic_event(json!({"type": "content_block_start", "index": 1, "content_block": block})));
                for f in fragments {
                    let delta = json!({"type": "input_json_delta", "partial_json": f});
                    s.push(anthropic_event(json!({"type": "content_block_delta", "index": 1, "delta": delta})));
                }
                s.push(anthropic_event(json!({"type": "content_block_stop", "index": 1})));
            }
            let stop = if a.tool.is_some() { "tool_use" } else { "end_turn" };
            let delta = json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": USAGE.1}});
            s.push(anthropic_event(delta));
            s.push(anthropic_event(json!({"type": "message_stop"})));
        }
        ProviderKind::OpenAi | ProviderKind::Azure => {
            s.push(openai_chunk(json!({"role": "assistant", "content": ""}), None));
            for t in a.text {
                s.push(openai_chunk(json!({"content": t}), None));
            }
            if let Some((id, name, fragments)) = a.tool {
                let call =
                    json!({"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                s.push(openai_chunk(json!({"tool_calls": [call]}), None));
                for f in fragments {
                    s.push(openai_chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}), None));
                }
            }
            let finish = if a.tool.is_some() { "tool_calls" } else { "stop" };
            s.push(openai_chunk(json!({}), Some(finish)));
            let usage = json!({"prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": 18});
            s.push(sse(
                &json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "choices": [], "usage": usage}),
            ));
            s.push(b"data: [DONE]\n\n".to_vec());
        }
    }
    s
}

/// The provider's whole (non-streaming) body for `a`.
fn whole_body(kind: ProviderKind, a: &Answer) -> Vec<u8> {
    let text = a.joined();
    let v = match kind {
        ProviderKind::Bedrock => {
            let mut content: Vec<Value> = a.text.first().map(|_| json!({"text": text})).into_iter().collect();
            if let Some((id, name, _)) = a.tool {
                content.push(json!({"toolUse": {"toolUseId": id, "name": name, "input": a.args()}}));
            }
            let stop = if a.tool.is_some() { "tool_use" } else { "end_turn" };
            json!({"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                "usage": {"inputTokens": USAGE.0, "outputTokens": USAGE.1}})
        }
        ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio => {
            let mut parts: Vec<Value> = a.text.first().map(|_| json!({"text": text})).into_iter().collect();
            if let Some((_, name, _)) = a.tool {
                parts.push(json!({"functionCall": {"name": name, "args": a.args()}}));
            }
            json!({"responseId": "r1", "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": USAGE.0, "candidatesTokenCount": USAGE.1}})
        }
        ProviderKind::Anthropic | ProviderKind::VertexAnthropic => {
            let mut content: Vec<Value> =
                a.text.first().map(|_| json!({"type": "text", "text": text})).into_iter().collect();
            if let Some((id, name, _)) = a.tool {
                content.push(json!({"type": "tool_use", "id": id, "name": name, "input": a.args()}));
            }
            let stop = if a.tool.is_some() { "tool_use" } else { "end_turn" };
            json!({"id": "msg_up", "type": "message", "role": "assistant", "model": "c", "content": content,
                "stop_reason": stop, "usage": {"input_tokens": USAGE.0, "output_tokens": USAGE.1}})
        }
        ProviderKind::OpenAi | ProviderKind::Azure => {
            let mut message =
                json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
            if let Some((id, name, fragments)) = a.tool {
                message["tool_calls"] = json!([{"id": id, "type": "function",
                    "function": {"name": name, "arguments": fragments.concat()}}]);
            }
            let finish = if a.tool.is_some() { "tool_calls" } else { "stop" };
            json!({"id": "chatcmpl-up", "object": "chat.completion", "created": 3, "model": "o",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": 18}})
        }
    };
    v.to_string().into_bytes()
}

fn opts(client_api: ClientApi) -> ResponseOptions {
    ResponseOptions { created: 5, request_id: 0xbeef, client_api, upstream_stream: true, ..ResponseOptions::default() }
}

fn content_type(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Bedrock => "application/vnd.amazon.eventstream",
        _ => "text/event-stream",
    }
}

/// What one attempt gave: the output and the state after each piece.
struct Run {
    status: u16,
    set_headers: Vec<(String, String)>,
    outs: Vec<Vec<u8>>,
    states: Vec<FirstContent>,
    broken: bool,
    usage: Option<Usage>,
}

impl Run {
    /// Everything output: the whole answer (or error), all at the last piece.
    fn body(&self) -> Value {
        let before_end = &self.outs[..self.outs.len() - 1];
        assert!(before_end.iter().all(Vec::is_empty), "output before the end of the body");
        serde_json::from_slice(self.outs.last().unwrap()).unwrap()
    }

    fn last(&self) -> &FirstContent {
        self.states.last().unwrap()
    }
}

fn run_with(kind: ProviderKind, opts: ResponseOptions, status: u16, content_type: &str, pieces: &[Vec<u8>]) -> Run {
    let mut t = response_translator(&Target::new(kind, "m"), opts);
    let head = t.on_headers(status, &[("content-type".into(), content_type.into())]);
    let mut run = Run {
        status: head.status,
        set_headers: head.set_headers,
        outs: vec![],
        states: vec![],
        broken: false,
        usage: None,
    };
    for (i, p) in pieces.iter().enumerate() {
        run.outs.push(t.on_body(p, i + 1 == pieces.len()));
        run.states.push(t.first_content());
    }
    run.broken = t.broken_after_content();
    run.usage = t.usage();
    run
}

fn run(kind: ProviderKind, api: ClientApi, pieces: &[Vec<u8>]) -> Run {
    run_with(kind, opts(api), 200, content_type(kind), pieces)
}

/// The answer the provider's whole body translates to (its dialect's translator, also for the
/// pairs that pass whole answers through).
fn whole(kind: ProviderKind, api: ClientApi, body: &[u8]) -> Value {
    let target = Target::new(kind, "m");
    let o = ResponseOptions { upstream_stream: false, ..opts(api) };
    let mut t: Box<dyn ResponseTranslator> = match kind {
        ProviderKind::Bedrock => Box::new(bedrock::response_translator(&target, o)),
        ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio => {
            Box::new(vertex::gemini::response_translator(&target, o))
        }
        ProviderKind::Anthropic | ProviderKind::VertexAnthropic => Box::new(anthropic::response_translator(&target, o)),
        ProviderKind::OpenAi | ProviderKind::Azure => Box::new(openai::response_translator(&target, o)),
    };
    t.on_headers(200, &[]);
    serde_json::from_slice(&t.on_body(body, true)).unwrap()
}

/// A tool call: id, name, arguments.
type Call = (String, String, String);

/// The answer in neutral terms: text, tool calls `(id, name, compact arguments)`, finish, usage.
fn fields(api: ClientApi, v: &Value) -> (Value, Vec<Call>, String, (u64, u64)) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let n = |v: &Value| v.as_u64().unwrap();
    match api {
        ClientApi::OpenAi => {
            let m = &v["choices"][0]["message"];
            let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
            let calls = calls.iter().map(|c| (s(&c["id"]), s(&c["function"]["name"]), s(&c["function"]["arguments"])));
            let u = &v["usage"];
            (
                m["content"].clone(),
                calls.collect(),
                s(&v["choices"][0]["finish_reason"]),
                (n(&u["prompt_tokens"]), n(&u["completion_tokens"])),
            )
        }
        ClientApi::Anthropic => {
            let blocks = v["content"].as_array().unwrap();
            let text: String = blocks.iter().filter(|b| b["type"] == "text").map(|b| s(&b["text"])).collect();
            let calls = blocks.iter().filter(|b| b["type"] == "tool_use");
            let calls = calls.map(|b| (s(&b["id"]), s(&b["name"]), b["input"].to_string()));
            let u = &v["usage"];
            (json!(text), calls.collect(), s(&v["stop_reason"]), (n(&u["input_tokens"]), n(&u["output_tokens"])))
        }
    }
}

/// `v` with OpenAI's argument strings read as JSON, and without the answer's id when the
/// provider's stream gives none (OpenAI's chunks carry it, but the dialect does not read it).
fn comparable(kind: ProviderKind, mut v: Value) -> Value {
    if let Some(calls) = v.pointer_mut("/choices/0/message/tool_calls").and_then(Value::as_array_mut) {
        for c in calls {
            let args: Value = serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap();
            c["function"]["arguments"] = args;
        }
    }
    if matches!(kind, ProviderKind::OpenAi | ProviderKind::Azure) {
        v["id"] = Value::Null;
    }
    v
}

#[test]
fn every_dialect_s_stream_becomes_the_whole_answer_in_both_client_apis() {
    for kind in KINDS {
        for api in APIS {
            for a in [&TEXT, &TOOL, &TOOL_ONLY] {
                let at = format!("{kind:?} to {api:?}, {:?}", a.joined());
                let r = run(kind, api, &stream(kind, a));
                let v = r.body();
                assert_eq!(r.status, 200, "{at}");
                assert_eq!(r.set_headers, [("content-type".to_owned(), "application/json".to_owned())], "{at}");
                assert!(!r.broken, "{at}");
                assert_eq!(r.usage.map(|u| (u.input_tokens, u.output_tokens)), Some(USAGE), "{at}");

                // The exact fields.
                let (text, calls, finish, usage) = fields(api, &v);
                let want_text = match (api, a.text.is_empty()) {
                    (ClientApi::OpenAi, true) => Value::Null,
                    _ => json!(a.joined()),
                };
                assert_eq!(text, want_text, "{at}: {v}");
                let want_calls: Vec<Call> = a
                    .tool
                    .map(|(id, name, _)| {
                        // Gemini gives its calls no id: they are numbered.
                        let id = if kind == ProviderKind::VertexGemini { "call_0" } else { id };
                        (id.to_owned(), name.to_owned(), a.args().unwrap().to_string())
                    })
                    .into_iter()
                    .collect();
                assert_eq!(calls, want_calls, "{at}: {v}");
                let want_finish = match (api, a.tool.is_some()) {
                    (ClientApi::OpenAi, true) => "tool_calls",
                    (ClientApi::OpenAi, false) => "stop",
                    (ClientApi::Anthropic, true) => "tool_use",
                    (ClientApi::Anthropic, false) => "end_turn",
                };
                assert_eq!((finish.as_str(), usage), (want_finish, USAGE), "{at}: {v}");
                let id = v["id"].as_str().unwrap();
                let want_id = match (kind, api) {
                    (ProviderKind::Anthropic | ProviderKind::VertexAnthropic, _) => "msg_up",
                    (ProviderKind::VertexGemini, _) => "chatcmpl-r1",
                    (ProviderKind::OpenAi | ProviderKind::Azure, _) => "chatcmpl-up",
                    (_, ClientApi::OpenAi) => "chatcmpl-000000000000beef",
                    (_, ClientApi::Anthropic) => "msg_000000000000beef",
                };
                assert_eq!(id, want_id, "{at}");

                // The same as the provider's whole answer translates to.
                let w = whole(kind, api, &whole_body(kind, a));
                assert_eq!(comparable(kind, v), comparable(kind, w), "{at}");
            }
        }
    }
}

#[test]
fn a_stream_is_held_until_its_first_content_and_written_only_at_the_end() {
    use FirstContent::{Seen, Waiting};
    for kind in KINDS {
        for api in APIS {
            let events = stream(kind, &TOOL);
            let r = run(kind, api, &events);
            r.body();
            // Waiting while only start events came, Seen from the first content on.
            // The first text event: after Anthropic's start, ping and empty text block, after
            // OpenAI's role chunk (its empty content is none), Bedrock's start; Gemini's first.
            let first = match kind {
                ProviderKind::VertexGemini => 0,
                ProviderKind::Anthropic | ProviderKind::VertexAnthropic => 3,
                _ => 1,
            };
            let mut want = vec![Waiting; first];
            want.resize(events.len(), Seen);
            assert_eq!(r.states, want, "{kind:?} to {api:?}");
            // Cut anywhere, the same answer.
            let bytes = events.concat();
            let bytewise: Vec<Vec<u8>> = bytes.iter().map(|b| vec![*b]).collect();
            let cut = run(kind, api, &bytewise);
            assert_eq!(cut.body(), r.body(), "{kind:?} to {api:?}");
        }
    }
    // Never held: a provider that answered whole although a stream was asked for...
    let body = whole_body(ProviderKind::Bedrock, &TOOL);
    let r = run_with(ProviderKind::Bedrock, opts(ClientApi::OpenAi), 200, "application/json", &[body]);
    assert_eq!(*r.last(), FirstContent::Seen);
    assert_eq!(r.body()["choices"][0]["message"]["content"], "Let me look.");
    // ...and an error status, the client's error.
    let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#.to_vec();
    let r = run_with(ProviderKind::Anthropic, opts(ClientApi::Anthropic), 429, "application/json", &[body]);
    assert_eq!((r.status, r.last().clone(), r.broken), (429, FirstContent::Seen, false));
    assert_eq!(r.body()["error"]["type"], "rate_limit_error");
}

/// An error event of `kind`'s stream: throttling when `throttled` (not for OpenAI's, whose
/// stream errors carry no status).
fn error_event(kind: ProviderKind, throttled: bool) -> Vec<u8> {
    match kind {
        ProviderKind::Bedrock => {
            let name = if throttled { "throttlingException" } else { "modelStreamErrorException" };
            let headers =
                [(":message-type", "exception"), (":exception-type", name), (":content-type", "application/json")];
            encode_frame(&headers, br#"{"message":"slow down"}"#)
        }
        ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio => {
            let (code, status) = if throttled { (429, "RESOURCE_EXHAUSTED") } else { (500, "INTERNAL") };
            sse(&json!({"error": {"code": code, "message": "slow down", "status": status}}))
        }
        ProviderKind::Anthropic | ProviderKind::VertexAnthropic => {
            let ty = if throttled { "overloaded_error" } else { "api_error" };
            anthropic_event(json!({"type": "error", "error": {"type": ty, "message": "slow down"}}))
        }
        ProviderKind::OpenAi | ProviderKind::Azure => {
            sse(&json!({"error": {"message": "slow down", "type": "server_error"}}))
        }
    }
}

/// The error's code or type in the client's shape.
fn error_name(api: ClientApi, body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    let name = match api {
        ClientApi::OpenAi => &v["error"]["code"],
        ClientApi::Anthropic => &v["error"]["type"],
    };
    name.as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_error_before_content_fails_the_attempt_as_429_or_503() {
    for kind in KINDS {
        for api in APIS {
            for throttled in [false, true] {
                if throttled && matches!(kind, ProviderKind::OpenAi | ProviderKind::Azure) {
                    continue;
                }
                let mut events = stream(kind, &TEXT);
                // After the start events, before the first text.
                let at = if kind == ProviderKind::VertexGemini { 0 } else { 1 };
                events.insert(at, error_event(kind, throttled));
                let r = run(kind, api, &events);
                assert!(r.outs.iter().all(Vec::is_empty), "{kind:?}: nothing is written");
                assert!(!r.broken);
                let FirstContent::Failed { status, body } = r.last() else { panic!("{kind:?}: {:?}", r.states) };
                assert_eq!(*status, if throttled { 429 } else { 503 }, "{kind:?} {api:?}");
                let v: Value = serde_json::from_slice(body).unwrap();
                assert_eq!(v["error"]["message"], "slow down", "{kind:?} {api:?}: {v}");
                // The usage read before the error is kept (Anthropic's start gives input tokens).
                if matches!(kind, ProviderKind::Anthropic | ProviderKind::VertexAnthropic) {
                    assert_eq!(r.usage.map(|u| u.input_tokens), Some(USAGE.0));
                }
            }
        }
    }
}

#[test]
fn an_error_after_content_breaks_the_answer_instead_of_completing_it() {
    for kind in KINDS {
        for api in APIS {
            let mut events = stream(kind, &TOOL);
            // After the first content, before the provider's finish.
            let at = if kind == ProviderKind::VertexGemini { events.len() - 1 } else { events.len() - 3 };
            events.insert(at, error_event(kind, false));
            let r = run(kind, api, &events);
            assert_eq!(*r.last(), FirstContent::Seen, "{kind:?}");
            assert!(r.broken, "{kind:?} {api:?}");
            let v = r.body();
            let message = &v["error"]["message"];
            assert_eq!(message, "slow down", "{kind:?} {api:?}: the end is the client's error, not an answer: {v}");
        }
    }
}

#[test]
fn a_stream_cut_before_the_provider_finished_is_no_answer() {
    for kind in KINDS {
        for api in APIS {
            let events = stream(kind, &TEXT);
            let finish = events.iter().position(|e| {
                let e = String::from_utf8_lossy(e);
                ["messageStop", "finishReason", "stop_reason\":\"end_turn", "finish_reason\":\"stop"]
                    .iter()
                    .any(|f| e.contains(f))
            });
            let finish = finish.unwrap();
            // Cut after content: broken, the end says why.
            let r = run(kind, api, &events[..finish]);
            assert!(r.broken, "{kind:?} {api:?}");
            assert_eq!(
                error_name(api, r.outs.last().unwrap()),
                match api {
                    ClientApi::OpenAi => "upstream_stream_truncated",
                    ClientApi::Anthropic => "api_error",
                }
            );
            // Cut before any content: a 503 the next deployment retries.
            let r = run(kind, api, &events[..1]);
            let content_first = kind == ProviderKind::VertexGemini;
            if !content_first {
                let FirstContent::Failed { status, body } = r.last() else { panic!("{kind:?}: {:?}", r.states) };
                assert_eq!(*status, 503);
                assert!(String::from_utf8_lossy(body).contains("ended before the answer was complete"));
                assert!(!r.broken);
            }
        }
    }
}

#[test]
fn a_stream_that_finishes_without_content_is_an_empty_answer() {
    let events = stream(ProviderKind::Anthropic, &Answer { text: &[], tool: None });
    let r = run(ProviderKind::Anthropic, ClientApi::OpenAi, &events);
    assert_eq!((r.last().clone(), r.broken), (FirstContent::Seen, false));
    let v = r.body();
    assert_eq!(
        (v["choices"][0]["message"]["content"].as_str(), v["choices"][0]["finish_reason"].as_str()),
        (Some(""), Some("stop"))
    );
}

#[test]
fn the_assembled_answer_is_capped() {
    let events = stream(ProviderKind::Anthropic, &TEXT);
    let (start, stop) = (&events[..3], &events[6..]);
    let delta = |len: usize| {
        let delta = json!({"type": "text_delta", "text": "y".repeat(len)});
        anthropic_event(json!({"type": "content_block_delta", "index": 0, "delta": delta}))
    };
    // Under the cap (with room for the JSON around it): the whole answer.
    let pieces = [start, &[delta(3 * MIB), delta(3 * MIB)][..], stop].concat();
    let r = run(ProviderKind::Anthropic, ClientApi::OpenAi, &pieces);
    assert_eq!(r.body()["choices"][0]["message"]["content"].as_str().map(str::len), Some(6 * MIB));
    // Over it after content: broken, and the gathered text is let go at once.
    let pieces = [start, &[delta(3 * MIB), delta(3 * MIB), delta(3 * MIB)][..], stop].concat();
    let r = run(ProviderKind::Anthropic, ClientApi::Anthropic, &pieces);
    assert!(r.broken);
    assert_eq!(error_name(ClientApi::Anthropic, r.outs.last().unwrap()), "api_error");
    assert!(String::from_utf8_lossy(r.outs.last().unwrap()).contains("larger than 8 MiB"));
    // An event over the stream's cap before content fails the attempt.
    let endless = [b"data: ".to_vec(), vec![b'x'; crate::providers::codec::sse::MAX_EVENT + 1]].concat();
    let r = run(ProviderKind::Anthropic, ClientApi::OpenAi, &[start[0].clone(), endless]);
    let FirstContent::Failed { status, body } = r.last() else { panic!("{:?}", r.states) };
    assert_eq!((*status, error_name(ClientApi::OpenAi, body).as_str()), (503, "upstream_response_too_large"));
    const { assert!(MAX_ANSWER_BODY < 9 * MIB, "the deltas above are over the cap") };
}

#[test]
fn tool_arguments_that_are_not_json_are_passed_on_as_text() {
    let call =
        |args: &str| json!({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": args}}]});
    let more = |args: &str| json!({"tool_calls": [{"index": 0, "function": {"arguments": args}}]});
    let events = vec![
        openai_chunk(call("{\"a\":"), None),
        // Some servers name the call again with every fragment: still one call.
        openai_chunk(call(" 1"), None),
        openai_chunk(more(", oops"), None),
        openai_chunk(json!({}), Some("tool_calls")),
    ];
    let r = run(ProviderKind::OpenAi, ClientApi::OpenAi, &events);
    let v = r.body();
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!((calls.len(), calls[0]["function"]["arguments"].as_str()), (1, Some("{\"a\": 1, oops")), "{v}");
    // An Anthropic client takes an object: `{}` for text that is none, as for a whole answer.
    let r = run(ProviderKind::OpenAi, ClientApi::Anthropic, &events);
    assert_eq!(r.body()["content"][0]["input"], json!({}));
}

#[test]
fn gathered_tool_calls_stay_within_the_cap_and_take_only_the_open_call_s_fragments() {
    use crate::providers::chat::{Ev, Gathered};
    let start =
        |block: u64, id: &str| Ev::ToolStart { block, id: id.into(), name: "f".into(), arguments: String::new() };
    let args = |block: u64, f: &str| Ev::ToolArgs { block, fragment: f.into() };
    let mut g = Gathered::new(1000);
    for ev in [start(0, "a"), args(0, "{\"x\":1}"), start(1, "b"), args(0, "lost"), args(1, "[2]")] {
        assert!(g.add(ev));
    }
    let reply = g.reply().unwrap();
    let mut calls = Vec::new();
    reply.tool_calls.each(&mut |c| {
        calls.push((c.id.into_owned(), c.arguments.to_text().into_owned()));
        true
    });
    assert_eq!(calls, [("a".to_owned(), "{\"x\":1}".to_owned()), ("b".to_owned(), "[2]".to_owned())]);
    // Arguments that are not JSON are held as a string: counted escaped, before they are written.
    let mut g = Gathered::new(100);
    assert!(g.add(start(0, "a")));
    assert!(g.add(args(0, &"\u{1}".repeat(30))));
    assert!(g.reply().is_none(), "30 control bytes take 180 escaped");
    // Found when the next call starts.
    let mut g = Gathered::new(100);
    assert!(g.add(start(0, "a")));
    assert!(g.add(args(0, &"\u{1}".repeat(30))));
    assert!(!g.add(start(1, "b")));
}
