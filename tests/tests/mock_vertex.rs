//! The Vertex AI mock checks requests as Vertex does (no Envoy needed): OAuth bearer tokens
//! (static and expiring), project and location, Claude (`:rawPredict`) and Gemini bodies,
//! streaming, faults and streaming faults (Gemini `:streamGenerateContent`, Claude
//! `:streamRawPredict`).

mod mock_common;

use std::time::Duration;

use llm_router_e2e::{MockRegion, Req};
use mock_common::{
    arrival_of_text, assert_slow_stream_timing, assert_stalled_between, faults_logged, read_until_client_gives_up,
    slow_stream_mode, sse_events, start, STALL_MS,
};
use serde_json::{json, Value};

fn vertex_mock() -> MockRegion {
    start(
        "europe-west1",
        &["--provider", "vertex", "--bearer-token", "ya29.static-token", "--vertex-project", "proj-1"],
    )
}

fn vertex_url(m: &MockRegion, location: &str, publisher: &str, model: &str, method: &str) -> String {
    format!("{}/v1/projects/proj-1/locations/{location}/publishers/{publisher}/models/{model}:{method}", m.url())
}

fn claude_vertex_body() -> Value {
    json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 50,
           "messages": [{"role": "user", "content": "Hello"}]})
}

#[test]
fn vertex_claude_tokens_and_bodies() {
    let m = vertex_mock();
    let url = vertex_url(&m, "europe-west1", "anthropic", "claude-3-5-sonnet-v2@20241022", "rawPredict");
    let bearer = |t: &str| format!("Bearer {t}");

    let r = Req::post(&url).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 401);
    let e = r.json();
    assert_eq!(e["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(e["error"]["details"][0]["reason"], "CREDENTIALS_MISSING");
    let r =
        Req::post(&url).header("authorization", &bearer("ya29.foreign")).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 401);

    // Tokens added at run time, with an expiry.
    m.add_token("ya29.short", Some(0));
    m.add_token("ya29.long", Some(3600));
    let r = Req::post(&url).header("authorization", &bearer("ya29.short")).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["details"][0]["reason"], "ACCESS_TOKEN_EXPIRED");
    assert_eq!(m.last_auth()["verified"], false);
    for t in ["ya29.long", "ya29.static-token"] {
        let r = Req::post(&url).header("authorization", &bearer(t)).json(&claude_vertex_body()).send().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let auth = [("authorization", "Bearer ya29.static-token")];
    let b = Req::post(&url).headers(&auth).json(&claude_vertex_body()).send().unwrap().json();
    assert_eq!(b["type"], "message");
    assert_eq!(b["model"], "claude-3-5-sonnet-v2@20241022");
    assert_eq!(b["content"][0]["text"], "hello from europe-west1");
    let s = m.stats();
    assert_eq!(s["last_op"], "vertex.rawPredict");
    assert_eq!(s["last_model"], "claude-3-5-sonnet-v2@20241022");
    assert_eq!(s["last_auth"]["scheme"], "bearer");

    // Vertex's body rules: no model, anthropic_version required.
    let mut with_model = claude_vertex_body();
    with_model["model"] = json!("claude-3-5-sonnet");
    let r = Req::post(&url).headers(&auth).json(&with_model).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "model: Extra inputs are not permitted");
    let mut no_version = claude_vertex_body();
    no_version.as_object_mut().unwrap().remove("anthropic_version");
    let r = Req::post(&url).headers(&auth).json(&no_version).send().unwrap();
    assert_eq!(r.status, 400);

    // Another location at this regional endpoint, another project.
    let r = Req::post(&vertex_url(&m, "us-east5", "anthropic", "claude-3-5-sonnet-v2@20241022", "rawPredict"))
        .headers(&auth)
        .json(&claude_vertex_body())
        .send()
        .unwrap();
    assert_eq!(r.status, 400);
    let r = Req::post(&url.replace("proj-1", "proj-2")).headers(&auth).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");

    // Streaming.
    let mut s = claude_vertex_body();
    s["stream"] = json!(true);
    let r = Req::post(&url.replace(":rawPredict", ":streamRawPredict")).headers(&auth).json(&s).send_stream().unwrap();
    assert_eq!(r.status, 200);
    let ev = sse_events(&r.text());
    assert_eq!(ev.last().unwrap().0, "message_stop");
    assert_eq!(m.last_op().as_deref(), Some("vertex.streamRawPredict"));
}

#[test]
fn vertex_gemini() {
    let m = vertex_mock();
    let auth = [("authorization", "Bearer ya29.static-token")];
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2}
    });
    let url = vertex_url(&m, "europe-west1", "google", "gemini-2.0-flash-001", "generateContent");
    let r = Req::post(&url).headers(&auth).json(&body).send().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["candidates"][0]["content"]["role"], "model");
    assert_eq!(b["candidates"][0]["content"]["parts"][0]["text"], "hello from europe-west1");
    assert_eq!(b["candidates"][0]["finishReason"], "STOP");
    let u = &b["usageMetadata"];
    assert_eq!(
        u["totalTokenCount"].as_u64().unwrap(),
        u["promptTokenCount"].as_u64().unwrap() + u["candidatesTokenCount"].as_u64().unwrap()
    );

    // OpenAI-shaped keys are unknown fields.
    let r =
        Req::post(&url).headers(&auth).json(&json!({"messages": [{"role": "user", "content": "x"}]})).send().unwrap();
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert!(e["error"]["message"].as_str().unwrap().contains("Unknown name \"messages\""));
    let r = Req::post(&url)
        .headers(&auth)
        .json(&json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}))
        .send()
        .unwrap();
    assert_eq!(r.status, 400);

    // SSE streaming.
    let r = Req::post(&format!("{}?alt=sse", url.replace(":generateContent", ":streamGenerateContent")))
        .headers(&auth)
        .json(&body)
        .send_stream()
        .unwrap();
    assert_eq!(r.status, 200);
    let chunks = r.sse_json();
    let text: String =
        chunks.iter().map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(text, "hello from europe-west1");
    assert_eq!(chunks.last().unwrap()["candidates"][0]["finishReason"], "STOP");
    assert!(chunks.last().unwrap()["usageMetadata"].is_object());
    // Without alt=sse: one JSON array.
    let r = Req::post(&url.replace(":generateContent", ":streamGenerateContent"))
        .headers(&auth)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.json().as_array().unwrap().len(), 5);

    // Function calling.
    let mut tools = body.clone();
    tools["tools"] = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]);
    let b = Req::post(&url).headers(&auth).json(&tools).send().unwrap().json();
    assert_eq!(
        b["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "mock-city"}})
    );

    m.set_mode(json!({"mode": "rate_limit"}));
    let r = Req::post(&url).headers(&auth).json(&body).send().unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
}

// ---------------------------------------------------------------- Streaming faults

const AUTH: [(&str, &str); 1] = [("authorization", "Bearer ya29.static-token")];

/// The gateway's Gemini request after issue 14: `:streamGenerateContent?alt=sse`.
fn gemini_stream_req(m: &MockRegion, sse: bool) -> Req {
    let url = vertex_url(m, "europe-west1", "google", "gemini-2.0-flash-001", "streamGenerateContent");
    let url = if sse { format!("{url}?alt=sse") } else { url };
    Req::post(&url).headers(&AUTH).json(&json!({"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}))
}

/// The gateway's Claude request after issue 14: `:streamRawPredict` with `stream: true`.
fn claude_stream_req(m: &MockRegion) -> Req {
    let mut b = claude_vertex_body();
    b["stream"] = json!(true);
    let url = vertex_url(m, "europe-west1", "anthropic", "claude-3-5-sonnet-v2@20241022", "streamRawPredict");
    Req::post(&url).headers(&AUTH).json(&b)
}

fn gemini_text(r: &llm_router_e2e::StreamResponse) -> String {
    r.sse_json().iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect()
}

#[test]
fn vertex_gemini_stall_after_headers() {
    let m = vertex_mock();
    m.set_mode(json!({"mode": "stall_after_headers", "count": 1}));
    let r = read_until_client_gives_up(gemini_stream_req(&m, true));
    assert_eq!(r.header("content-type").as_deref(), Some("text/event-stream"));
    assert!(r.body.is_empty());
    let r = gemini_stream_req(&m, true).send_stream().unwrap();
    assert_eq!(gemini_text(&r), "hello from europe-west1");
    assert_eq!(faults_logged(&m), ["stall_after_headers", "ok"]);
    assert_eq!(m.recent()[0]["op"], "vertex.streamGenerateContent");
}

#[test]
fn vertex_gemini_error_before_content() {
    let m = vertex_mock();
    m.set_mode(json!({"mode": "error_before_content"}));
    let r = gemini_stream_req(&m, true).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.error.is_none());
    let error =
        json!({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}});
    assert_eq!(r.text(), format!("data: {error}\r\n\r\n"), "one data event, the error, then the end");
    // Without alt=sse: the JSON array holds the error object.
    let r = gemini_stream_req(&m, false).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap(), json!([error]));
    // `status` picks the error.
    m.set_mode(json!({"mode": "error_before_content", "status": 429}));
    let r = gemini_stream_req(&m, true).send_stream().unwrap();
    assert_eq!(r.sse_json()[0]["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(r.sse_json()[0]["error"]["code"], 429);
}

#[test]
fn vertex_gemini_stall_after_content() {
    let m = vertex_mock();
    m.set_mode(json!({"mode": "stall_after_content"}));
    let r = read_until_client_gives_up(gemini_stream_req(&m, true));
    let chunks = r.sse_json();
    assert_eq!(chunks.len(), 1, "{}", r.text());
    assert_eq!(chunks[0]["candidates"][0]["content"]["parts"][0]["text"], "hell");
    assert!(chunks[0].get("usageMetadata").is_none());

    m.set_mode(json!({"mode": "stall_after_content", "stall_ms": STALL_MS}));
    let r = gemini_stream_req(&m, true).send_stream().unwrap();
    assert_stalled_between(&r, "\"hell\"", "\"o fro\"");
    assert_eq!(gemini_text(&r), "hello from europe-west1");
}

#[test]
fn vertex_gemini_slow_stream() {
    let m = vertex_mock();
    m.set_mode(slow_stream_mode());
    let r = gemini_stream_req(&m, true).send_stream().unwrap();
    assert_slow_stream_timing(&r, "\"hell\"");
    assert_eq!(gemini_text(&r), "hello from europe-west1");
    let chunks = r.sse_json();
    let last = chunks.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 5);
    assert!(arrival_of_text(&r, "usageMetadata") >= Duration::from_millis(900));
}

#[test]
fn vertex_claude_stall_after_headers() {
    let m = vertex_mock();
    m.set_mode(json!({"mode": "stall_after_headers", "count": 1}));
    let r = read_until_client_gives_up(claude_stream_req(&m));
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    assert!(r.body.is_empty());
    let r = claude_stream_req(&m).send_stream().unwrap();
    assert_eq!(sse_events(&r.text()).last().unwrap().0, "message_stop");
    assert_eq!(faults_logged(&m), ["stall_after_headers", "ok"]);
    assert_eq!(m.recent()[1]["op"], "vertex.streamRawPredict");
}

#[test]
fn vertex_claude_error_before_content() {
    let m = vertex_mock();
    m.set_mode(json!({"mode": "error_before_content"}));
    let r = claude_stream_req(&m).send_stream().unwrap();
    assert_eq!(r.status, 200);
    let ev = sse_events(&r.text());
    let names: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["message_start", "content_block_start", "ping", "error"]);
    assert_eq!(ev[3].1, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert_eq!(ev[0].1["message"]["model"], "claude-3-5-sonnet-v2@20241022");
}

#[test]
fn vertex_claude_stall_after_content() {
    let m = vertex_mock();
    m.set_mode(json!({"mode": "stall_after_content"}));
    let r = read_until_client_gives_up(claude_stream_req(&m));
    let ev = sse_events(&r.text());
    assert_eq!(ev.len(), 4, "{}", r.text());
    assert_eq!(ev[3].1["delta"], json!({"type": "text_delta", "text": "hell"}));
}

#[test]
fn vertex_claude_slow_stream() {
    let m = vertex_mock();
    m.set_mode(slow_stream_mode());
    let r = claude_stream_req(&m).send_stream().unwrap();
    assert_slow_stream_timing(&r, "\"hell\"");
    let ev = sse_events(&r.text());
    let text: String = ev.iter().filter_map(|e| e.1["delta"]["text"].as_str()).collect();
    assert_eq!(text, "hello from europe-west1");
    assert_eq!(ev[ev.len() - 2].1["usage"]["output_tokens"], 5);
    assert_eq!(ev.last().unwrap().0, "message_stop");
}

#[test]
fn google_ai_studio_paths_take_an_api_key_and_gemini_bodies() {
    let m = start("europe-west1", &["--provider", "vertex", "--api-key", "AIza-mock-key"]);
    let url = format!("{}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", m.url());
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]});

    let r = Req::post(&url).json(&body).send().unwrap();
    assert_eq!((r.status, r.json()["error"]["status"].clone()), (403, json!("PERMISSION_DENIED")));
    let r = Req::post(&url).header("x-goog-api-key", "AIza-wrong").json(&body).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "API key not valid. Please pass a valid API key.");
    assert_eq!(m.last_auth()["verified"], false);

    let r = Req::post(&url).header("x-goog-api-key", "AIza-mock-key").json(&body).send().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().starts_with("data: ") && r.text().contains(r#""modelVersion":"gemini-2.0-flash""#),
        "{}",
        r.text()
    );
    let s = m.stats();
    assert_eq!(s["last_op"], "vertex.streamGenerateContent");
    assert_eq!(s["last_model"], "gemini-2.0-flash");
    assert_eq!(s["last_auth"]["scheme"], "x-goog-api-key");
    assert_eq!(s["last_auth"]["verified"], true);
}
