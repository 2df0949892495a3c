//! Helpers for the provider tests: golden files, running a translator over chunks, and an
//! AWS event-stream encoder written apart from the crate's (bitwise CRC32), so the decoder is
//! never checked against itself.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use llm_router_core::providers::{
    response_translator, translate_request, FirstContent, ProviderKind, ResponseHead, ResponseOptions, Target, Usage,
};
use serde_json::Value;

pub const CREATED: u64 = 1_700_000_000;

pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn read_json(rel: &str) -> Value {
    serde_json::from_slice(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Compares `actual` with the golden file; `GOLDEN_BLESS=1` writes it instead.
pub fn golden_json(rel: &str, actual: &Value) {
    if std::env::var_os("GOLDEN_BLESS").is_some() {
        let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
        std::fs::write(testdata(rel), text).unwrap();
        return;
    }
    let expected = read_json(rel);
    assert_eq!(actual, &expected, "{rel} differs:\n{}", serde_json::to_string_pretty(actual).unwrap());
}

/// SSE output as one JSON value per `data:` event (`"[DONE]"` as a string).
pub fn sse_values(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("SSE output is UTF-8");
    assert!(text.is_empty() || text.ends_with("\n\n"), "events end with a blank line: {text:?}");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data event: {e:?}"));
            if data == "[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(data).unwrap_or_else(|err| panic!("{err}: {data}"))
            }
        })
        .collect()
}

/// Golden SSE: stored as the `data:` lines themselves, one event per blank-line block.
pub fn golden_sse(rel: &str, actual: &[u8]) {
    if std::env::var_os("GOLDEN_BLESS").is_some() {
        std::fs::write(testdata(rel), actual).unwrap();
        return;
    }
    let expected = read(rel);
    assert_eq!(sse_values(actual), sse_values(&expected), "{rel} differs:\n{}", String::from_utf8_lossy(actual));
}

pub struct Outcome {
    pub head: ResponseHead,
    pub body: Vec<u8>,
    pub usage: Option<Usage>,
    /// Output produced per input chunk (to check that events go out as soon as complete).
    pub per_chunk: Vec<Vec<u8>>,
}

impl Outcome {
    /// The body, a JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The usage read, as (input tokens, output tokens).
    pub fn tokens(&self) -> Option<(u64, u64)> {
        self.usage.map(|u| (u.input_tokens, u.output_tokens))
    }
}

/// The arguments of a chat completion's first tool call, parsed from their JSON string.
pub fn first_tool_call_args(v: &Value) -> Value {
    let args = v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
    serde_json::from_str(args).unwrap()
}

/// Runs a response translator over `chunks` (end of stream on the last one).
pub fn run(target: &Target, opts: ResponseOptions, status: u16, headers: &[(&str, &str)], chunks: &[&[u8]]) -> Outcome {
    let mut t = response_translator(target, opts);
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let head = t.on_headers(status, &headers);
    let mut body = Vec::new();
    let mut per_chunk = Vec::new();
    if chunks.is_empty() {
        body = t.on_body(b"", true);
        per_chunk.push(body.clone());
    }
    for (i, c) in chunks.iter().enumerate() {
        let out = t.on_body(c, i + 1 == chunks.len());
        body.extend_from_slice(&out);
        per_chunk.push(out);
    }
    let mut head = head;
    // A stream that failed before its first content was held by the upstream role: the client
    // gets the failure (its status, a JSON error body) instead of what was written before it.
    if let FirstContent::Failed { status, body: failure } = t.first_content() {
        head.status = status;
        body = failure;
    }
    Outcome { head, body, usage: t.usage(), per_chunk }
}

/// The error a stream ended with: its last event, or the whole answer when it failed before
/// its first content.
pub fn final_error(o: &Outcome) -> Value {
    if o.head.status >= 400 {
        return o.json();
    }
    sse_values(&o.body).pop().unwrap_or(Value::Null)
}

pub fn target(kind: ProviderKind, model: &str) -> Target {
    Target {
        vertex_project: Some("my-project".into()),
        vertex_location: Some("europe-west1".into()),
        ..Target::new(kind, model)
    }
}

pub fn stream_opts(include_usage: bool) -> ResponseOptions {
    ResponseOptions { stream: true, include_usage, created: CREATED, request_id: 0xfeed, ..Default::default() }
}

pub fn json_opts() -> ResponseOptions {
    ResponseOptions { stream: false, include_usage: false, created: CREATED, request_id: 0xfeed, ..Default::default() }
}

/// The translated request as JSON `{path, headers, body}` for golden comparison.
pub fn request_golden(target: &Target, client_path: &str, body: &[u8]) -> Value {
    let r = translate_request(target, client_path, body).unwrap_or_else(|e| panic!("{}", e.message));
    let body: Value = serde_json::from_slice(&r.body).expect("translated body is JSON");
    let headers: serde_json::Map<String, Value> =
        r.set_headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    serde_json::json!({"path": r.path, "stream": r.stream, "include_usage": r.include_usage, "headers": headers, "body": body})
}

// --- An independent event-stream encoder ---

pub fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

pub fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (k, v) in headers {
        h.push(k.len() as u8);
        h.extend_from_slice(k.as_bytes());
        h.push(7);
        h.extend_from_slice(&(v.len() as u16).to_be_bytes());
        h.extend_from_slice(v.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::new();
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let c = crc32_bitwise(&out);
    out.extend_from_slice(&c.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let c = crc32_bitwise(&out);
    out.extend_from_slice(&c.to_be_bytes());
    out
}

/// A Bedrock stream from a golden `[[event-type, payload], ...]` file; an entry
/// `["exception:NAME", payload]` is an exception message.
pub fn bedrock_stream(rel: &str) -> Vec<u8> {
    let events = read_json(rel);
    let mut out = Vec::new();
    for e in events.as_array().expect("array of events") {
        let ty = e[0].as_str().unwrap();
        let payload = e[1].to_string();
        let f = match ty.strip_prefix("exception:") {
            Some(name) => frame(
                &[(":exception-type", name), (":content-type", "application/json"), (":message-type", "exception")],
                payload.as_bytes(),
            ),
            None => frame(
                &[(":event-type", ty), (":content-type", "application/json"), (":message-type", "event")],
                payload.as_bytes(),
            ),
        };
        out.extend_from_slice(&f);
    }
    out
}

/// A deterministic PRNG for the fuzz-style tests (xorshift64*).
pub struct Prng(pub u64);

impl Prng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `bytes` cut at random points into 1..=max_pieces pieces.
    pub fn split<'a>(&mut self, bytes: &'a [u8], max_pieces: usize) -> Vec<&'a [u8]> {
        let pieces = 1 + self.below(max_pieces);
        let mut cuts: Vec<usize> = (0..pieces - 1).map(|_| self.below(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut at = 0;
        for c in cuts {
            out.push(&bytes[at..c]);
            at = c;
        }
        out.push(&bytes[at..]);
        out
    }
}
