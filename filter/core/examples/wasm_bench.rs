//! `wasm_bench`: the filter core's per-request work, timed where it runs: built for
//! wasm32-wasip1 with the filter's own profile and run in V8 (Node's WASI), so a change of
//! profile, of `wasm-opt` or of code shows its effect on speed without Envoy's noise. Prints
//! each step's time per call in its fastest of many short rounds (on a machine shared with
//! other work, the fastest round is the one least disturbed): the router's body read, request
//! translation of a 2 KB chat request to each provider, the answers and streams back.
//! A benchmark, not a test: it asserts only that each step works.
//!
//!   cargo build -p llm-router-core --example wasm_bench --target wasm32-wasip1 --profile wasm
//!   node scripts/wasm-bench.mjs $CARGO_TARGET_DIR/wasm32-wasip1/wasm/examples/wasm_bench.wasm
//!
//! (On the host, `cargo run --release -p llm-router-core --example wasm_bench` runs the same.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{bedrock_stream, read, stream_opts, target};
use llm_router_core::providers::{response_translator, translate_request, ProviderKind, ResponseOptions};

/// Rounds per step; each round runs the step until it has taken at least `ROUND_NS`.
const ROUNDS: usize = 100;
const ROUND_NS: u128 = 2_000_000;

/// Nanoseconds per call of `step` in its fastest round.
fn time(name: &str, mut step: impl FnMut()) -> f64 {
    step();
    let mut per_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut calls = 0u32;
        while start.elapsed().as_nanos() < ROUND_NS {
            step();
            calls += 1;
        }
        per_call.push(start.elapsed().as_nanos() as f64 / f64::from(calls));
    }
    let fastest = per_call.into_iter().fold(f64::INFINITY, f64::min);
    println!("{name:<44} {:>9.2} us", fastest / 1000.0);
    fastest
}

/// A chat request of about 2 KB: a system prompt, a 1.8 KB user turn, a tool.
fn chat_request() -> Vec<u8> {
    let prompt = "The quick brown fox jumps over the lazy dog. ".repeat(40);
    serde_json::json!({
        "model": "bench",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": prompt},
        ],
        "tools": [{"type": "function", "function": {
            "name": "top_song",
            "description": "Get the most popular song played on a radio station.",
            "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}, "required": ["sign"]},
        }}],
        "max_tokens": 256,
        "temperature": 0.5,
    })
    .to_string()
    .into_bytes()
}

fn main() {
    let body = chat_request();
    let mut total = 0.0;
    total += time("router: read_body (model, stream)", || {
        black_box(llm_router_core::body::read_body(black_box(&body)).unwrap());
    });
    for (name, kind) in [
        ("request: OpenAI (pass-through copy)", ProviderKind::OpenAi),
        ("request: Bedrock Converse", ProviderKind::Bedrock),
        ("request: Anthropic Messages", ProviderKind::Anthropic),
        ("request: Gemini on Vertex", ProviderKind::VertexGemini),
    ] {
        let t = target(kind, "bench-model");
        total += time(name, || {
            black_box(translate_request(&t, "/v1/chat/completions", black_box(&body)).unwrap());
        });
    }

    let json = ResponseOptions { created: common::CREATED, request_id: 7, ..Default::default() };
    let answers: [(&str, ProviderKind, ResponseOptions, Vec<u8>); 7] = [
        (
            "answer: Bedrock Converse -> chat.completion",
            ProviderKind::Bedrock,
            json,
            read("bedrock/converse_tool_use.response.json"),
        ),
        (
            "answer: Anthropic -> chat.completion",
            ProviderKind::Anthropic,
            json,
            read("anthropic/message_tool_use.response.json"),
        ),
        (
            "answer: Gemini -> chat.completion",
            ProviderKind::VertexGemini,
            json,
            read("vertex_gemini/generate_text.response.json"),
        ),
        (
            "stream: OpenAI SSE, watched pass-through",
            ProviderKind::OpenAi,
            stream_opts(true),
            read("openai/stream_usage.sse"),
        ),
        (
            "stream: Bedrock event stream -> OpenAI SSE",
            ProviderKind::Bedrock,
            stream_opts(true),
            bedrock_stream("bedrock/stream_tool_use.events.json"),
        ),
        (
            "stream: Anthropic SSE -> OpenAI SSE",
            ProviderKind::Anthropic,
            stream_opts(true),
            read("anthropic/stream_tool_use.sse"),
        ),
        (
            "stream: Gemini SSE -> OpenAI SSE",
            ProviderKind::VertexGemini,
            stream_opts(true),
            read("vertex_gemini/stream_text.sse"),
        ),
    ];
    for (name, kind, opts, bytes) in &answers {
        let t = target(*kind, "bench-model");
        total += time(name, || {
            let mut tr = response_translator(&t, *opts);
            black_box(tr.on_headers(200, &[("content-type".into(), "application/json".into())]));
            // Streams arrive in pieces: one chunk per 256 bytes.
            let mut out = 0;
            let mut pieces = bytes.chunks(256).peekable();
            while let Some(piece) = pieces.next() {
                out += tr.on_body(piece, pieces.peek().is_none()).len();
            }
            assert!(out > 0, "{name}: no output");
            black_box(out);
        });
    }
    println!("{:<44} {:>9.2} us", "sum", total / 1000.0);
}
