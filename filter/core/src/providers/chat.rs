//! The neutral chat exchange every translating provider works from, whichever API the client
//! speaks: the request parsed once by [`super::client`] ([`ChatRequest`]), and the answer each
//! provider's response side reads back ([`Reply`] whole, [`Ev`] events when streamed), which the
//! client's writers turn into its shapes.
//!
//! It sits apart from both sides because neither owns it: the client modules fill and write it,
//! the provider modules read and produce it.

use serde_json::{Map, Value};

use super::error::ProviderError;
use super::{ProviderKind, Usage};
use crate::RequestError;

// --- The request ---

/// A chat request, from OpenAI's or Anthropic's form.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ChatRequest {
    /// `system` and `developer` messages, in order (providers take them apart from the turns).
    pub system: Vec<String>,
    pub messages: Vec<Msg>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub tools: Vec<ToolDef>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub user: Option<String>,
    pub seed: Option<i64>,
    pub stream: bool,
    pub include_usage: bool,
    /// Keys with an effect that only some providers can express.
    pub extras: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Msg {
    User(Vec<Part>),
    Assistant {
        text: Vec<String>,
        tool_calls: Vec<ToolCall>,
    },
    /// A tool's answer; `is_error` from Anthropic clients' `tool_result.is_error`.
    Tool {
        tool_call_id: String,
        content: String,
        is_error: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    Image(Image),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Image {
    /// A `data:` URL: media type and base64 data, as sent.
    Inline { media_type: String, data: String },
    /// A remote URL (http, https, gs).
    Url(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    /// `function.arguments`, parsed (`""` is `{}`).
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolDef {
    pub name: String,
    pub description: Option<String>,
    /// JSON schema of the arguments (`{"type":"object","properties":{}}` when absent).
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolChoice {
    Auto,
    None,
    Required,
    Function(String),
}

impl ChatRequest {
    /// Answers 400 naming the first key in `extras` (the provider took those it can express).
    pub fn reject_extras(&self, kind: ProviderKind) -> Result<(), RequestError> {
        reject_extras(&self.extras, kind)
    }

    /// The name of the tool a tool call id belongs to, from earlier assistant turns.
    pub fn tool_name_for(&self, id: &str) -> Option<&str> {
        self.messages.iter().find_map(|m| match m {
            Msg::Assistant { tool_calls, .. } => tool_calls.iter().find(|c| c.id == id).map(|c| c.name.as_str()),
            _ => None,
        })
    }

    /// Whether there are tools to send; without them, a `tool_choice` that demands one is a 400.
    pub fn has_tools(&self) -> Result<bool, RequestError> {
        if !self.tools.is_empty() {
            return Ok(true);
        }
        if matches!(self.tool_choice, Some(ToolChoice::Required | ToolChoice::Function(_))) {
            return Err(RequestError::bad_request("invalid_request", "'tool_choice' requires 'tools'")
                .with_param("tool_choice"));
        }
        Ok(false)
    }

    pub fn has_tool_history(&self) -> bool {
        self.messages.iter().any(|m| {
            matches!(m, Msg::Tool { .. }) || matches!(m, Msg::Assistant { tool_calls, .. } if !tool_calls.is_empty())
        })
    }
}

/// 400 naming the first key of `extras` (what is left after a provider took what it can express).
pub(crate) fn reject_extras(extras: &Map<String, Value>, kind: ProviderKind) -> Result<(), RequestError> {
    match extras.iter().next() {
        None => Ok(()),
        Some((k, v)) => Err(bad(
            "unsupported_parameter",
            format!("parameter '{k}' (value {}) cannot be expressed for {} deployments", short(v), kind.display_name()),
        )),
    }
}

/// A JSON value as text for an error message, cut at 60 bytes.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 60 {
        s
    } else {
        let mut end = 57;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

/// A 400 with `code`.
pub(crate) fn bad(code: &'static str, msg: String) -> RequestError {
    RequestError::bad_request(code, msg)
}

/// 400 for a request that is not well formed.
pub(crate) fn invalid(msg: String) -> RequestError {
    bad("invalid_request", msg)
}

/// 400 for content or a parameter the provider cannot express.
pub(crate) fn unsupported(msg: String) -> RequestError {
    bad("unsupported_content", msg)
}

// --- Helpers for the provider writers that build their body from a `ChatRequest` ---

/// Adds a message's blocks to the provider's turns: a message of the same role as the turn before
/// it joins that turn, so that roles alternate (consecutive tool results make one user turn).
pub(crate) fn push_turn(turns: &mut Vec<(&'static str, Vec<Value>)>, role: &'static str, blocks: Vec<Value>) {
    match turns.last_mut() {
        Some((r, b)) if *r == role => b.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

/// Copies `src` into `dst[key]` when present.
pub(crate) fn put<T: Into<Value>>(dst: &mut Map<String, Value>, key: &str, src: Option<T>) {
    if let Some(v) = src {
        dst.insert(key.to_owned(), v.into());
    }
}

// --- The answer ---

/// Why the answer ended; the variants are OpenAI's `finish_reason` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl Finish {
    /// OpenAI's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCalls => "tool_calls",
            Finish::ContentFilter => "content_filter",
        }
    }
}

/// A tool call in an answer; `arguments` is the JSON text OpenAI clients expect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A whole answer, from a provider's non-streaming response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub id: Option<String>,
    pub text: Option<String>,
    pub tool_calls: Vec<OutToolCall>,
    pub finish: Finish,
    pub usage: Option<Usage>,
}

/// Identity of the answer the client gets: its id, model and creation time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ident {
    pub id: String,
    pub model: String,
    pub created: u64,
}

/// What a provider's stream decoder found, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ev {
    /// The answer started; the provider's message id when it gives one.
    Start {
        id: Option<String>,
    },
    Text(String),
    /// A tool call starts in the provider's content block `block`; `arguments` may hold the
    /// whole JSON already (Gemini) or be empty (the deltas follow).
    ToolStart {
        block: u64,
        id: String,
        name: String,
        arguments: String,
    },
    ToolArgs {
        block: u64,
        fragment: String,
    },
    Finish(Finish),
    /// Usage so far (later ones replace earlier ones).
    Usage(Usage),
    /// The provider said the answer is complete (usage is final).
    End,
    Error(ProviderError),
}
