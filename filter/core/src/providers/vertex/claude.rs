//! Claude on Vertex AI: the Anthropic Messages body with `anthropic_version: vertex-2023-10-16`
//! and no `model` (it is in the path), posted to
//! `/v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict` or
//! `:streamRawPredict`. Responses are Anthropic's, so [`crate::providers::anthropic`] translates
//! them (and its request writer makes the body for OpenAI-form clients).

use serde_json::{Map, Value};

use super::model_path;
use crate::providers::anthropic;
use crate::providers::client::{openai, require_chat, ClientApi};
use crate::providers::{json_headers, ProviderKind, Target, UpstreamRequest};
use crate::RequestError;

pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

pub(crate) fn translate_request(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<UpstreamRequest, RequestError> {
    let kind = ProviderKind::VertexAnthropic;
    let client_api = require_chat(target, client_path)?;
    let (mut b, stream, include_usage) = match client_api {
        // An Anthropic-form client's body goes as it is, but for `model` (in the path on Vertex).
        ClientApi::Anthropic => {
            let mut m: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
                RequestError::bad_request("invalid_request", format!("request body is not a JSON object: {e}"))
            })?;
            m.remove("model");
            let stream = m.get("stream").and_then(Value::as_bool).unwrap_or(false);
            (m, stream, true)
        }
        ClientApi::OpenAi => {
            let req = openai::parse(body, kind)?;
            (anthropic::messages_body(&req, kind)?, req.stream, req.include_usage)
        }
    };
    b.insert("anthropic_version".into(), VERTEX_ANTHROPIC_VERSION.into());
    let verb = if stream { "streamRawPredict" } else { "rawPredict" };
    Ok(UpstreamRequest {
        path: format!("{}:{verb}", model_path(target, "anthropic")?),
        body: Value::Object(b).to_string().into_bytes(),
        set_headers: json_headers(Some(if stream { "text/event-stream" } else { "application/json" })),
        stream,
        include_usage,
        client_api,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            vertex_project: Some("proj".into()),
            vertex_location: Some("europe-west1".into()),
            ..Target::new(ProviderKind::VertexAnthropic, "claude-3-5-sonnet-v2@20241022")
        }
    }

    #[test]
    fn path_and_body() {
        let r = translate_request(
            &target(),
            "/v1/chat/completions",
            br#"{"model":"c","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .unwrap();
        assert_eq!(
            r.path,
            "/v1/projects/proj/locations/europe-west1/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:streamRawPredict"
        );
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["anthropic_version"], "vertex-2023-10-16");
        assert_eq!(b.get("model"), None);
        assert_eq!(b["max_tokens"], 4096);
        assert_eq!(b["stream"], true);
    }

    #[test]
    fn missing_project_is_the_gateways_error() {
        let mut t = target();
        t.vertex_project = None;
        let e = translate_request(
            &t,
            "/v1/chat/completions",
            br#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (500, "deployment_misconfigured"));
    }
}
