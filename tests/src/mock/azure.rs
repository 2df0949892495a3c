//! Azure OpenAI: `POST /openai/deployments/{deployment}/chat/completions?api-version=...`
//! (also `/completions` and `/embeddings`), `api-key` header.
//!
//! Checks in Azure's order: the key (401), the `api-version` (missing → 404
//! "Resource not found", unknown → 400 "API version not supported"), the deployment (404
//! `DeploymentNotFound`), then the body as OpenAI validates it (`model` optional: the
//! deployment names the model). Answers are OpenAI's, with Azure's content-filter
//! annotations (`prompt_filter_results`, `content_filter_results`; a streamed answer starts
//! with a chunk whose `choices` is empty, as Azure's does).

use serde_json::{json, Value};

use super::response::{json_resp, Body};
use hyper::Response;

/// GA and preview `api-version`s the data-plane inference API accepts.
pub const API_VERSIONS: &[&str] = &[
    "2022-12-01",
    "2023-05-15",
    "2023-06-01-preview",
    "2023-07-01-preview",
    "2023-08-01-preview",
    "2023-09-01-preview",
    "2023-12-01-preview",
    "2024-02-01",
    "2024-02-15-preview",
    "2024-03-01-preview",
    "2024-04-01-preview",
    "2024-05-01-preview",
    "2024-06-01",
    "2024-07-01-preview",
    "2024-08-01-preview",
    "2024-09-01-preview",
    "2024-10-01-preview",
    "2024-10-21",
    "2024-12-01-preview",
    "2025-01-01-preview",
    "2025-02-01-preview",
    "2025-03-01-preview",
    "2025-04-01-preview",
];

/// An Azure-shaped error (`{"error": {"code", "message"}}`).
pub fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_resp(status, &json!({"error": {"code": code, "message": message}}))
}

pub fn unauthorized() -> Response<Body> {
    error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
    )
}

pub fn not_found() -> Response<Body> {
    error(404, "404", "Resource not found")
}

/// Which operation a path names: (deployment, operation).
pub fn route(path: &str) -> Option<(String, &'static str)> {
    let rest = path.strip_prefix("/openai/deployments/")?;
    let (dep, op) = rest.split_once('/')?;
    let op = match op {
        "chat/completions" => "chat.completions",
        "completions" => "completions",
        "embeddings" => "embeddings",
        _ => return None,
    };
    if dep.is_empty() {
        return None;
    }
    let dep = percent_encoding::percent_decode_str(dep).decode_utf8().ok()?.into_owned();
    Some((dep, op))
}

/// The `api-version` query parameter.
pub fn api_version(query: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == "api-version").then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// Checks `api-version` and the deployment; `Err` is Azure's answer.
pub fn check_route(query: &str, deployment: &str, known_deployment: Option<&str>) -> Result<(), Box<Response<Body>>> {
    match api_version(query) {
        None => return Err(Box::new(not_found())),
        Some(v) if !API_VERSIONS.contains(&v.as_str()) => {
            return Err(Box::new(error(400, "BadRequest", "API version not supported")))
        }
        Some(_) => {}
    }
    if let Some(known) = known_deployment {
        if deployment != known {
            return Err(Box::new(error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.",
            )));
        }
    }
    Ok(())
}

fn filter_results() -> Value {
    json!({
        "hate": {"filtered": false, "severity": "safe"},
        "self_harm": {"filtered": false, "severity": "safe"},
        "sexual": {"filtered": false, "severity": "safe"},
        "violence": {"filtered": false, "severity": "safe"}
    })
}

/// Adds Azure's content-filter annotations to a `chat.completion`.
pub fn annotate_completion(v: &mut Value) {
    v["prompt_filter_results"] = json!([{"prompt_index": 0, "content_filter_results": filter_results()}]);
    if let Some(choices) = v["choices"].as_array_mut() {
        for c in choices {
            c["content_filter_results"] = filter_results();
        }
    }
}

/// The first chunk of an Azure stream: no choices, the prompt's filter results.
pub fn prompt_filter_chunk() -> Value {
    json!({
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filter_results()}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_versions() {
        assert_eq!(
            route("/openai/deployments/gpt4o-prod/chat/completions"),
            Some(("gpt4o-prod".into(), "chat.completions"))
        );
        assert_eq!(route("/v1/chat/completions"), None);
        assert_eq!(api_version("a=1&api-version=2024-10-21"), Some("2024-10-21".into()));
        assert_eq!(api_version("a=1"), None);
        assert!(check_route("api-version=2024-10-21", "d", Some("d")).is_ok());
        assert!(check_route("api-version=2099-01-01", "d", Some("d")).is_err());
        assert!(check_route("", "d", Some("d")).is_err());
        assert!(check_route("api-version=2024-10-21", "x", Some("d")).is_err());
    }
}
