//! Provider adapters: the per-attempt translation between the API the client speaks (OpenAI's
//! chat completions or Anthropic's Messages) and the API of the deployment that serves the
//! attempt.
//!
//! Three steps over plain bytes, with no host in sight:
//! - [`translate_request`]: the client's path and JSON body become the provider's path, body and
//!   the headers the provider needs (the adapter adds auth, `:authority`, signing).
//! - [`ResponseTranslator::on_headers`]: the provider's status and headers become the client's
//!   (errors mapped so that only 408/429/5xx count as region failures).
//! - [`ResponseTranslator::on_body`]: the provider's body, chunk by chunk, becomes the client's
//!   answer: whole at the end, or as SSE events as soon as each provider frame is complete (a
//!   partial frame waits for the next chunk).
//!
//! Clients speak OpenAI (`/v1/chat/completions`, and for OpenAI-shaped providers
//! `/v1/completions`, `/v1/embeddings`) or Anthropic (`/v1/messages`, [`ClientApi`]); answers
//! and errors come back in the client's API.
//!
//! Laid out by job:
//! - this module: the public types and the dispatch on the deployment's [`ProviderKind`];
//! - `chat`: the neutral request and answer every translation goes through;
//! - `client`: the client's side, one module per client API (parse its request, write its
//!   answers, stream events and errors);
//! - one module per provider API, each with its request writer, response reader and error
//!   parser: [`openai`] (and [`azure`], its path), [`anthropic`], [`bedrock`], [`vertex`]
//!   (Claude and Gemini on Vertex AI, and what they share);
//! - `translated`: the response driver every translating provider plugs its dialect into;
//! - [`codec`]: the wire codecs (SSE, AWS event stream, usage read on the side) and the caps
//!   on what the response side holds;
//! - `json`: JSON read in place and written straight, never as a tree (memory within a small
//!   multiple of the body, whatever its shape);
//! - `error`: the provider error every provider's parser produces.

pub mod anthropic;
pub mod azure;
pub mod bedrock;
mod chat;
mod client;
pub mod codec;
mod error;
pub(crate) mod json;
pub mod openai;
mod translated;
pub mod vertex;

use crate::{Provider, RequestError};

pub use bedrock::bedrock_exception_status;
pub use client::{anthropic_error_body, ClientApi};

/// The API a deployment speaks (its dialect), from its [`Provider`] and model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderKind {
    /// `openai/…` and every other OpenAI-compatible server.
    #[default]
    OpenAi,
    Azure,
    Bedrock,
    Anthropic,
    VertexAnthropic,
    VertexGemini,
    /// Gemini on Google AI Studio (`gemini/…`, the `generativelanguage` API with an API key):
    /// the Gemini format Vertex speaks, at `/v1beta/models/{model}`.
    GeminiAiStudio,
}

impl ProviderKind {
    /// The API that `provider` speaks for `model` (the provider's model id). A `vertex_ai`
    /// model that is neither Claude nor Gemini has no adapter yet and is an error naming it.
    pub fn for_provider(provider: &Provider, model: &str) -> Result<ProviderKind, String> {
        Ok(match provider {
            Provider::Bedrock => ProviderKind::Bedrock,
            Provider::Azure => ProviderKind::Azure,
            Provider::Anthropic => ProviderKind::Anthropic,
            Provider::OpenAiCompatible(prefix) if prefix == "gemini" => ProviderKind::GeminiAiStudio,
            Provider::OpenAi | Provider::OpenAiCompatible(_) => ProviderKind::OpenAi,
            Provider::VertexAi => {
                let m = model.rsplit('/').next().unwrap_or(model);
                if m.starts_with("claude") {
                    ProviderKind::VertexAnthropic
                } else if m.starts_with("gemini") {
                    ProviderKind::VertexGemini
                } else {
                    return Err(format!(
                        "vertex_ai model '{model}' is neither Claude nor Gemini; the gateway translates only those two on Vertex"
                    ));
                }
            }
        })
    }

    /// Splits LiteLLM's whole `model` (`bedrock/anthropic.claude-…`, `gpt-4o`) into the kind and
    /// the provider's model id ([`crate::provider::split_model`]).
    pub fn from_litellm_model(model: &str) -> Result<(ProviderKind, String), String> {
        let (provider, id) = crate::provider::split_model(model);
        Ok((ProviderKind::for_provider(&provider, &id)?, id))
    }

    /// Human name used in error messages.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OpenAI-compatible",
            ProviderKind::Azure => "Azure OpenAI",
            ProviderKind::Bedrock => "Bedrock",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::VertexAnthropic => "Vertex AI (Claude)",
            ProviderKind::VertexGemini => "Vertex AI (Gemini)",
            ProviderKind::GeminiAiStudio => "Google AI Studio (Gemini)",
        }
    }
}

/// The deployment one attempt goes to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    pub kind: ProviderKind,
    /// The provider's model id (Bedrock model or inference-profile id or ARN, Azure deployment
    /// name, Vertex model, ...).
    pub model: String,
    /// Path prefix from `api_base` (OpenAI-compatible and Azure only; others keep their path).
    pub base_path: String,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    pub vertex_project: Option<String>,
    pub vertex_location: Option<String>,
}

impl Target {
    pub fn new(kind: ProviderKind, model: impl Into<String>) -> Self {
        Target { kind, model: model.into(), ..Target::default() }
    }
}

/// The request one attempt sends upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    /// `:path`, with its query string.
    pub path: String,
    pub body: Vec<u8>,
    /// Headers to set (replacing any the client sent), e.g. `anthropic-version`, `content-type`,
    /// `accept`, `accept-encoding: identity` (the response body must be readable).
    pub set_headers: Vec<(String, String)>,
    /// The client asked for a stream (`"stream": true`).
    pub stream: bool,
    /// The client asked for a usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    /// The API the client speaks (from its path).
    pub client_api: ClientApi,
    /// The provider is asked for a stream although the client wants one whole answer: the
    /// response side assembles it ([`ResponseOptions::upstream_stream`]).
    pub upstream_stream: bool,
}

impl UpstreamRequest {
    /// What [`response_translator`] needs; `created` is the Unix time in seconds (the core reads
    /// no clock). Set `request_id` on the result for unique answer ids where the provider gives
    /// none.
    pub fn response_options(&self, created: u64) -> ResponseOptions {
        ResponseOptions {
            stream: self.stream,
            include_usage: self.include_usage,
            created,
            request_id: 0,
            client_api: self.client_api,
            upstream_stream: self.upstream_stream && !self.stream,
        }
    }
}

/// How the client wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseOptions {
    pub stream: bool,
    pub include_usage: bool,
    /// `created` of the OpenAI objects written for providers that give none (Unix seconds).
    pub created: u64,
    /// Makes the answer's id (`chatcmpl-{hex}`) when the provider gives none (Bedrock without
    /// `x-amzn-RequestId`); 0 falls back to `created`.
    pub request_id: u64,
    /// The API the answer is written in.
    pub client_api: ClientApi,
    /// The client wants one whole answer (`stream` false) but the provider was asked for a
    /// stream: its events are assembled into that answer, which is held until the first content
    /// like a stream's and written whole at the end.
    pub upstream_stream: bool,
}

/// Status and header changes for the response the client gets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseHead {
    pub status: u16,
    /// Headers to set, replacing any of the same name.
    pub set_headers: Vec<(String, String)>,
    /// Headers to remove (lower case), e.g. `content-length` when the body is rewritten.
    pub remove_headers: Vec<String>,
}

/// Tokens of one answer, from the provider's own count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One attempt's response, translated step by step. Never panics, whatever the bytes.
pub trait ResponseTranslator {
    /// The provider's status and headers (names in lower case, as Envoy gives them).
    fn on_headers(&mut self, status: u16, headers: &[(String, String)]) -> ResponseHead;
    /// Bytes to send to the client now for this chunk of the provider's body.
    fn on_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8>;
    /// The provider's usage, once known (streaming included).
    fn usage(&self) -> Option<Usage>;
    /// Whether a streamed answer has shown its first content yet; the upstream role holds the
    /// response until it has. Answers that are not streamed are never held.
    fn first_content(&self) -> FirstContent {
        FirstContent::Seen
    }
    /// Whether an answer assembled from the provider's stream ([`ResponseOptions::upstream_stream`])
    /// failed after its first content, when the client's status was already released: its body
    /// ends with the client's error instead of an answer, and the upstream role must reset the
    /// stream so that the client never takes it for a complete answer.
    fn broken_after_content(&self) -> bool {
        false
    }
    /// Whether the provider failed after the first content reached the client: an error event
    /// in a stream (passed on as one), or a broken assembled answer. The region's failure.
    fn failed_after_content(&self) -> bool {
        false
    }
}

/// Where a streamed answer stands before the client may see any of it.
#[derive(Debug, Clone, PartialEq)]
pub enum FirstContent {
    /// No text or tool call yet.
    Waiting,
    /// Content came (or the answer ended cleanly without any): release what was held.
    Seen,
    /// The provider failed before any content: a region failure with this status (429 or 503,
    /// both retried on the next deployment) and this body in the client's API.
    Failed { status: u16, body: Vec<u8> },
}

/// Translates the client's request for one attempt at `target`.
pub fn translate_request(target: &Target, client_path: &str, body: &[u8]) -> Result<UpstreamRequest, RequestError> {
    match target.kind {
        ProviderKind::OpenAi => openai::translate_request(target, client_path, body),
        ProviderKind::Azure => azure::translate_request(target, client_path, body),
        ProviderKind::Bedrock => bedrock::translate_request(target, client_path, body),
        ProviderKind::Anthropic => anthropic::translate_request(target, client_path, body),
        ProviderKind::VertexAnthropic => vertex::claude::translate_request(target, client_path, body),
        ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio => {
            vertex::gemini::translate_request(target, client_path, body)
        }
    }
}

/// The response side of one attempt at `target`.
pub fn response_translator(target: &Target, opts: ResponseOptions) -> Box<dyn ResponseTranslator> {
    match (target.kind, opts.client_api) {
        // An answer assembled from the provider's stream is rewritten, whatever the APIs.
        (ProviderKind::OpenAi | ProviderKind::Azure, ClientApi::OpenAi) if opts.upstream_stream => {
            Box::new(openai::response_translator(target, opts))
        }
        (ProviderKind::Anthropic | ProviderKind::VertexAnthropic, ClientApi::Anthropic) if opts.upstream_stream => {
            Box::new(anthropic::response_translator(target, opts))
        }
        (ProviderKind::OpenAi | ProviderKind::Azure, ClientApi::OpenAi) => {
            let watch = opts.stream.then(|| openai::response_translator(target, opts));
            translated::WatchedPassThrough::wrap(Box::new(openai::PassThrough::new(opts)), watch)
        }
        (ProviderKind::OpenAi | ProviderKind::Azure, ClientApi::Anthropic) => {
            Box::new(openai::response_translator(target, opts))
        }
        (ProviderKind::Anthropic | ProviderKind::VertexAnthropic, ClientApi::Anthropic) => {
            let watch = opts.stream.then(|| anthropic::response_translator(target, opts));
            translated::WatchedPassThrough::wrap(Box::new(anthropic::PassThrough::new(opts)), watch)
        }
        (ProviderKind::Anthropic | ProviderKind::VertexAnthropic, ClientApi::OpenAi) => {
            Box::new(anthropic::response_translator(target, opts))
        }
        (ProviderKind::Bedrock, _) => Box::new(bedrock::response_translator(target, opts)),
        (ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio, _) => {
            Box::new(vertex::gemini::response_translator(target, opts))
        }
    }
}

/// Whether a deployment of `kind` is asked for a stream when its client wants one whole answer
/// (the stream's first event is what tells a live region from a hung one; the answer is
/// assembled here). Azure only from `api-version` 2024-09-01: earlier versions refuse
/// `stream_options`, and a stream without it carries no usage.
pub fn streams_whole_answers(kind: ProviderKind, api_version: Option<&str>) -> bool {
    match kind {
        ProviderKind::Azure => {
            let v = api_version.filter(|v| !v.is_empty()).unwrap_or(azure::DEFAULT_API_VERSION);
            v.get(..10).is_some_and(|date| date >= "2024-09-01")
        }
        _ => true,
    }
}

/// Whether one whole answer to the client's request can be assembled from the provider's
/// stream when the provider speaks the client's own API (the answers that otherwise pass
/// through). The assembler carries text, tool calls, the finish reason and usage; a request
/// that asks for more (several choices, log probabilities, audio; Anthropic's extended
/// thinking, server tools, MCP servers, containers) keeps the provider's non-streaming call, and
/// its attempts keep `timeout` as their limit. Only chat requests (`/chat/completions`,
/// `/v1/messages`) qualify.
pub fn assemblable(client_path: &str, body: &[u8]) -> bool {
    use client::Endpoint;
    if !matches!(client::split_client_path(client_path).0, Endpoint::Chat | Endpoint::Messages) {
        return false;
    }
    let Ok(text) = std::str::from_utf8(body) else { return false };
    let mut ok = true;
    let is = |raw: &serde_json::value::RawValue, v: &str| raw.get().trim() == v;
    let walked = json::each_field(text, &mut |key, value| {
        ok &= match key.as_ref() {
            "n" => is(value, "1") || is(value, "null"),
            "logprobs" => is(value, "false") || is(value, "null"),
            "top_logprobs" | "audio" => is(value, "null"),
            "modalities" => !value.get().contains("\"audio\""),
            "thinking" => is(value, "null") || value.get().contains("\"disabled\""),
            "mcp_servers" | "container" => false,
            // Anthropic's server tools have a `type` (`web_search_20250305`, ...); client tools
            // have none or `custom`.
            "tools" => {
                let mut client_tools_only = true;
                let _ = json::each(value, &"tools", &mut |_, tool| {
                    let typed = json::each_field(tool.get(), &mut |k, v| {
                        if k == "type" && !is(v, "\"custom\"") && !is(v, "\"function\"") {
                            return Err(RequestError::bad_request("server_tool", String::new()));
                        }
                        Ok(())
                    });
                    client_tools_only &= typed.is_ok();
                    Ok(())
                });
                client_tools_only
            }
            _ => true,
        };
        Ok(())
    });
    ok && walked.is_ok()
}

/// The client's own JSON object for a provider that speaks its API, asking for a stream:
/// `model` set to `model` when given, `stream: true`, and for OpenAI's API
/// `stream_options: {"include_usage": true}` (usage is part of the assembled answer); every
/// other member copied as it is.
pub(crate) fn streaming_copy(body: &[u8], model: Option<&str>, openai_usage: bool) -> Result<Vec<u8>, RequestError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| RequestError::bad_request("invalid_json", "request body is not valid UTF-8 JSON"))?;
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut b = json::ObjectWriter::open(&mut out);
    json::each_field(text, &mut |key, value| {
        match (key.as_ref(), model) {
            ("stream", _) | ("stream_options", _) => {}
            ("model", Some(m)) => b.str("model", m),
            (k, _) => b.raw(k, value.get()),
        }
        Ok(())
    })?;
    b.raw("stream", "true");
    if openai_usage {
        b.raw("stream_options", r#"{"include_usage":true}"#);
    }
    b.close();
    Ok(out)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (AWS's `UriEncode`, so a
/// Bedrock model id's `:` becomes `%3A` and an ARN's `/` becomes `%2F`).
pub(crate) fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A header's value, its name matched in any case.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The headers of a JSON request: `accept` is `stream_accept` when given, and the answer must
/// come back uncompressed (it is read).
pub(crate) fn json_headers(stream_accept: Option<&str>) -> Vec<(String, String)> {
    let mut h = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept-encoding".to_owned(), "identity".to_owned()),
    ];
    h.push(("accept".to_owned(), stream_accept.unwrap_or("application/json").to_owned()));
    h
}

#[cfg(test)]
mod tests {
    use super::client::{split_client_path, Endpoint};
    use super::*;

    #[test]
    fn kinds_from_litellm_models() {
        let k = |m: &str| ProviderKind::from_litellm_model(m);
        assert_eq!(
            k("bedrock/converse/us.anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap(),
            (ProviderKind::Bedrock, "us.anthropic.claude-3-5-sonnet-20241022-v2:0".into())
        );
        assert_eq!(k("vertex_ai/claude-3-sonnet@20240229").unwrap().0, ProviderKind::VertexAnthropic);
        assert_eq!(k("vertex_ai/gemini-2.0-flash").unwrap().0, ProviderKind::VertexGemini);
        assert_eq!(k("gemini/gemini-2.0-flash").unwrap(), (ProviderKind::GeminiAiStudio, "gemini-2.0-flash".into()));
        assert_eq!(k("azure/gpt4o-eu").unwrap(), (ProviderKind::Azure, "gpt4o-eu".into()));
        assert_eq!(k("anthropic/claude-3-7-sonnet-latest").unwrap().0, ProviderKind::Anthropic);
        assert_eq!(k("hosted_vllm/llama").unwrap(), (ProviderKind::OpenAi, "llama".into()));
        assert_eq!(k("gpt-4o").unwrap(), (ProviderKind::OpenAi, "gpt-4o".into()));
        assert!(k("vertex_ai/mistral-large").unwrap_err().contains("mistral-large"));
    }

    #[test]
    fn client_paths() {
        assert_eq!(ClientApi::from_path("/v1/messages"), ClientApi::Anthropic);
        assert_eq!(ClientApi::from_path("/v1/chat/completions?x=1"), ClientApi::OpenAi);
        assert_eq!(split_client_path("/chat/completions/"), (Endpoint::Chat, "/chat/completions/", ""));
        assert_eq!(split_client_path("/v1beta/x?y").0, Endpoint::Other);
        assert_eq!(uri_encode("a:b/c d~_.-"), "a%3Ab%2Fc%20d~_.-");
    }

    #[test]
    fn whole_answers_are_asked_for_as_streams_where_they_can_be_assembled() {
        let chat = "/v1/chat/completions";
        assert!(assemblable(
            chat,
            br#"{"model":"m","messages":[],"n":1,"logprobs":false,"tools":[{"type":"function"}]}"#
        ));
        for body in [
            &br#"{"model":"m","n":2}"#[..],
            br#"{"model":"m","logprobs":true}"#,
            br#"{"model":"m","top_logprobs":2}"#,
            br#"{"model":"m","modalities":["text","audio"]}"#,
            br#"{"model":"m","thinking":{"type":"enabled","budget_tokens":1024}}"#,
            br#"{"model":"m","tools":[{"name":"f"},{"type":"web_search_20250305","name":"web_search"}]}"#,
            br#"{"model":"m","mcp_servers":[]}"#,
            b"not json",
        ] {
            assert!(!assemblable(chat, body), "{}", String::from_utf8_lossy(body));
        }
        assert!(assemblable("/v1/messages", br#"{"model":"m","thinking":{"type":"disabled"},"tools":[{"name":"f"}]}"#));
        assert!(!assemblable("/v1/embeddings", br#"{"model":"m"}"#));
        assert!(!assemblable("/v1/completions", br#"{"model":"m"}"#));

        assert!(streams_whole_answers(ProviderKind::Azure, None), "the default api-version streams usage");
        assert!(streams_whole_answers(ProviderKind::Azure, Some("2024-09-01-preview")));
        assert!(!streams_whole_answers(ProviderKind::Azure, Some("2024-06-01")));
        assert!(streams_whole_answers(ProviderKind::Bedrock, None));

        let copy = streaming_copy(br#"{"model":"g","stream":false,"stream_options":null,"n":1}"#, Some("gpt-4o"), true);
        assert_eq!(
            String::from_utf8(copy.unwrap()).unwrap(),
            r#"{"model":"gpt-4o","n":1,"stream":true,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn every_provider_streams_a_whole_answer_upstream() {
        let openai = br#"{"model":"x","messages":[{"role":"user","content":"q"}]}"#;
        let anthropic = br#"{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"q"}]}"#;
        let vertex = |kind, model: &str| Target {
            vertex_project: Some("p".into()),
            vertex_location: Some("europe-west1".into()),
            ..Target::new(kind, model)
        };
        let cases = [
            (Target::new(ProviderKind::OpenAi, "gpt-4o"), "/v1/chat/completions", &openai[..], "/chat/completions"),
            (Target::new(ProviderKind::OpenAi, "gpt-4o"), "/v1/messages", anthropic, "/chat/completions"),
            (Target::new(ProviderKind::Azure, "gpt4o"), "/v1/chat/completions", openai, "api-version=2024-10-21"),
            (Target::new(ProviderKind::Anthropic, "claude"), "/v1/messages", anthropic, "/v1/messages"),
            (Target::new(ProviderKind::Anthropic, "claude"), "/v1/chat/completions", openai, "/v1/messages"),
            (Target::new(ProviderKind::Bedrock, "m"), "/v1/chat/completions", openai, "/converse-stream"),
            (vertex(ProviderKind::VertexAnthropic, "claude-x"), "/v1/messages", anthropic, ":streamRawPredict"),
            (vertex(ProviderKind::VertexAnthropic, "claude-x"), "/v1/chat/completions", openai, ":streamRawPredict"),
            (
                vertex(ProviderKind::VertexGemini, "gemini-x"),
                "/v1/messages",
                anthropic,
                ":streamGenerateContent?alt=sse",
            ),
            (
                Target::new(ProviderKind::GeminiAiStudio, "gemini-x"),
                "/v1/chat/completions",
                openai,
                "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
            ),
        ];
        for (target, path, body, want_path) in cases {
            let r = translate_request(&target, path, body).unwrap();
            let what = format!("{:?} from {path}", target.kind);
            assert!(r.upstream_stream && !r.stream, "{what}");
            assert!(r.path.ends_with(want_path), "{what}: {}", r.path);
            let o = r.response_options(1);
            assert!(o.upstream_stream && !o.stream, "{what}");
            // The providers that take a body flag get it (Bedrock and Gemini stream by path).
            if !matches!(target.kind, ProviderKind::Bedrock | ProviderKind::VertexGemini | ProviderKind::GeminiAiStudio)
            {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(v["stream"], true, "{what}: {v}");
                let openai_shaped = matches!(target.kind, ProviderKind::OpenAi | ProviderKind::Azure);
                assert_eq!(v["stream_options"]["include_usage"].as_bool(), openai_shaped.then_some(true), "{what}");
            }
        }
        // What the assembler cannot carry keeps the whole call, and so does a stream (as asked).
        let n2 = br#"{"model":"x","n":2,"messages":[{"role":"user","content":"q"}]}"#;
        let r = translate_request(&Target::new(ProviderKind::OpenAi, "g"), "/v1/chat/completions", n2).unwrap();
        assert!(!r.upstream_stream && !r.body.windows(6).any(|w| w == b"stream"));
        let old = Target { api_version: Some("2024-06-01".into()), ..Target::new(ProviderKind::Azure, "g") };
        assert!(!translate_request(&old, "/v1/chat/completions", openai).unwrap().upstream_stream);
        let think = br#"{"model":"x","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":9},"messages":[]}"#;
        let r = translate_request(&vertex(ProviderKind::VertexAnthropic, "claude-x"), "/v1/messages", think).unwrap();
        assert!(!r.upstream_stream && r.path.ends_with(":rawPredict"));
        let streamed = br#"{"model":"x","stream":true,"messages":[{"role":"user","content":"q"}]}"#;
        let r = translate_request(&Target::new(ProviderKind::Bedrock, "m"), "/v1/chat/completions", streamed).unwrap();
        assert!(r.stream && !r.response_options(1).upstream_stream);
    }

    #[test]
    fn response_options_follow_the_request() {
        let t = Target::new(ProviderKind::Bedrock, "m");
        let r = translate_request(
            &t,
            "/v1/messages",
            br#"{"model":"x","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"q"}]}"#,
        )
        .unwrap();
        let o = r.response_options(7);
        assert_eq!(
            (o.stream, o.include_usage, o.created, o.request_id, o.client_api),
            (true, true, 7, 0, ClientApi::Anthropic)
        );
    }
}
