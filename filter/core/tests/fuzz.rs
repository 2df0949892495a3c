//! Fuzz harness of every decoder and translator the filter runs on bytes it does not control:
//! the AWS event-stream and SSE decoders, each provider's response and error parsers (through
//! the response translators, as the filter runs them), and the request parsers of both client
//! APIs (through `translate_request`, for every provider).
//!
//! Each target reads one [`Input`]: a seed of its corpus (recorded answers, streams, errors and
//! requests from `testdata/`) with a few bytes replaced, inserted or deleted, or random bytes,
//! cut into pieces as Envoy might hand them over. Properties, for every input:
//! - nothing panics (the wasm filter must never panic);
//! - decoders and translators give the same result whatever the cutting;
//! - outputs are bounded (a translated request within twice the body, a translated answer
//!   within the response cap) and errors come back in the client's shape.
//!
//! Two budgets:
//! - the test suite runs each target through proptest, `FUZZ_SHORT_CASES` cases each (256 by
//!   default), a few seconds in all;
//! - the long run, once per change of the decoders:
//!   `FUZZ_CASES=10000000 nice cargo test --release -p llm-router-core --test fuzz -- --ignored --nocapture`
//!   draws inputs from a fast PRNG instead (proptest's generation and bookkeeping cost more
//!   than the targets), counts them and prints inputs per target, time and result
//!   (`FUZZ_TARGET=name` runs one target; `FUZZ_SEED` picks the stream). Figures are in
//!   docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::*;
use llm_router_core::providers::codec::eventstream::{self, EventStreamDecoder, MAX_MESSAGE};
use llm_router_core::providers::codec::sse::{SseDecoder, SseEvent, MAX_EVENT};
use llm_router_core::providers::codec::MAX_ANSWER_BODY;
use llm_router_core::providers::{
    response_translator, translate_request, ClientApi, FirstContent, ProviderKind, ResponseOptions,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

// --- Inputs ---

/// One fuzz input: a corpus seed with edits, or noise; the cuts into pieces; and the choices a
/// target makes (status, streaming, client API).
#[derive(Debug, Clone)]
struct Input {
    seed: usize,
    /// `(position, byte, op)`: op 0 replaces, 1 inserts, 2 deletes (positions wrap).
    edits: Vec<(usize, u8, u8)>,
    /// Cut positions (wrapping), splitting the bytes into pieces.
    cuts: Vec<usize>,
    pick: u64,
    /// Random bytes instead of a seed.
    noise: Option<Vec<u8>>,
}

impl Input {
    fn bytes(&self, corpus: &[Vec<u8>]) -> Vec<u8> {
        if let Some(n) = &self.noise {
            return n.clone();
        }
        let mut b = corpus[self.seed % corpus.len()].clone();
        for &(at, byte, op) in &self.edits {
            match op {
                0 if !b.is_empty() => {
                    let i = at % b.len();
                    b[i] = byte;
                }
                1 => b.insert(at % (b.len() + 1), byte),
                2 if !b.is_empty() => {
                    b.remove(at % b.len());
                }
                _ => {}
            }
        }
        b
    }

    fn pieces<'b>(&self, bytes: &'b [u8]) -> Vec<&'b [u8]> {
        let mut cuts: Vec<usize> = self.cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
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

    /// The `n`th choice among `of`, from `pick`.
    fn choose(&self, n: u32, of: usize) -> usize {
        ((self.pick >> (n * 8)) % of as u64) as usize
    }

    fn is_seed(&self) -> bool {
        self.noise.is_none() && self.edits.is_empty()
    }
}

fn input() -> impl Strategy<Value = Input> {
    (
        any::<usize>(),
        proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
        proptest::collection::vec(any::<usize>(), 0..12),
        any::<u64>(),
        proptest::option::weighted(0.1, proptest::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(|(seed, edits, cuts, pick, noise)| Input { seed, edits, cuts, pick, noise })
}

/// The long run's generator: the same distribution as [`input`], drawn from a fast PRNG.
fn random_input(rng: &mut Prng) -> Input {
    let edits = (0..rng.below(6)).map(|_| (rng.next() as usize, rng.next() as u8, rng.below(3) as u8)).collect();
    let cuts = (0..rng.below(12)).map(|_| rng.next() as usize).collect();
    let noise = (rng.below(10) == 0).then(|| (0..rng.below(300)).map(|_| rng.next() as u8).collect());
    Input { seed: rng.next() as usize, edits, cuts, pick: rng.next(), noise }
}

// --- Targets ---

struct Target {
    name: &'static str,
    corpus: Vec<Vec<u8>>,
    check: fn(&Input, &[Vec<u8>]),
}

/// Frames (or the error that ends them) of an event stream fed in `pieces`; the decoder never
/// holds more than one message.
fn event_stream_frames(pieces: &[&[u8]]) -> Vec<Result<eventstream::Frame, eventstream::DecodeError>> {
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    for p in pieces {
        d.feed(p);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => out.push(Ok(f)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
        assert!(d.pending() <= MAX_MESSAGE as usize, "{} bytes held", d.pending());
    }
    out
}

fn check_event_stream(input: &Input, corpus: &[Vec<u8>]) {
    let bytes = input.bytes(corpus);
    let whole = event_stream_frames(&[&bytes]);
    assert_eq!(event_stream_frames(&input.pieces(&bytes)), whole);
    if input.is_seed() {
        assert!(whole.iter().all(Result::is_ok) && !whole.is_empty());
    }
}

fn sse_events(pieces: &[&[u8]]) -> (Vec<SseEvent>, bool) {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for p in pieces {
        if d.feed(p, &mut |e| out.push(e)).is_err() {
            return (out, false);
        }
        assert!(d.pending() <= MAX_EVENT);
    }
    let ok = d.finish(&mut |e| out.push(e)).is_ok();
    (out, ok)
}

fn check_sse(input: &Input, corpus: &[Vec<u8>]) {
    let bytes = input.bytes(corpus);
    let whole = sse_events(&[&bytes]);
    assert_eq!(sse_events(&input.pieces(&bytes)), whole);
}

/// Runs a translator over `pieces` and checks the bounds; the concatenated output and usage.
fn translate(
    kind: ProviderKind,
    opts: ResponseOptions,
    status: u16,
    headers: &[(&str, &str)],
    pieces: &[&[u8]],
) -> (u16, Vec<u8>, Option<(u64, u64)>) {
    let mut t = response_translator(&target(kind, "m"), opts);
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let head = t.on_headers(status, &headers);
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let o = t.on_body(p, i + 1 == pieces.len());
        assert!(o.len() <= MAX_ANSWER_BODY + 64 * 1024, "{} bytes out for one chunk", o.len());
        out.extend(o);
    }
    let usage = t.usage().map(|u| (u.input_tokens, u.output_tokens));
    // A stream that failed before its first content was held by the upstream role: the client
    // gets the failure instead of what was written before it.
    if let FirstContent::Failed { status, body } = t.first_content() {
        return (status, body, usage);
    }
    (head.status, out, usage)
}

/// A provider's answers: statuses, streaming and client API picked by the input; the same
/// result whatever the cutting, and errors in the client's shape when translated.
fn check_response(kind: ProviderKind, statuses: &[u16], input: &Input, corpus: &[Vec<u8>]) {
    let bytes = input.bytes(corpus);
    let status = statuses[input.choose(0, statuses.len())];
    let stream = input.choose(1, 2) == 1;
    let client_api = if input.choose(2, 2) == 1 { ClientApi::Anthropic } else { ClientApi::OpenAi };
    // A whole answer is asked for as a stream (and assembled) or whole, as the request side chose.
    let upstream_stream = !stream && input.choose(5, 2) == 1;
    let opts = ResponseOptions {
        stream,
        include_usage: input.choose(3, 2) == 1,
        created: 1,
        request_id: 7,
        client_api,
        upstream_stream,
    };
    let headers: &[(&str, &str)] = match (kind, input.choose(4, 3)) {
        (ProviderKind::Bedrock, 0) => &[("x-amzn-errortype", "ThrottlingException:http://x/")],
        (_, 1) => &[("content-type", "text/event-stream")],
        _ => &[],
    };
    let whole = translate(kind, opts, status, headers, &[&bytes]);
    let cut = translate(kind, opts, status, headers, &input.pieces(&bytes));
    assert_eq!(String::from_utf8_lossy(&cut.1), String::from_utf8_lossy(&whole.1), "the cutting changed the output");
    assert_eq!((cut.0, cut.2), (whole.0, whole.2));
    let passthrough = matches!(
        (kind, client_api),
        (ProviderKind::OpenAi | ProviderKind::Azure, ClientApi::OpenAi)
            | (ProviderKind::Anthropic | ProviderKind::VertexAnthropic, ClientApi::Anthropic)
    );
    if !(200..300).contains(&status) && !passthrough {
        let v: Value = serde_json::from_slice(&whole.1).expect("a translated error is JSON");
        assert!(v["error"]["message"].is_string(), "{v}");
        assert!(whole.0 >= 400, "status {}", whole.0);
    }
}

/// A client request in `path`'s API, for every provider: a 4xx/5xx with a message, or a body
/// that is JSON and at most twice the client's.
fn check_request(path: &str, input: &Input, corpus: &[Vec<u8>]) {
    let bytes = input.bytes(corpus);
    for kind in [
        ProviderKind::OpenAi,
        ProviderKind::Azure,
        ProviderKind::Bedrock,
        ProviderKind::Anthropic,
        ProviderKind::VertexAnthropic,
        ProviderKind::VertexGemini,
    ] {
        match translate_request(&target(kind, "m"), path, &bytes) {
            Ok(r) => {
                serde_json::from_slice::<serde::de::IgnoredAny>(&r.body)
                    .unwrap_or_else(|e| panic!("{kind:?}: the translated body is not JSON: {e}"));
                assert!(
                    r.body.len() <= 2 * bytes.len() + 1024,
                    "{kind:?}: {} bytes from {}",
                    r.body.len(),
                    bytes.len()
                );
            }
            Err(e) => assert!((400..=500).contains(&e.status) && !e.message.is_empty(), "{kind:?}: {e:?}"),
        }
    }
}

fn openai_requests() -> Vec<Vec<u8>> {
    let deep = format!(r#"{{"model":"m","messages":[{{"role":"user","content":{}}}]}}"#, "[".repeat(200));
    vec![
        read("openai/chat.openai.json"),
        read("bedrock/tool_use.openai.json"),
        read("anthropic/tool_use.openai.json"),
        read("vertex_gemini/function_calling.openai.json"),
        br#"{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"s"}]},{"role":"user","content":[{"type":"text","text":"q"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],"stop":["a"],"n":1,"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","$schema":"x","properties":{"a":{"type":"string"}}}}},"top_k":3,"stream":true,"stream_options":{"include_usage":true}}"#.to_vec(),
        deep.into_bytes(),
    ]
}

fn anthropic_requests() -> Vec<Vec<u8>> {
    vec![
        read("anthropic_clients/tool_use.anthropic.json"),
        br#"{"model":"m","max_tokens":9,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"text","text":"q"}]},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1,{"b":null}]}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}],"is_error":true}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},"stop_sequences":["x"],"top_k":2,"stream":true}"#.to_vec(),
    ]
}

fn targets() -> Vec<Target> {
    let bedrock_streams = vec![
        bedrock_stream("bedrock/stream_tool_use.events.json"),
        bedrock_stream("bedrock/stream_text.events.json"),
        bedrock_stream("bedrock/stream_throttled.events.json"),
    ];
    let sse = vec![
        read("anthropic/stream_tool_use.sse"),
        read("anthropic/stream_text.sse"),
        read("anthropic/stream_error.sse"),
        read("openai/stream_usage.sse"),
        read("vertex_gemini/stream_text.sse"),
        String::from_utf8(read("anthropic/stream_text.sse")).unwrap().replace('\n', "\r\n").into_bytes(),
        b"event: a\rdata: 1\r\rdata: 2\r\n: c\r\ndata:x\n\n".to_vec(),
    ];
    vec![
        Target { name: "aws event stream decoder", corpus: bedrock_streams.clone(), check: check_event_stream },
        Target { name: "sse decoder", corpus: sse, check: check_sse },
        Target {
            name: "openai response (for anthropic clients)",
            corpus: vec![read("openai/chat_completion.response.json"), read("openai/stream_usage.sse")],
            check: |i, c| check_response(ProviderKind::OpenAi, &[200], i, c),
        },
        Target {
            name: "anthropic response",
            corpus: vec![
                read("anthropic/message_text.response.json"),
                read("anthropic/message_tool_use.response.json"),
                read("anthropic/stream_tool_use.sse"),
                read("anthropic/stream_error.sse"),
            ],
            check: |i, c| check_response(ProviderKind::Anthropic, &[200], i, c),
        },
        Target {
            name: "bedrock converse + stream response",
            corpus: [
                vec![read("bedrock/converse_text.response.json"), read("bedrock/converse_tool_use.response.json")],
                bedrock_streams,
            ]
            .concat(),
            check: |i, c| check_response(ProviderKind::Bedrock, &[200], i, c),
        },
        Target {
            name: "vertex gemini response",
            corpus: vec![
                read("vertex_gemini/generate_text.response.json"),
                read("vertex_gemini/generate_function_call.response.json"),
                read("vertex_gemini/stream_text.sse"),
            ],
            check: |i, c| check_response(ProviderKind::VertexGemini, &[200], i, c),
        },
        Target {
            name: "vertex claude response",
            corpus: vec![read("anthropic/message_tool_use.response.json"), read("anthropic/stream_tool_use.sse")],
            check: |i, c| check_response(ProviderKind::VertexAnthropic, &[200], i, c),
        },
        Target {
            name: "openai error",
            corpus: vec![
                br#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#.to_vec(),
                br#"{"error":{"message":"bad","type":"invalid_request_error","code":7}}"#.to_vec(),
            ],
            check: |i, c| check_response(ProviderKind::Azure, &[400, 401, 429, 500, 503], i, c),
        },
        Target {
            name: "anthropic error",
            corpus: vec![
                read("anthropic/error_invalid_request.json"),
                br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#.to_vec(),
            ],
            check: |i, c| check_response(ProviderKind::Anthropic, &[400, 413, 429, 529, 500], i, c),
        },
        Target {
            name: "bedrock error",
            corpus: vec![
                br#"{"message":"Too many requests, please wait before trying again."}"#.to_vec(),
                br#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#.to_vec(),
            ],
            check: |i, c| check_response(ProviderKind::Bedrock, &[400, 403, 424, 429, 500, 503], i, c),
        },
        Target {
            name: "google error (gemini and claude on vertex)",
            corpus: vec![read("vertex_gemini/error_quota.json"), read("vertex_anthropic/error_quota.json")],
            check: |i, c| {
                let kind = if i.choose(5, 2) == 0 { ProviderKind::VertexGemini } else { ProviderKind::VertexAnthropic };
                check_response(kind, &[400, 403, 429, 500, 503], i, c)
            },
        },
        Target {
            name: "openai client request",
            corpus: openai_requests(),
            check: |i, c| check_request("/v1/chat/completions", i, c),
        },
        Target { name: "anthropic client request", corpus: anthropic_requests(), check: |i, c| check_request("/v1/messages", i, c) },
    ]
}

// --- The short budget, every test run ---

fn short_config() -> Config {
    let cases = std::env::var("FUZZ_SHORT_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    Config { cases, failure_persistence: None, ..Config::default() }
}

fn run_short(name: &str) {
    let t = targets().into_iter().find(|t| t.name == name).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(short_config());
    runner
        .run(&input(), |i| {
            (t.check)(&i, &t.corpus);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn aws_event_stream_decoder() {
    run_short("aws event stream decoder");
}

#[test]
fn sse_decoder() {
    run_short("sse decoder");
}

#[test]
fn openai_response() {
    run_short("openai response (for anthropic clients)");
}

#[test]
fn anthropic_response() {
    run_short("anthropic response");
}

#[test]
fn bedrock_response() {
    run_short("bedrock converse + stream response");
}

#[test]
fn vertex_gemini_response() {
    run_short("vertex gemini response");
}

#[test]
fn vertex_claude_response() {
    run_short("vertex claude response");
}

#[test]
fn openai_error() {
    run_short("openai error");
}

#[test]
fn anthropic_error() {
    run_short("anthropic error");
}

#[test]
fn bedrock_error() {
    run_short("bedrock error");
}

#[test]
fn google_error() {
    run_short("google error (gemini and claude on vertex)");
}

#[test]
fn openai_client_request() {
    run_short("openai client request");
}

#[test]
fn anthropic_client_request() {
    run_short("anthropic client request");
}

#[test]
fn every_target_has_a_test() {
    assert_eq!(targets().len(), 13);
}

// --- The long run ---

#[test]
#[ignore = "long: FUZZ_CASES inputs per target, run by hand in release"]
fn long_run() {
    let cases: u64 = std::env::var("FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(10_000_000);
    let only = std::env::var("FUZZ_TARGET").ok();
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|c| c.parse().ok()).unwrap_or(0x5EED_F022);
    println!("{:<44} {:>12} {:>10} {:>12}  result", "target", "inputs", "seconds", "inputs/s");
    for t in targets().into_iter().filter(|t| only.as_deref().is_none_or(|o| o == t.name)) {
        let mut rng = Prng(seed ^ t.name.len() as u64);
        let start = Instant::now();
        for n in 0..cases {
            let input = random_input(&mut rng);
            let r = std::panic::catch_unwind(|| (t.check)(&input, &t.corpus));
            if let Err(e) = r {
                println!("{}: input {n} failed: {input:?}", t.name);
                std::panic::resume_unwind(e);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{:<44} {:>12} {:>10.1} {:>12.0}  ok", t.name, cases, secs, cases as f64 / secs);
    }
}
