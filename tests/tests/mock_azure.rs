//! The Azure OpenAI mock checks requests as Azure does (no Envoy needed): the `api-key`,
//! the `api-version`, the deployment, and streams with Azure's prompt-filter chunk first.

mod mock_common;

use llm_router_e2e::{MockRegion, Req};
use mock_common::start;
use serde_json::{json, Value};

fn chat() -> Value {
    json!({"messages": [{"role": "user", "content": "hi"}]})
}

fn azure_mock() -> MockRegion {
    start(
        "swedencentral",
        &[
            "--provider",
            "azure",
            "--api-key",
            "azkey-123",
            "--azure-deployment",
            "gpt4o-prod",
            "--expect-model",
            "gpt-4o-2024-08-06",
        ],
    )
}

#[test]
fn azure_checks_key_version_and_deployment() {
    let m = azure_mock();
    let url = |dep: &str, q: &str| format!("{}/openai/deployments/{dep}/chat/completions{q}", m.url());
    let ok_url = url("gpt4o-prod", "?api-version=2024-10-21");

    let r = Req::post(&ok_url).json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Access denied due to invalid subscription key"));
    let r = Req::post(&ok_url).header("api-key", "nope").json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    // A bearer key is not an api-key.
    let r = Req::post(&ok_url).header("authorization", "Bearer azkey-123").json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(m.last_auth()["verified"], false);

    let key = [("api-key", "azkey-123")];
    let r = Req::post(&url("gpt4o-prod", "")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["message"], "Resource not found");
    let r = Req::post(&url("gpt4o-prod", "?api-version=2031-01-01")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "API version not supported");
    let r = Req::post(&url("gpt35", "?api-version=2024-10-21")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "DeploymentNotFound");
    // OpenAI's own paths are not Azure's.
    let r = Req::post(&format!("{}/v1/chat/completions", m.url())).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);

    let r = Req::post(&ok_url).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["model"], "gpt-4o-2024-08-06");
    assert_eq!(b["choices"][0]["message"]["content"], "hello from swedencentral");
    assert!(b["prompt_filter_results"].is_array());
    let s = m.stats();
    assert_eq!(s["last_op"], "azure.chat.completions");
    assert_eq!(s["last_model"], "gpt4o-prod");
    assert_eq!(s["last_auth"]["scheme"], "api-key");
    assert_eq!(s["last_auth"]["verified"], true);

    // Body still validated as OpenAI does.
    let r = Req::post(&ok_url).headers(&key).json(&json!({"messages": [], "foo": 1})).send().unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn azure_streams_with_a_prompt_filter_chunk_first() {
    let m = azure_mock();
    let r = Req::post(&format!("{}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01", m.url()))
        .header("api-key", "azkey-123")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send_stream()
        .unwrap();
    assert_eq!(r.status, 200);
    let chunks = r.sse_json();
    assert_eq!(chunks[0]["choices"], json!([]));
    assert!(chunks[0]["prompt_filter_results"].is_array());
    assert!(r.done());
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "hello from swedencentral");
}
