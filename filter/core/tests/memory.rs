//! Peak memory of the filter's JSON work, measured with a counting global allocator: for each
//! client API parser and each provider's translation, request bodies just under the gateway's
//! 8 MiB limit made of tiny objects (the shape that costs a JSON tree the most per byte), and
//! answers and errors just under the response cap. The extra memory at the peak (output
//! included) must stay within a small multiple of the body's size.
//!
//! One test function: the allocator counts every thread's allocations, so the cases run one
//! after the other. `cargo test -p llm-router-core --test memory -- --nocapture` prints the
//! table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use llm_router_core::providers::{
    response_translator, translate_request, ClientApi, ProviderKind, ResponseOptions, Target,
};

/// Counts the bytes in use and the peak since the last reset.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            // Counted as the copy a move costs: old and new both live for a moment.
            grew(new_size);
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated by `f` above what was in use before it.
fn peak_extra(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// The request body limit is 8 MiB; these bodies stay just under it in a release build
/// (`cargo test --release`, the figures in docs/benchmarks.md). A debug build, as in the test
/// suite, uses 256 KiB bodies of the same shapes: the ratios are about the same, and 8 MiB
/// would take minutes unoptimised.
const SIZE: usize = if cfg!(debug_assertions) { 256 * 1024 } else { 8 * 1024 * 1024 - 10 * 1024 };

/// `head` + `item` repeated (comma-separated) + `tail`, just under [`SIZE`].
fn body(head: &str, item: &str, tail: &str) -> Vec<u8> {
    let n = (SIZE - head.len() - tail.len()) / (item.len() + 1);
    let mut b = Vec::with_capacity(SIZE);
    b.extend_from_slice(head.as_bytes());
    for i in 0..n {
        if i > 0 {
            b.push(b',');
        }
        b.extend_from_slice(item.as_bytes());
    }
    b.extend_from_slice(tail.as_bytes());
    b
}

fn target(kind: ProviderKind) -> Target {
    Target { vertex_project: Some("p".into()), vertex_location: Some("europe-west1".into()), ..Target::new(kind, "m") }
}

const KINDS: [ProviderKind; 6] = [
    ProviderKind::OpenAi,
    ProviderKind::Azure,
    ProviderKind::Bedrock,
    ProviderKind::Anthropic,
    ProviderKind::VertexAnthropic,
    ProviderKind::VertexGemini,
];

/// The request shapes, in OpenAI's form (`/v1/chat/completions`) and Anthropic's (`/v1/messages`).
fn request_shapes() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let oa = "/v1/chat/completions";
    let an = "/v1/messages";
    let msg = r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"#;
    vec![
        ("metadata: [{},...]", oa, body(&format!(r#"{msg}"metadata":["#), "{}", "]}")),
        ("metadata: [{},...]", an, body(&format!(r#"{msg}"metadata":{{"x":["#), "{}", "]}}")),
        ("many unknown keys", oa, body(msg, r#""k":0"#, "}")),
        ("many unknown keys", an, body(msg, r#""k":0"#, "}")),
        ("content: [{},...]", oa, body(r#"{"model":"m","messages":[{"role":"user","content":["#, "{}", "]}]}")),
        (
            "content: [{},...]",
            an,
            body(r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":["#, "{}", "]}]}"),
        ),
        (
            "many text parts",
            oa,
            body(r#"{"model":"m","messages":[{"role":"user","content":["#, r#"{"type":"text","text":""}"#, "]}]}"),
        ),
        (
            "many text parts",
            an,
            body(
                r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":["#,
                r#"{"type":"text","text":""}"#,
                "]}]}",
            ),
        ),
        ("many messages", oa, body(r#"{"model":"m","messages":["#, r#"{"role":"user"}"#, "]}")),
        (
            "many messages",
            an,
            body(r#"{"model":"m","max_tokens":5,"messages":["#, r#"{"role":"user","content":""}"#, "]}"),
        ),
        ("many system messages", oa, body(r#"{"model":"m","messages":["#, r#"{"role":"system"}"#, "]}")),
        (
            "stop: [\"\",...]",
            oa,
            body(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["#, r#""""#, "]}"),
        ),
        (
            "tool schema of {}",
            oa,
            body(
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","x":["#,
                "{}",
                "]}}}]}",
            ),
        ),
        (
            "tool input of {}",
            an,
            body(
                r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"x":["#,
                "{}",
                "]}}]}]}",
            ),
        ),
        (
            "tool arguments of {}",
            oa,
            body(
                r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"x\":["#,
                "{}",
                r#"]}"}}]}]}"#,
            ),
        ),
        (
            "many tool calls",
            oa,
            body(
                r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":["#,
                r#"{"id":"","function":{"name":""}}"#,
                "]}]}",
            ),
        ),
        (
            "many tool results",
            oa,
            body(
                r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","function":{"name":"f"}}]},"#,
                r#"{"role":"tool","tool_call_id":"t"}"#,
                "]}",
            ),
        ),
    ]
}

/// Answers and errors just under the response cap, of tiny objects where the shapes allow.
fn answer_shapes() -> Vec<(ProviderKind, ClientApi, u16, &'static str, Vec<u8>)> {
    let text = r#""message":{"content":"x"}"#;
    vec![
        (
            ProviderKind::OpenAi,
            ClientApi::Anthropic,
            200,
            "chat.completion + [{},...]",
            body(&format!(r#"{{"choices":[{{{text}}}],"x":["#), "{}", "]}"),
        ),
        (
            ProviderKind::OpenAi,
            ClientApi::Anthropic,
            500,
            "error + [{},...]",
            body(r#"{"error":{"message":"m","x":["#, "{}", "]}}"),
        ),
        (
            ProviderKind::Anthropic,
            ClientApi::OpenAi,
            200,
            "message + input [{},...]",
            body(
                r#"{"id":"i","content":[{"type":"tool_use","id":"t","name":"f","input":{"x":["#,
                "{}",
                "]}}],\"stop_reason\":\"tool_use\"}",
            ),
        ),
        (
            ProviderKind::Anthropic,
            ClientApi::OpenAi,
            529,
            "error + [{},...]",
            body(r#"{"type":"error","error":{"type":"overloaded_error","message":"m","x":["#, "{}", "]}}"),
        ),
        (
            ProviderKind::VertexAnthropic,
            ClientApi::Anthropic,
            429,
            "google error + [{},...]",
            body(r#"[{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED","details":["#, "{}", "]}}]"),
        ),
        (
            ProviderKind::Bedrock,
            ClientApi::OpenAi,
            200,
            "converse + toolUse input [{},...]",
            body(
                r#"{"output":{"message":{"content":[{"toolUse":{"toolUseId":"t","name":"f","input":{"x":["#,
                "{}",
                "]}}}]}},\"stopReason\":\"tool_use\"}",
            ),
        ),
        (
            ProviderKind::Bedrock,
            ClientApi::Anthropic,
            400,
            "error + [{},...]",
            body(r#"{"message":"m","x":["#, "{}", "]}"),
        ),
        (
            ProviderKind::VertexGemini,
            ClientApi::OpenAi,
            200,
            "generateContent + args [{},...]",
            body(r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"x":["#, "{}", "]}}}]}}]}"),
        ),
        (
            ProviderKind::VertexGemini,
            ClientApi::OpenAi,
            200,
            "generateContent + many parts",
            body(r#"{"candidates":[{"content":{"parts":["#, r#"{"text":""}"#, "]}}]}"),
        ),
        (
            ProviderKind::VertexGemini,
            ClientApi::Anthropic,
            503,
            "google error + [{},...]",
            body(r#"{"error":{"code":503,"message":"m","status":"UNAVAILABLE","details":["#, "{}", "]}}"),
        ),
    ]
}

/// How many times the body's size the extra memory may reach.
const FACTOR: usize = 4;

#[test]
fn peak_memory_stays_within_a_small_multiple_of_the_body() {
    let mut over = Vec::new();
    println!("{:<24} {:<22} {:<20} {:>10} {:>8}", "request shape", "client path", "provider", "peak MiB", "x body");
    for (shape, path, b) in request_shapes() {
        for kind in KINDS {
            let t = target(kind);
            let mut outcome = String::new();
            let peak = peak_extra(|| {
                outcome = match translate_request(&t, path, &b) {
                    Ok(r) => format!("ok {} B", r.body.len()),
                    Err(e) => format!("{} {}", e.status, e.code),
                };
            });
            let ratio = peak as f64 / b.len() as f64;
            println!(
                "{shape:<24} {path:<22} {:<20} {:>10.1} {ratio:>8.2}  ({outcome})",
                format!("{kind:?}"),
                peak as f64 / 1048576.0
            );
            if peak > FACTOR * b.len() {
                over.push(format!("{shape} {path} {kind:?}: {ratio:.2}x"));
            }
        }
    }
    println!();
    for (kind, api, status, shape, b) in answer_shapes() {
        let opts = ResponseOptions { client_api: api, ..ResponseOptions::default() };
        let mut out_len = 0;
        let peak = peak_extra(|| {
            let mut t = response_translator(&target(kind), opts);
            t.on_headers(status, &[]);
            // In pieces, as Envoy hands them over.
            let mut out = Vec::new();
            let pieces: Vec<&[u8]> = b.chunks(64 * 1024).collect();
            for (i, p) in pieces.iter().enumerate() {
                out.extend(t.on_body(p, i + 1 == pieces.len()));
            }
            out_len = out.len();
        });
        let ratio = peak as f64 / b.len() as f64;
        println!(
            "{:<24} {:<22} {:<20} {:>10.1} {ratio:>8.2}  (out {out_len} B)",
            shape,
            format!("{status} to {api:?}"),
            format!("{kind:?}"),
            peak as f64 / 1048576.0
        );
        if peak > FACTOR * b.len() {
            over.push(format!("answer {shape} {kind:?} {status}: {ratio:.2}x"));
        }
    }
    assert!(over.is_empty(), "peak memory over {FACTOR}x the body:\n{}", over.join("\n"));
}
