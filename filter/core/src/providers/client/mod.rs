//! The client's side of an attempt: which API the client speaks ([`ClientApi`], from its path),
//! its chat request parsed into the neutral [`ChatRequest`], and the answers, stream events
//! and errors written back in its shapes. One module per client API: [`openai`] (chat
//! completions) and [`anthropic`] (Messages); this module holds what they share and picks
//! between them.

pub(crate) mod anthropic;
pub(crate) mod openai;

use serde_json::{Map, Value};

use super::chat::{invalid, ChatRequest, Ev, Ident, Image, Reply};
use super::error::ProviderError;
use super::{Target, Usage};
use crate::RequestError;

pub use anthropic::anthropic_error_body;

/// The API a client speaks, from its path: Anthropic's for `/v1/messages`, else OpenAI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientApi {
    #[default]
    OpenAi,
    Anthropic,
}

impl ClientApi {
    /// The one place that decides, from the client's path, whether it speaks Anthropic's API.
    pub fn from_path(client_path: &str) -> ClientApi {
        match split_client_path(client_path).0 {
            Endpoint::Messages => ClientApi::Anthropic,
            _ => ClientApi::OpenAi,
        }
    }

    /// The prefix of the answer ids the gateway makes up when the provider gives none.
    pub(crate) fn id_prefix(self) -> &'static str {
        match self {
            ClientApi::OpenAi => "chatcmpl-",
            ClientApi::Anthropic => "msg_",
        }
    }

    /// A provider's error as the client's error body.
    pub(crate) fn error_body(self, e: &ProviderError) -> Vec<u8> {
        match self {
            ClientApi::OpenAi => e.body(),
            ClientApi::Anthropic => e.anthropic_body(),
        }
    }

    /// A whole answer as the client's body (`chat.completion` or `message`).
    pub(crate) fn answer_body(self, ident: &Ident, reply: &Reply) -> Vec<u8> {
        match self {
            ClientApi::OpenAi => openai::completion_json(ident, reply),
            ClientApi::Anthropic => anthropic::message_json(ident, reply),
        }
    }
}

/// The client's stream writer: turns the provider's [`Ev`]s into the client's SSE events.
pub(crate) enum StreamWriter {
    OpenAi(openai::ChunkWriter),
    Anthropic(anthropic::MessageWriter),
}

impl StreamWriter {
    pub fn new(api: ClientApi, ident: Ident, include_usage: bool) -> Self {
        match api {
            ClientApi::OpenAi => StreamWriter::OpenAi(openai::ChunkWriter::new(ident, include_usage)),
            ClientApi::Anthropic => StreamWriter::Anthropic(anthropic::MessageWriter::new(ident)),
        }
    }

    pub fn event(&mut self, out: &mut Vec<u8>, ev: Ev) {
        match self {
            StreamWriter::OpenAi(w) => w.event(out, ev),
            StreamWriter::Anthropic(w) => w.event(out, ev),
        }
    }

    pub fn end(&mut self, out: &mut Vec<u8>) {
        match self {
            StreamWriter::OpenAi(w) => w.end(out),
            StreamWriter::Anthropic(w) => w.end(out),
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        match self {
            StreamWriter::OpenAi(w) => w.usage(),
            StreamWriter::Anthropic(w) => w.usage(),
        }
    }
}

/// The client endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    /// Anthropic's `/v1/messages`.
    Messages,
    Other,
}

/// `(endpoint, path without /v1 prefix and query, query with its '?')`.
pub(crate) fn split_client_path(client_path: &str) -> (Endpoint, &str, &str) {
    let (path, query) = match client_path.find('?') {
        Some(i) => client_path.split_at(i),
        None => (client_path, ""),
    };
    let rest = path.strip_prefix("/v1").filter(|r| r.starts_with('/')).unwrap_or(path);
    let endpoint = match rest.trim_end_matches('/') {
        "/chat/completions" => Endpoint::Chat,
        "/completions" => Endpoint::Completions,
        "/embeddings" => Endpoint::Embeddings,
        "/messages" => Endpoint::Messages,
        _ => Endpoint::Other,
    };
    (endpoint, rest, query)
}

/// Only chat completions (OpenAI's or Anthropic's) are translated for providers that are not
/// OpenAI-shaped.
pub(crate) fn require_chat(target: &Target, client_path: &str) -> Result<ClientApi, RequestError> {
    match split_client_path(client_path).0 {
        Endpoint::Chat | Endpoint::Messages => Ok(ClientApi::from_path(client_path)),
        _ => {
            let path = client_path.split('?').next().unwrap_or(client_path);
            Err(RequestError::bad_request(
                "unsupported_endpoint",
                format!(
                    "{path} is not supported for {} deployments: the gateway translates only /v1/chat/completions and /v1/messages for them",
                    target.kind.display_name()
                ),
            ))
        }
    }
}

/// The client's chat request (OpenAI's or Anthropic's form, from its path), parsed for `target`.
pub(crate) fn parse_chat(
    target: &Target,
    client_path: &str,
    body: &[u8],
) -> Result<(ClientApi, ChatRequest), RequestError> {
    let api = require_chat(target, client_path)?;
    let req = match api {
        ClientApi::OpenAi => openai::parse(body, target.kind)?,
        ClientApi::Anthropic => anthropic::parse(body, target.kind)?,
    };
    Ok((api, req))
}

// --- Helpers both request parsers use ---

/// The keys of a request body, which must be a JSON object; a key whose value is `null` counts
/// as absent.
pub(crate) fn fields(body: &[u8]) -> Result<impl Iterator<Item = (String, Value)>, RequestError> {
    let top: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| invalid(format!("request body is not a JSON object: {e}")))?;
    Ok(top.into_iter().filter(|(_, value)| !value.is_null()))
}

/// The parameter `key` as a number.
pub(crate) fn number(key: &str, v: &Value) -> Result<f64, RequestError> {
    v.as_f64().ok_or_else(|| invalid(format!("'{key}' must be a number")))
}

/// The parameter `key` as a list of strings; one string is a list of one.
pub(crate) fn strings(key: &str, v: &Value) -> Result<Vec<String>, RequestError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|s| s.as_str().map(str::to_owned).ok_or_else(|| invalid(format!("'{key}' must hold strings"))))
            .collect(),
        _ => Err(invalid(format!("'{key}' must be a string or an array of strings"))),
    }
}

/// An image URL: a `data:` URL becomes inline data; any other URL is kept as it is.
pub(crate) fn image(i: usize, j: usize, url: &str) -> Result<Image, RequestError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').unwrap_or((rest, ""));
        let media_type = meta.strip_suffix(";base64").filter(|m| !m.is_empty() && !data.is_empty());
        let media_type = media_type.ok_or_else(|| {
            invalid(format!(
                "messages[{i}].content[{j}].image_url is a data: URL that is not 'data:<type>;base64,<data>'"
            ))
        })?;
        return Ok(Image::Inline { media_type: media_type.to_ascii_lowercase(), data: data.to_owned() });
    }
    Ok(Image::Url(url.to_owned()))
}
