//! Fuzz-style tests of the stream decoders: a recorded stream cut anywhere (every offset, and
//! random cuts into many pieces) must translate to exactly the same output; corrupted bytes
//! and random input must end in an error event or an error body, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use llm_router_core::providers::{translate_request, ClientApi, ProviderKind, ResponseOptions, Target};

const ALL: [ProviderKind; 6] = [
    ProviderKind::OpenAi,
    ProviderKind::Azure,
    ProviderKind::Bedrock,
    ProviderKind::Anthropic,
    ProviderKind::VertexAnthropic,
    ProviderKind::VertexGemini,
];

fn anthropic_client() -> ResponseOptions {
    ResponseOptions { client_api: ClientApi::Anthropic, ..stream_opts(true) }
}

struct Recorded {
    target: Target,
    opts: ResponseOptions,
    bytes: Vec<u8>,
}

fn recorded() -> Vec<Recorded> {
    let b = target(ProviderKind::Bedrock, "m");
    let mut crlf = read("anthropic/stream_tool_use.sse");
    crlf = String::from_utf8(crlf).unwrap().replace('\n', "\r\n").into_bytes();
    vec![
        Recorded {
            target: b.clone(),
            opts: stream_opts(true),
            bytes: bedrock_stream("bedrock/stream_tool_use.events.json"),
        },
        Recorded {
            target: b.clone(),
            opts: stream_opts(true),
            bytes: bedrock_stream("bedrock/stream_text.events.json"),
        },
        Recorded { target: b, opts: stream_opts(false), bytes: bedrock_stream("bedrock/stream_throttled.events.json") },
        Recorded {
            target: target(ProviderKind::Anthropic, "c"),
            opts: stream_opts(true),
            bytes: read("anthropic/stream_tool_use.sse"),
        },
        Recorded { target: target(ProviderKind::VertexAnthropic, "c"), opts: stream_opts(true), bytes: crlf },
        Recorded {
            target: target(ProviderKind::VertexGemini, "g"),
            opts: stream_opts(true),
            bytes: read("vertex_gemini/stream_text.sse"),
        },
        Recorded {
            target: target(ProviderKind::OpenAi, "o"),
            opts: stream_opts(true),
            bytes: read("openai/stream_usage.sse"),
        },
        // Anthropic-form clients: the same streams written as Anthropic's events.
        Recorded {
            target: target(ProviderKind::Bedrock, "m"),
            opts: anthropic_client(),
            bytes: bedrock_stream("bedrock/stream_tool_use.events.json"),
        },
        Recorded {
            target: target(ProviderKind::Azure, "o"),
            opts: anthropic_client(),
            bytes: read("openai/stream_usage.sse"),
        },
        Recorded {
            target: target(ProviderKind::VertexAnthropic, "c"),
            opts: anthropic_client(),
            bytes: read("anthropic/stream_tool_use.sse"),
        },
    ]
}

#[test]
fn a_stream_cut_at_any_offset_translates_the_same() {
    for r in recorded() {
        let whole = run(&r.target, r.opts, 200, &[], &[&r.bytes]);
        assert!(!whole.body.is_empty());
        for i in 0..=r.bytes.len() {
            let (a, b) = r.bytes.split_at(i);
            let o = run(&r.target, r.opts, 200, &[], &[a, b]);
            assert_eq!(o.body, whole.body, "{:?} cut at {i}", r.target.kind);
            assert_eq!(o.usage, whole.usage);
        }
        let bytewise: Vec<&[u8]> = r.bytes.chunks(1).collect();
        assert_eq!(run(&r.target, r.opts, 200, &[], &bytewise).body, whole.body);
    }
}

#[test]
fn random_cuts_into_many_pieces_translate_the_same() {
    let mut rng = Prng(0x5EED_1234_ABCD_0001);
    for r in recorded() {
        let whole = run(&r.target, r.opts, 200, &[], &[&r.bytes]);
        for _ in 0..500 {
            let pieces = rng.split(&r.bytes, 40);
            let o = run(&r.target, r.opts, 200, &[], &pieces);
            assert_eq!(
                o.body,
                whole.body,
                "{:?} pieces {:?}",
                r.target.kind,
                pieces.iter().map(|p| p.len()).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn every_corrupted_byte_of_an_event_stream_is_caught() {
    let t = target(ProviderKind::Bedrock, "m");
    let bytes = bedrock_stream("bedrock/stream_tool_use.events.json");
    let clean = run(&t, stream_opts(true), 200, &[], &[&bytes]).body;
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        let o = run(&t, stream_opts(true), 200, &[], &[&bad[..i / 2 + 1], &bad[i / 2 + 1..]]);
        assert_ne!(o.body, clean, "flip at {i} went unnoticed");
        let last = final_error(&o);
        let code = last["error"]["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            code == "invalid_provider_response" || code == "upstream_stream_truncated",
            "flip at {i}: last event {last}"
        );
        assert!(!String::from_utf8_lossy(&o.body).contains("[DONE]"));
    }
}

#[test]
fn a_bad_prelude_crc_and_a_bad_message_crc_name_the_fault() {
    let t = target(ProviderKind::Bedrock, "m");
    let one = frame(&[(":event-type", "messageStart"), (":message-type", "event")], br#"{"role":"assistant"}"#);
    let mut prelude = one.clone();
    prelude[9] ^= 1;
    let mut message = one.clone();
    let n = message.len();
    message[n - 1] ^= 1;
    for (bytes, needle) in [(prelude, "prelude CRC"), (message, "message CRC")] {
        let o = run(&t, stream_opts(false), 200, &[], &[&bytes]);
        let msg = final_error(&o)["error"]["message"].as_str().unwrap().to_owned();
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn random_bytes_never_panic_any_translator() {
    let mut rng = Prng(42);
    let statuses = [200u16, 400, 429, 500];
    for round in 0..300 {
        let len = rng.below(600);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if round % 3 == 0 {
            // Plausible prefixes reach deeper into the decoders.
            let prefix: &[u8] = match round % 4 {
                0 => b"data: {\"type\":\"content_block_delta\",\"index\":",
                1 => b"event: x\ndata: {\"candidates\":[{\"content\":{\"parts\":[",
                _ => &[0, 0, 0, 40, 0, 0, 0, 10],
            };
            bytes.splice(0..0, prefix.iter().copied());
        }
        for kind in ALL {
            let t = target(kind, "m");
            for &status in &statuses {
                for stream in [false, true] {
                    let client_api = if round % 2 == 0 { ClientApi::OpenAi } else { ClientApi::Anthropic };
                    let opts = ResponseOptions {
                        stream,
                        include_usage: true,
                        created: 1,
                        request_id: 9,
                        client_api,
                        upstream_stream: false,
                    };
                    let pieces = rng.split(&bytes, 8);
                    let o = run(&t, opts, status, &[("x-amzn-errortype", "x:y")], &pieces);
                    // Errors are always JSON in the client's shape (OpenAI pass-through aside).
                    let passthrough =
                        matches!(kind, ProviderKind::OpenAi | ProviderKind::Azure) && client_api == ClientApi::OpenAi;
                    if status != 200 && !passthrough {
                        let v = o.json();
                        assert!(v["error"]["message"].is_string(), "{kind:?} {client_api:?}: {v}");
                    }
                }
            }
        }
    }
}

#[test]
fn random_and_mutated_request_bodies_never_panic() {
    let mut rng = Prng(7);
    let seeds = [
        read("bedrock/tool_use.openai.json"),
        read("anthropic/tool_use.openai.json"),
        read("vertex_gemini/function_calling.openai.json"),
        read("openai/chat.openai.json"),
        read("anthropic_clients/tool_use.anthropic.json"),
    ];
    for round in 0..2000 {
        let mut body = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(body.len());
            body[i] = rng.next() as u8;
        }
        if round % 10 == 0 {
            body = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        }
        for kind in ALL {
            let _ = translate_request(&target(kind, "m"), "/v1/chat/completions", &body);
            let _ = translate_request(&target(kind, "m"), "/v1/messages", &body);
        }
    }
    let deep = format!("{{\"model\":\"m\",\"messages\":{}}}", "[".repeat(100_000));
    for kind in ALL {
        for path in ["/v1/chat/completions", "/v1/messages"] {
            let e = translate_request(&target(kind, "m"), path, deep.as_bytes()).unwrap_err();
            assert_eq!(e.status, 400);
        }
    }
}
