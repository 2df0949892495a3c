//! The Vertex AI mock checks requests as Vertex does (no Envoy needed): OAuth bearer tokens
//! (static and expiring), project and location, Claude (`:rawPredict`) and Gemini bodies,
//! streaming and faults.

mod mock_common;

use llm_router_e2e::{MockRegion, Req};
use mock_common::{sse_events, start};
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
