//! Each mock refuses a caller's credentials or model access exactly as its provider does, on
//! request (`{"mode": "error", "status": 401|403}`, Bedrock's exception named by `error`), and
//! answers with the headers that name the caller's account (OpenAI, Anthropic). The gateway's
//! upstream-auth e2e tests rely on these shapes.

mod mock_common;

use llm_router_e2e::{Req, Response};
use mock_common::{anthropic_post, converse_body, converse_url, creds, messages_body, start, Signed};
use serde_json::json;

fn chat() -> serde_json::Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
}

fn aws_error_type(r: &Response) -> String {
    r.header("x-amzn-errortype").unwrap_or_default().split(':').next().unwrap_or_default().to_string()
}

#[test]
fn bedrock_names_its_403s_in_x_amzn_error_type() {
    let c = creds();
    let m = start(
        "us-west-2",
        &[
            "--provider",
            "bedrock",
            "--aws-access-key-id",
            &c.access_key_id,
            "--aws-secret-access-key",
            &c.secret_access_key,
        ],
    );
    let url = converse_url(&m, false);
    for (error, message) in [
        (None, "You don't have access to the model with the specified model ID."),
        (Some("AccessDeniedException"), "You don't have access to the model with the specified model ID."),
        (Some("UnrecognizedClientException"), "The security token included in the request is invalid."),
        (Some("ExpiredTokenException"), "The security token included in the request is expired"),
    ] {
        let mut mode = json!({"mode": "error", "status": 403});
        if let Some(e) = error {
            mode["error"] = json!(e);
        }
        m.set_mode(mode);
        let r = Signed::new(&url, &converse_body(), &c, "us-west-2").send();
        assert_eq!(r.status, 403, "{error:?}: {}", r.text());
        assert_eq!(aws_error_type(&r), error.unwrap_or("AccessDeniedException"));
        assert_eq!(r.json(), json!({"message": message}));
    }
    let refused = Req::post(&format!("{}/_mock/mode", m.url()))
        .json(&json!({"mode": "error", "status": 403, "error": "NoSuchException"}))
        .send()
        .expect("mock answers");
    assert_eq!(refused.status, 400, "an unknown exception name is refused: {}", refused.text());
}

#[test]
fn openai_and_azure_refuse_keys_in_their_shapes_and_openai_names_the_account() {
    let m = start("us-east-1", &["--provider", "openai"]);
    let url = format!("{}/v1/chat/completions", m.url());
    let ok = Req::post(&url).json(&chat()).send().expect("answer");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("openai-organization").as_deref(), Some("org-mock-us-east-1"));
    assert_eq!(ok.header("openai-project").as_deref(), Some("proj_mock_us-east-1"));
    m.set_mode(json!({"mode": "error", "status": 401}));
    let r = Req::post(&url).json(&chat()).send().expect("answer");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("invalid_api_key")), "{}", r.text());
    m.set_mode(json!({"mode": "error", "status": 403}));
    let r = Req::post(&url).json(&chat()).send().expect("answer");
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (403, Some("unsupported_country_region_territory")),
        "{}",
        r.text()
    );

    let az = start("eastus", &["--provider", "azure"]);
    let url = format!("{}/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21", az.url());
    az.set_mode(json!({"mode": "error", "status": 401}));
    let r = Req::post(&url).header("api-key", "k").json(&chat()).send().expect("answer");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("401")), "{}", r.text());
    az.set_mode(json!({"mode": "error", "status": 403}));
    let r = Req::post(&url).header("api-key", "k").json(&chat()).send().expect("answer");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (403, Some("PermissionDenied")), "{}", r.text());
}

#[test]
fn anthropic_and_vertex_refuse_in_their_shapes_and_anthropic_names_the_account() {
    let m = start("us-east-1", &["--provider", "anthropic"]);
    let headers = [("x-api-key", "k"), ("anthropic-version", "2023-06-01")];
    let ok = anthropic_post(&m, &headers, &messages_body());
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(ok.header("anthropic-organization-id").is_some());
    for (status, kind) in [(401, "authentication_error"), (403, "permission_error")] {
        m.set_mode(json!({"mode": "error", "status": status}));
        let r = anthropic_post(&m, &headers, &messages_body());
        let v = r.json();
        assert_eq!((r.status, v["type"].as_str(), v["error"]["type"].as_str()), (status, Some("error"), Some(kind)));
    }

    let v = start("europe-west1", &["--provider", "vertex"]);
    let url = format!(
        "{}/v1/projects/p/locations/europe-west1/publishers/anthropic/models/claude-3-5-sonnet@20241022:rawPredict",
        v.url()
    );
    for (status, google_status) in [(401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED")] {
        v.set_mode(json!({"mode": "error", "status": status}));
        let r = Req::post(&url).header("authorization", "Bearer ya29.t").json(&messages_body()).send().expect("answer");
        let body = r.json();
        assert_eq!(
            (r.status, body["error"]["code"].as_u64(), body["error"]["status"].as_str()),
            (status, Some(u64::from(status)), Some(google_status)),
            "{body}"
        );
    }
}
