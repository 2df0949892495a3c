//! OpenAI-compatible and Azure OpenAI: paths, bodies kept byte for byte but for `model`, and
//! responses passed through with their usage read on the side (testdata/openai/README.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use llm_router_core::providers::{translate_request, ProviderKind, Target};

fn openai() -> Target {
    Target { base_path: "/v1".into(), ..Target::new(ProviderKind::OpenAi, "gpt-4o-2024-08-06") }
}

fn azure() -> Target {
    Target { api_version: Some("2024-10-21".into()), ..Target::new(ProviderKind::Azure, "gpt-4o-eastus") }
}

#[test]
fn requests_keep_their_bytes_but_for_model() {
    let body = read("openai/chat.openai.json");
    let r = translate_request(&openai(), "/v1/chat/completions", &body).unwrap();
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        String::from_utf8(body.clone()).unwrap().replace("\"gpt-4o\"", "\"gpt-4o-2024-08-06\"")
    );
    assert!(r.stream && r.include_usage);
    // Azure: OpenAI REST reference "Chat completions - Create", "Embeddings - Create".
    let r = translate_request(&azure(), "/v1/chat/completions", &body).unwrap();
    assert_eq!(r.path, "/openai/deployments/gpt-4o-eastus/chat/completions?api-version=2024-10-21");
    let r = translate_request(&azure(), "/v1/embeddings", &read("openai/embeddings.openai.json")).unwrap();
    assert_eq!(r.path, "/openai/deployments/gpt-4o-eastus/embeddings?api-version=2024-10-21");
    assert!(!r.stream);
}

#[test]
fn answers_pass_through_with_usage() {
    for t in [openai(), azure()] {
        let body = read("openai/chat_completion.response.json");
        let o = run(&t, json_opts(), 200, &[("content-type", "application/json")], &[&body[..100], &body[100..]]);
        assert_eq!(o.body, body);
        assert!(o.head.set_headers.is_empty() && o.head.remove_headers.is_empty());
        assert_eq!(o.tokens(), Some((19, 10)));
        let s = read("openai/stream_usage.sse");
        let pieces: Vec<&[u8]> = s.chunks(13).collect();
        let o = run(&t, stream_opts(true), 200, &[("content-type", "text/event-stream")], &pieces);
        assert_eq!(o.body, s);
        assert_eq!(o.tokens(), Some((9, 12)));
    }
}
