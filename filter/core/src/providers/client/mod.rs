//! The client's side of an attempt: which API the client speaks ([`ClientApi`], from its path),
//! its chat request parsed into the neutral [`ChatRequest`], and the answers, stream events
//! and errors written back in its shapes. One module per client API: [`openai`] (chat
//! completions) and [`anthropic`] (Messages); this module holds what they share and picks
//! between them.

pub(crate) mod anthropic;
pub(crate) mod openai;

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::chat::{invalid, ChatRequest, Content, Ev, Ident, Image, Msg, Part, Reply, ToolCall, ToolDef};
use super::error::ProviderError;
use super::json;
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

    /// A whole answer as the client's body (`chat.completion` or `message`); `None` when it
    /// would be longer than `cap` bytes. `size_hint` is the provider's body size.
    pub(crate) fn answer_body(self, ident: &Ident, reply: &Reply<'_>, cap: usize, size_hint: usize) -> Option<Vec<u8>> {
        match self {
            ClientApi::OpenAi => openai::completion_json(ident, reply, cap, size_hint),
            ClientApi::Anthropic => anthropic::message_json(ident, reply, cap, size_hint),
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
pub(crate) fn parse_chat<'a>(
    target: &Target,
    client_path: &str,
    body: &'a [u8],
) -> Result<(ClientApi, ChatRequest<'a>), RequestError> {
    let api = require_chat(target, client_path)?;
    let req = match api {
        ClientApi::OpenAi => openai::parse(body, target.kind)?,
        ClientApi::Anthropic => anthropic::parse(body, target.kind)?,
    };
    Ok((api, req))
}

// --- Reading a parsed request ---

/// One element of `messages`, as the parsers hand it out.
pub(crate) enum Item<'a> {
    System(Cow<'a, str>),
    Turn(Msg<'a>),
}

impl<'a> ChatRequest<'a> {
    /// Reads `messages` again, one message at a time, in the form of the client's API.
    fn walk(&self, f: &mut dyn FnMut(Item<'a>) -> Result<(), RequestError>) -> Result<(), RequestError> {
        let (api, kind) = (self.api, self.kind);
        let Some(messages) = self.messages else { return Ok(()) };
        json::each(messages, &"messages", &mut |i, raw| match api {
            ClientApi::OpenAi => openai::message(kind, i, raw, f),
            ClientApi::Anthropic => anthropic::message(kind, i, raw, f),
        })
    }

    /// Calls `f` with each turn of the conversation, in order (system messages are read by
    /// [`Self::each_system`]).
    pub fn each_message(&self, f: &mut dyn FnMut(Msg<'a>) -> Result<(), RequestError>) -> Result<(), RequestError> {
        self.walk(&mut |item| match item {
            Item::Turn(m) => f(m),
            Item::System(_) => Ok(()),
        })
    }

    /// Calls `f` with each system text, in order.
    pub fn each_system(&self, f: &mut dyn FnMut(&str) -> Result<(), RequestError>) -> Result<(), RequestError> {
        match self.api {
            ClientApi::Anthropic => self.system.as_deref().map_or(Ok(()), f),
            ClientApi::OpenAi => self.walk(&mut |item| match item {
                Item::System(s) => f(&s),
                Item::Turn(_) => Ok(()),
            }),
        }
    }

    /// Calls `f` with each tool definition, in order.
    pub fn each_tool(&self, f: &mut dyn FnMut(ToolDef<'a>) -> Result<(), RequestError>) -> Result<(), RequestError> {
        let Some(raw) = self.tools else { return Ok(()) };
        let (api, kind) = (self.api, self.kind);
        json::each(raw, &"tools", &mut |i, t| match api {
            ClientApi::OpenAi => f(openai::tool(i, t)?),
            ClientApi::Anthropic => f(anthropic::tool(i, t, kind)?),
        })
    }

    /// The stop sequences as a JSON array of strings; `None` when there are none.
    pub fn stop_json(&self) -> Option<Cow<'a, str>> {
        let raw = self.stop?;
        if raw.get().starts_with('[') {
            (json::count(raw) > 0).then_some(Cow::Borrowed(raw.get()))
        } else {
            Some(Cow::Owned(format!("[{}]", raw.get())))
        }
    }

    /// The name of every tool call's tool, by call id: what names the tool a tool message
    /// answers (Gemini's function responses).
    pub fn tool_names(&self) -> Result<ToolNames, RequestError> {
        let mut names = ToolNames::default();
        self.each_message(&mut |m| match m {
            Msg::Assistant(c) => c.tool_calls(&mut |call| {
                names.push(&call.id, &call.name);
                Ok(())
            }),
            _ => Ok(()),
        })?;
        names.sort();
        Ok(names)
    }
}

/// Tool names by call id, packed: one string holds every `id\0name\0`, and a sorted list of
/// offsets finds them (a few bytes per call, where a list of string pairs would take 48).
#[derive(Default)]
pub(crate) struct ToolNames {
    text: String,
    starts: Vec<u32>,
}

impl ToolNames {
    fn push(&mut self, id: &str, name: &str) {
        // A body is at most a few MiB, so offsets fit in 32 bits; ids with a NUL are left out
        // (they could not be told apart from the separator).
        let Ok(start) = u32::try_from(self.text.len()) else { return };
        if id.contains('\0') || name.contains('\0') {
            return;
        }
        self.starts.push(start);
        self.text.push_str(id);
        self.text.push('\0');
        self.text.push_str(name);
        self.text.push('\0');
    }

    /// `(id, name)` of the entry at `start`.
    fn entry(&self, start: u32) -> (&str, &str) {
        let rest = self.text.get(start as usize..).unwrap_or_default();
        let mut fields = rest.split('\0');
        (fields.next().unwrap_or_default(), fields.next().unwrap_or_default())
    }

    fn sort(&mut self) {
        let mut starts = std::mem::take(&mut self.starts);
        // Stable: the first call with an id names it, as a search from the start would. The
        // comparison is called through a pointer: inlined, it made this sort 25 KB of wasm.
        let by_id: &mut dyn FnMut(&u32, &u32) -> std::cmp::Ordering =
            &mut |&a, &b| self.entry(a).0.cmp(self.entry(b).0);
        starts.sort_by(by_id);
        self.starts = starts;
    }

    /// The name of the tool the call `id` belongs to.
    pub fn get(&self, id: &str) -> Option<&str> {
        let i = self.starts.partition_point(|&s| self.entry(s).0 < id);
        let (found, name) = self.entry(*self.starts.get(i)?);
        (found == id).then_some(name)
    }
}

impl<'a> Content<'a> {
    /// Calls `f` with each text and image part, in order (an assistant's empty texts and an
    /// Anthropic message's other blocks are left out).
    pub fn parts(&self, f: &mut dyn FnMut(Part<'a>) -> Result<(), RequestError>) -> Result<(), RequestError> {
        match self.api {
            ClientApi::OpenAi => openai::parts(self, f),
            ClientApi::Anthropic => anthropic::parts(self, f),
        }
    }

    /// Calls `f` with each of an assistant message's tool calls, in order.
    pub fn tool_calls(&self, f: &mut dyn FnMut(ToolCall<'a>) -> Result<(), RequestError>) -> Result<(), RequestError> {
        if !self.assistant {
            return Ok(());
        }
        match self.api {
            ClientApi::OpenAi => openai::tool_calls(self, f),
            ClientApi::Anthropic => anthropic::tool_calls(self, f),
        }
    }
}

/// Reads every message once, so that a malformed one is refused before anything is written,
/// and notes what the writers need to know up front.
pub(crate) fn check_messages(req: &mut ChatRequest<'_>) -> Result<(), RequestError> {
    if !req.messages.is_some_and(|m| m.get().starts_with('[') && json::count(m) > 0) {
        return Err(invalid("'messages' must be a non-empty array".into()));
    }
    let (mut systems, mut history) = (0, false);
    req.walk(&mut |item| {
        match item {
            Item::System(_) => systems += 1,
            Item::Turn(Msg::Tool { .. }) => history = true,
            Item::Turn(Msg::User(c)) => c.parts(&mut |_| Ok(()))?,
            Item::Turn(Msg::Assistant(c)) => {
                c.parts(&mut |_| Ok(()))?;
                c.tool_calls(&mut |_| {
                    history = true;
                    Ok(())
                })?;
            }
        }
        Ok(())
    })?;
    if req.api == ClientApi::OpenAi {
        req.system_count = systems;
    }
    req.has_tool_history = history;
    let mut tools = 0;
    req.each_tool(&mut |_| {
        tools += 1;
        Ok(())
    })?;
    req.tool_count = tools;
    Ok(())
}

// --- Helpers both request parsers use ---

/// The parameter `key` as a number.
pub(crate) fn number(key: &str, v: &RawValue) -> Result<f64, RequestError> {
    json::read::<f64>(v).ok_or_else(|| invalid(format!("'{key}' must be a number")))
}

/// The parameter `key` as a positive integer.
pub(crate) fn whole(key: &str, v: &RawValue) -> Result<u64, RequestError> {
    json::read::<u64>(v).ok_or_else(|| invalid(format!("'{key}' must be a positive integer")))
}

/// The parameter `key` as a boolean.
pub(crate) fn boolean(key: &str, v: &RawValue, what: &str) -> Result<bool, RequestError> {
    json::read::<bool>(v).ok_or_else(|| invalid(format!("'{key}' must be {what}")))
}

/// Checks that the parameter `key` is a string or an array of strings (kept as it is).
pub(crate) fn strings<'a>(key: &str, v: &'a RawValue) -> Result<&'a RawValue, RequestError> {
    if v.get().starts_with('"') {
        return Ok(v);
    }
    if !v.get().starts_with('[') {
        return Err(invalid(format!("'{key}' must be a string or an array of strings")));
    }
    json::each(v, &key, &mut |_, s| {
        if s.get().starts_with('"') {
            Ok(())
        } else {
            Err(invalid(format!("'{key}' must hold strings")))
        }
    })?;
    Ok(v)
}

/// An image URL: a `data:` URL becomes inline data; any other URL is kept as it is.
pub(crate) fn image<'a>(i: usize, j: usize, url: Cow<'a, str>) -> Result<Image<'a>, RequestError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',').unwrap_or((rest, ""));
        let media_type = meta.strip_suffix(";base64").filter(|m| !m.is_empty() && !data.is_empty());
        let media_type = media_type.ok_or_else(|| {
            invalid(format!(
                "messages[{i}].content[{j}].image_url is a data: URL that is not 'data:<type>;base64,<data>'"
            ))
        })?;
        let media_type = media_type.to_ascii_lowercase();
        let skip = url.len() - data.len();
        let data = match url {
            Cow::Borrowed(u) => Cow::Borrowed(u.get(skip..).unwrap_or_default()),
            Cow::Owned(u) => Cow::Owned(u.get(skip..).unwrap_or_default().to_owned()),
        };
        return Ok(Image::Inline { media_type, data });
    }
    Ok(Image::Url(url))
}

/// A message's text parts joined (a system or tool message); an image is refused with
/// `on_image`'s error.
pub(crate) fn joined_text<'a>(
    c: &Content<'a>,
    on_image: &dyn Fn() -> RequestError,
) -> Result<Cow<'a, str>, RequestError> {
    let mut text: Option<Cow<'a, str>> = None;
    c.parts(&mut |p| match p {
        Part::Text(t) => {
            match text.as_mut() {
                None => text = Some(t),
                Some(all) => all.to_mut().push_str(&t),
            }
            Ok(())
        }
        Part::Image(_) => Err(on_image()),
    })?;
    Ok(text.unwrap_or_default())
}

/// The conversation as one line per turn, for tests: `user: text(q) image(...)`,
/// `assistant: text(t) call(id,name,{args})`, `tool(id,error): content`.
#[cfg(test)]
pub(crate) fn summary(req: &ChatRequest<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    req.each_message(&mut |m| {
        let mut line = String::new();
        let mut part = |p: Part<'_>| {
            match p {
                Part::Text(t) => line.push_str(&format!(" text({t})")),
                Part::Image(i) => line.push_str(&format!(" image({i:?})")),
            }
            Ok(())
        };
        match m {
            Msg::User(c) => {
                c.parts(&mut part)?;
                lines.push(format!("user:{line}"));
            }
            Msg::Assistant(c) => {
                c.parts(&mut part)?;
                c.tool_calls(&mut |t| {
                    line.push_str(&format!(" call({},{},{})", t.id, t.name, t.arguments));
                    Ok(())
                })?;
                lines.push(format!("assistant:{line}"));
            }
            Msg::Tool { tool_call_id, content, is_error } => {
                lines.push(format!("tool({tool_call_id}{}): {content}", if is_error { ",error" } else { "" }))
            }
        }
        Ok(())
    })
    .unwrap();
    lines
}
