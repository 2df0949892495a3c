//! Azure OpenAI: `{base_path}/openai/deployments/{deployment}/{chat/completions | completions |
//! embeddings}?api-version={api_version}`. The body is OpenAI's, with `model` set to the
//! deployment name (Azure routes by the path and ignores it); responses are OpenAI's, passed
//! through by [`super::openai::PassThrough`]. Anthropic-form clients are translated as for
//! OpenAI-compatible servers ([`super::openai`]).

use super::client::{split_client_path, Endpoint};
use super::{openai, uri_encode, Target, UpstreamRequest};
use crate::RequestError;

/// `api-version` when the deployment gives none: the latest GA version when this was written.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

pub(crate) fn translate_request(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<UpstreamRequest, RequestError> {
    let op = match split_client_path(client_path).0 {
        Endpoint::Chat | Endpoint::Messages => "chat/completions",
        Endpoint::Completions => "completions",
        Endpoint::Embeddings => "embeddings",
        Endpoint::Other => {
            let path = client_path.split('?').next().unwrap_or(client_path);
            return Err(RequestError::not_found(format!(
                "{path} is not served by Azure OpenAI deployments (chat/completions, completions, embeddings)"
            )));
        }
    };
    let version = target.api_version.as_deref().filter(|v| !v.is_empty()).unwrap_or(DEFAULT_API_VERSION);
    let b = openai::body_for(target, client_path, body)?;
    Ok(UpstreamRequest {
        path: format!(
            "{}/openai/deployments/{}/{op}?api-version={}",
            target.base_path.trim_end_matches('/'),
            uri_encode(&target.model),
            uri_encode(version)
        ),
        body: b.body,
        set_headers: openai::passthrough_headers(),
        stream: b.stream,
        include_usage: b.include_usage,
        client_api: b.client_api,
        upstream_stream: b.upstream_stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ProviderKind;

    #[test]
    fn deployment_path_with_api_version() {
        let t = Target { api_version: Some("2024-06-01".into()), ..Target::new(ProviderKind::Azure, "gpt4o-east") };
        let r = translate_request(&t, "/v1/chat/completions", br#"{"model":"gpt-4o","messages":[]}"#).unwrap();
        assert_eq!(r.path, "/openai/deployments/gpt4o-east/chat/completions?api-version=2024-06-01");
        assert_eq!(r.body, br#"{"model":"gpt4o-east","messages":[]}"#);
        let t = Target { base_path: "/proxy/".into(), ..Target::new(ProviderKind::Azure, "emb") };
        let r = translate_request(&t, "/embeddings", br#"{"model":"e","input":"x"}"#).unwrap();
        assert_eq!(r.path, "/proxy/openai/deployments/emb/embeddings?api-version=2024-10-21");
        assert_eq!(translate_request(&t, "/v1/models", b"{}").unwrap_err().status, 404);
    }
}
