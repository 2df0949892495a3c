//! Claude on Vertex AI: the Anthropic Messages body with `anthropic_version: vertex-2023-10-16`
//! and no `model` (it is in the path), posted to
//! `/v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict` or
//! `:streamRawPredict`. Responses are Anthropic's, so [`crate::providers::anthropic`] translates
//! them (and its request writer makes the body for OpenAI-form clients).

use super::model_path;
use crate::providers::anthropic;
use crate::providers::chat::ChatRequest;
use crate::providers::client::{openai, require_chat, ClientApi};
use crate::providers::json::{self, ObjectWriter};
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
    let version = ("anthropic_version", VERTEX_ANTHROPIC_VERSION);
    // A client that wants one whole answer gets it assembled from a stream (see
    // `streams_whole_answers`), unless it asks for what the assembler does not carry.
    let (b, stream, include_usage, upstream_stream) = match client_api {
        // An Anthropic-form client's body goes as it is, but for `model` (in the path on Vertex),
        // copied member by member.
        ClientApi::Anthropic => {
            let text = std::str::from_utf8(body)
                .map_err(|_| RequestError::bad_request("invalid_request", "request body is not UTF-8 JSON"))?;
            let assemble = crate::providers::assemblable(client_path, body);
            let mut out = Vec::with_capacity(body.len() + 64);
            let mut b = ObjectWriter::open(&mut out);
            b.str(version.0, version.1);
            let mut stream = false;
            json::each_field(text, &mut |key, value| {
                match key.as_ref() {
                    "model" | "anthropic_version" => {}
                    "stream" => stream = json::read::<bool>(value).unwrap_or(false),
                    k => b.raw(k, value.get()),
                }
                Ok(())
            })?;
            let upstream_stream = assemble && !stream;
            if stream || upstream_stream {
                b.raw("stream", "true");
            }
            b.close();
            (out, stream, true, upstream_stream)
        }
        ClientApi::OpenAi => {
            let req = openai::parse(body, kind)?;
            let upstream = ChatRequest { stream: true, ..req.clone() };
            (
                anthropic::messages_body(&upstream, kind, version, body.len())?,
                req.stream,
                req.include_usage,
                !req.stream,
            )
        }
    };
    let verb = if stream || upstream_stream { "streamRawPredict" } else { "rawPredict" };
    Ok(UpstreamRequest {
        path: format!("{}:{verb}", model_path(target, "anthropic")?),
        body: b,
        set_headers: json_headers(Some(if stream || upstream_stream {
            "text/event-stream"
        } else {
            "application/json"
        })),
        stream,
        include_usage,
        client_api,
        upstream_stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
