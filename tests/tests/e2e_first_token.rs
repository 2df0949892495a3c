//! Nothing reaches a streaming client before the first content (issue 14, item 3), through a
//! real Envoy with the filter: a region that stalls after its headers, or fails in its stream
//! before any content, is a region failure and the next region serves the whole answer; the
//! client sees one clean 200 naming that region. A slow but steady stream is one attempt.

mod common;
mod xds_common;

use std::time::Duration;

use common::{bedrock_region, Gateway};
use llm_router_e2e::mock::google_oauth::{MockTokenEndpoint, TestServiceAccount};
use llm_router_e2e::mock::Provider;
use llm_router_e2e::{free_port, poll_until, MockRegion, Req, StreamResponse, TempDir};
use serde_json::{json, Value};
use xds_common::XdsGateway;

const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

/// One OpenAI-compatible deployment of `claude` at `region`.
fn openai(region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: claude\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: {}\n    priority: {priority}\n",
        region.url(),
        region.region()
    )
}

/// One Bedrock deployment of `claude` at `region`.
fn bedrock(region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: claude\n    litellm_params:\n      model: bedrock/{BEDROCK_MODEL}\n      aws_region_name: {}\n      api_base: {}/v1\n    priority: {priority}\n",
        region.region(),
        region.url()
    )
}

/// Priority routing with a 2 s stream_timeout; failures never cool a region down here, so every
/// request tries the first region again.
fn config(deployments: &[String]) -> String {
    format!(
        "model_list:\n{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 1000\n  stream_timeout: 2\n  timeout: 20\n",
        deployments.concat()
    )
}

fn stream(chat_url: &str) -> StreamResponse {
    Req::post(chat_url)
        .json(&json!({"model": "claude", "stream": true, "messages": [{"role": "user", "content": "hello"}]}))
        .timeout(Duration::from_secs(20))
        .send_stream()
        .expect("the gateway answers")
}

/// The four kinds of client the judgement covers: both APIs, streaming or not.
#[derive(Debug, Clone, Copy)]
enum Client {
    OpenAiStream,
    OpenAiWhole,
    AnthropicStream,
    AnthropicWhole,
}

const CLIENTS: [Client; 4] =
    [Client::OpenAiStream, Client::OpenAiWhole, Client::AnthropicStream, Client::AnthropicWhole];

/// One answer, read the way its client reads it.
struct Answer {
    status: u16,
    region: Option<String>,
    attempts: Option<String>,
    /// The answer's text (the concatenated deltas of a stream).
    text: String,
    /// A stream ended with its API's end (`[DONE]`, `message_stop`) and no error event; a whole
    /// answer parsed with its usage.
    complete: bool,
    end_at: Duration,
    raw: String,
}

fn ask(chat_url: &str, client: Client) -> Answer {
    let messages_url = chat_url.replace("/v1/chat/completions", "/v1/messages");
    let (url, body) = match client {
        Client::OpenAiStream | Client::OpenAiWhole => {
            (chat_url.to_owned(), json!({"model": "claude", "messages": [{"role": "user", "content": "hello"}]}))
        }
        Client::AnthropicStream | Client::AnthropicWhole => (
            messages_url,
            json!({"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}),
        ),
    };
    let mut body = body;
    if matches!(client, Client::OpenAiStream | Client::AnthropicStream) {
        body["stream"] = json!(true);
    }
    let r = Req::post(&url).json(&body).timeout(Duration::from_secs(30)).send_stream().expect("the gateway answers");
    let raw = r.text();
    let (text, complete) = match client {
        Client::OpenAiStream => {
            let errors = r.sse_json().iter().any(|c| c.get("error").is_some());
            (r.sse_content(), r.error.is_none() && r.done() && !errors)
        }
        Client::AnthropicStream => {
            let events: Vec<Value> = r.sse_data().iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
            let text = events.iter().filter_map(|e| e["delta"]["text"].as_str()).collect();
            let ended = events.iter().any(|e| e["type"] == "message_stop");
            let errors = events.iter().any(|e| e["type"] == "error");
            (text, r.error.is_none() && ended && !errors)
        }
        Client::OpenAiWhole => {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let text = v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned();
            let usage = v["usage"]["completion_tokens"].as_u64().is_some_and(|n| n > 0);
            (text, r.error.is_none() && v["object"] == "chat.completion" && usage)
        }
        Client::AnthropicWhole => {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            let text = v["content"][0]["text"].as_str().unwrap_or_default().to_owned();
            let usage = v["usage"]["output_tokens"].as_u64().is_some_and(|n| n > 0);
            (text, r.error.is_none() && v["type"] == "message" && usage)
        }
    };
    Answer {
        status: r.status,
        region: r.header("x-llm-region"),
        attempts: r.header("x-envoy-attempt-count"),
        text,
        complete,
        end_at: r.end_at,
        raw,
    }
}

/// A complete answer from `region`: 200, named, with text, ended as its API ends, no error.
#[track_caller]
fn assert_clean(a: &Answer, region: &str, client: Client) {
    assert_eq!((a.status, a.region.as_deref(), a.complete), (200, Some(region), true), "{client:?}: {}", a.raw);
    assert!(!a.text.is_empty(), "{client:?}: {}", a.raw);
}

/// Runs the failover cases against a first region `a` and a second `b` (both already in the
/// config of the gateway at `chat_url`, `a` first), for streaming and non-streaming clients of
/// both APIs: every attempt streams upstream, so all four are judged by the stream.
fn fails_over_before_content(chat_url: &str, a: &MockRegion, b: &MockRegion, error_before_content: Value) {
    for client in CLIENTS {
        a.set_mode(json!({"mode": "stall_after_headers"}));
        let r = ask(chat_url, client);
        assert_clean(&r, b.region(), client);
        // A hung region costs stream_timeout (2 s), not timeout (20 s), streaming or not.
        assert!(
            r.end_at >= Duration::from_millis(1800) && r.end_at < Duration::from_secs(8),
            "{client:?}: the stall cost stream_timeout: {:?}",
            r.end_at
        );
        assert_eq!(r.attempts.as_deref(), Some("2"), "{client:?}");

        a.set_mode(error_before_content.clone());
        let r = ask(chat_url, client);
        assert_clean(&r, b.region(), client);
        assert!(r.end_at < Duration::from_millis(1500), "{client:?}: an error fails over at once: {:?}", r.end_at);

        // A slow but steady answer is not a failure: one attempt, the whole text.
        a.set_mode(json!({"mode": "slow_stream", "first_token_ms": 100, "total_ms": 4000}));
        let before = b.requests();
        let r = ask(chat_url, client);
        assert_clean(&r, a.region(), client);
        assert!(r.end_at >= Duration::from_millis(3500), "{client:?}: {:?}", r.end_at);
        assert_eq!(b.requests(), before, "{client:?}: one attempt");
        assert_eq!(r.attempts.as_deref(), Some("1"), "{client:?}");
    }
}

#[test]
fn an_openai_compatible_region_failing_before_content_is_failed_over_cleanly() {
    let (a, b) = (MockRegion::start("us-west-2"), MockRegion::start("us-east-1"));
    let gw = Gateway::start(&config(&[openai(&a, 1), openai(&b, 2)]));
    fails_over_before_content(&gw.chat_url(), &a, &b, json!({"mode": "error_before_content"}));

    // Once content has reached the client the answer is the region's: a stall after it ends the
    // stream at stream_timeout, never a second answer from another region.
    a.set_mode(json!({"mode": "stall_after_content"}));
    let before = b.requests();
    let r = stream(&gw.chat_url());
    assert_eq!((r.status, r.header("x-llm-region").as_deref()), (200, Some("us-west-2")), "{}", r.text());
    assert!(!r.sse_content().is_empty() && !r.done(), "content, then the end: {}", r.text());
    assert!(r.end_at >= Duration::from_millis(1800) && r.end_at < Duration::from_secs(6), "{:?}", r.end_at);
    assert_eq!(b.requests(), before, "no second answer");

    // A client that did not stream: its status line went out with the first content, so a
    // stall after it cuts the response (never a 200 that claims to be whole, never a second
    // region's answer after the first's).
    let r = ask(&gw.chat_url(), Client::OpenAiWhole);
    assert_eq!((r.status, r.region.as_deref(), r.complete), (200, Some("us-west-2"), false), "{}", r.raw);
    assert!(r.text.is_empty(), "no answer text: {}", r.raw);
    assert!(r.end_at >= Duration::from_millis(1800) && r.end_at < Duration::from_secs(6), "{:?}", r.end_at);
    assert_eq!(b.requests(), before, "no second answer");

    // An error event after content: a streaming client gets one clean error chunk after the
    // text (no second answer); one that did not stream gets a cut response, not a false 200.
    // (Events 300 ms apart, so the error comes after the content was released; one that comes
    // with the first content is failed over before anything is released.)
    a.set_mode(json!({"mode": "error_after_content", "chunk_delay_ms": 300}));
    let r = stream(&gw.chat_url());
    let errors: Vec<Value> = r.sse_json().into_iter().filter(|c| c.get("error").is_some()).collect();
    assert_eq!((r.status, errors.len()), (200, 1), "{}", r.text());
    assert!(!r.sse_content().is_empty(), "the text before the error: {}", r.text());
    let r = ask(&gw.chat_url(), Client::OpenAiWhole);
    assert_eq!((r.status, r.complete), (200, false), "{}", r.raw);
    assert!(r.text.is_empty() && r.end_at < Duration::from_secs(3), "cut at once: {:?} {}", r.end_at, r.raw);
    assert_eq!(b.requests(), before, "no second answer");

    // The stalls and the cut answer count against the region; the first-token histogram and
    // the failures before content are on Envoy's stats.
    let region = "region=\"us-west-2\"";
    // (The error event inside a pass-through stream is the provider's own bytes, not read after
    // the first content: the two stalls and the cut answer.)
    poll_until(Duration::from_secs(5), "the two stalls and the cut answer counted", || {
        (gw.metric_sum("llm_router_failed_after_content_total", &[region]) == 3.0).then_some(())
    });
    assert!(gw.metric_sum("llm_router_failed_before_content_total", &[region, "code=\"503\""]) >= 4.0);
    assert!(gw.metric_sum("litellm_time_to_first_token_ms_count", &[region]) >= 4.0);
}

/// LiteLLM's `allowed_fails`/`cooldown_time` see the stream: a stall before content is a
/// failure that cools the region down (the next requests go straight to the next region); a
/// slow answer, however often, is not.
#[test]
fn a_stalled_region_cools_down_and_a_slow_one_does_not() {
    let (a, b) = (MockRegion::start("us-west-2"), MockRegion::start("us-east-1"));
    let yaml =
        config(&[openai(&a, 1), openai(&b, 2)]).replace("allowed_fails: 1000", "allowed_fails: 1\n  cooldown_time: 60");
    let gw = Gateway::start(&yaml);
    for _ in 0..3 {
        a.set_mode(json!({"mode": "slow_stream", "first_token_ms": 100, "total_ms": 2500}));
        let r = ask(&gw.chat_url(), Client::OpenAiWhole);
        assert_clean(&r, a.region(), Client::OpenAiWhole);
    }
    a.set_mode(json!({"mode": "stall_after_headers"}));
    let r = ask(&gw.chat_url(), Client::OpenAiWhole);
    assert_clean(&r, b.region(), Client::OpenAiWhole);
    let stalled = a.requests();
    for _ in 0..3 {
        let r = ask(&gw.chat_url(), Client::OpenAiWhole);
        assert_clean(&r, b.region(), Client::OpenAiWhole);
        assert!(r.end_at < Duration::from_millis(1000), "the cooled-down region is skipped: {:?}", r.end_at);
    }
    assert_eq!(a.requests(), stalled, "no request reached the cooled-down region");
}

#[test]
fn a_bedrock_region_failing_before_content_is_failed_over_cleanly() {
    let (a, b) = (bedrock_region("us-west-2"), bedrock_region("us-east-1"));
    let gw = Gateway::start(&config(&[bedrock(&a, 1), bedrock(&b, 2)]));
    fails_over_before_content(
        &gw.chat_url(),
        &a,
        &b,
        json!({"mode": "error_before_content", "error": "throttlingException"}),
    );

    // An Anthropic-form client gets one clean Messages stream from the second region.
    a.set_mode(json!({"mode": "error_before_content", "error": "throttlingException"}));
    let r = Req::post(&gw.url("/v1/messages"))
        .json(&json!({"model": "claude", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hello"}]}))
        .timeout(Duration::from_secs(20))
        .send_stream()
        .expect("the gateway answers");
    assert_eq!((r.status, r.header("x-llm-region").as_deref()), (200, Some("us-east-1")), "{}", r.text());
    let text = r.text();
    assert!(text.contains("event: message_stop") && !text.contains("event: error"), "{text}");
}

#[test]
fn the_last_region_failing_before_content_is_one_error_in_the_client_s_api() {
    let a = MockRegion::start("us-west-2");
    let gw = Gateway::start(&config(&[openai(&a, 1)]));
    a.set_mode(json!({"mode": "error_before_content"}));
    let r = stream(&gw.chat_url());
    assert_eq!(r.status, 503, "{}", r.text());
    let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    assert!(v["error"]["message"].is_string(), "{v}");
}

const VERTEX_PROJECT: &str = "company-eu-project";
const VERTEX_ACCOUNT: &str = "llm-gateway@company-eu-project.iam.gserviceaccount.com";

/// One Vertex deployment of `claude` (`model`: Claude or Gemini) at `region`.
fn vertex(model: &str, region: &MockRegion, key_file: &std::path::Path, priority: u32) -> String {
    format!(
        "  - model_name: claude\n    litellm_params:\n      model: vertex_ai/{model}\n      vertex_project: {VERTEX_PROJECT}\n      vertex_location: {}\n      api_base: {}\n      vertex_credentials: {}\n    priority: {priority}\n",
        region.region(),
        region.url(),
        key_file.display()
    )
}

/// Two Vertex regions serving `model` behind a gateway run by `serve` (which gets the token).
fn vertex_failover(model: &str, error_before_content: Value) {
    let start =
        |location| MockRegion::start_provider(location, Provider::Vertex, &["--vertex-project", VERTEX_PROJECT]);
    let (a, b) = (start("europe-west1"), start("europe-west4"));
    let dir = TempDir::new("llm-first-token-sa");
    let port = free_port();
    let account = TestServiceAccount::generate(VERTEX_ACCOUNT, &format!("http://127.0.0.1:{port}/token"));
    let _endpoint = MockTokenEndpoint::start(
        port,
        VERTEX_ACCOUNT,
        &account.public_key_pem,
        Duration::from_secs(3600),
        &[a.url(), b.url()],
    );
    let key_file = dir.path().join("vertex-sa.json");
    std::fs::write(&key_file, &account.key_json).expect("write the key file");
    let gw = XdsGateway::start(&config(&[vertex(model, &a, &key_file, 1), vertex(model, &b, &key_file, 2)]));
    poll_until(Duration::from_secs(20), "served by europe-west1", || {
        let r = Req::post(&gw.chat_url()).json(&common::chat_body("claude")).send().ok()?;
        (r.header("x-llm-region").as_deref() == Some("europe-west1")).then_some(())
    });
    fails_over_before_content(&gw.chat_url(), &a, &b, error_before_content);
}

#[test]
fn a_vertex_gemini_region_failing_before_content_is_failed_over_cleanly() {
    vertex_failover("gemini-2.0-flash", json!({"mode": "error_before_content", "status": 503}));
}

#[test]
fn a_vertex_claude_region_failing_before_content_is_failed_over_cleanly() {
    vertex_failover("claude-3-5-sonnet@20241022", json!({"mode": "error_before_content", "status": 529}));
}
