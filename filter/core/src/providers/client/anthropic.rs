//! Anthropic-form clients (`POST /v1/messages`): their request parsed into the same neutral
//! [`ChatRequest`] as OpenAI's, so that every provider's request writer serves it, and answers
//! written back in Anthropic's shapes: a `message` object, or the Messages SSE flow
//! (`message_start`, `content_block_start/delta/stop`, `message_delta`, `message_stop`,
//! `error`), from the same provider events as OpenAI's chunks.
//!
//! The request:
//! - translated: `model`, `messages`, `system`, `max_tokens`, `stop_sequences`, `temperature`,
//!   `top_p`, `top_k` (where the provider has it), `stream`, `tools` (custom tools),
//!   `tool_choice` (auto/any/tool/none, `disable_parallel_tool_use`), `metadata.user_id`;
//!   content blocks `text`, `image` (base64 or URL), `tool_use`, `tool_result` (text,
//!   `is_error`);
//! - dropped as harmless: `service_tier`, `anthropic_version`, `cache_control` and `citations`
//!   on blocks (caching hints, echoed citations), and earlier assistant `thinking` /
//!   `redacted_thinking` blocks (the model's past reasoning, which other providers cannot take);
//! - anything else (`thinking`, `mcp_servers`, `container`, server tools, `document` blocks, ...)
//!   is a 400 naming it. Anthropic and Claude on Vertex get the client's body as it is instead.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{boolean, check_messages, number, strings, whole, ClientApi, Item};
use crate::providers::chat::{
    bad, invalid, ChatRequest, Content, Ev, Finish, Ident, Image, Msg, Part, Reply, ToolCall, ToolChoice, ToolDef,
};
use crate::providers::codec::sse;
use crate::providers::error::ProviderError;
use crate::providers::json::{self, Bool, ObjectWriter, Str};
use crate::providers::{ProviderKind, Usage};
use crate::RequestError;

// --- The request ---

const HARMLESS: &[&str] = &["service_tier", "anthropic_version"];

/// The input schema of a tool that gives none.
const NO_SCHEMA: &str = r#"{"type":"object"}"#;

fn unsupported_block(at: &dyn std::fmt::Display, ty: &str, kind: ProviderKind) -> RequestError {
    bad(
        "unsupported_content",
        format!("{at}: content block '{ty}' cannot be sent to {} deployments (supported: text, image, tool_use, tool_result)", kind.display_name()),
    )
}

json::reader! {
    /// A content block, whatever its type: each type reads the fields it has.
    struct Block<'a> {
        "type" => ty: Str<'a>,
        "text" => text: Str<'a>,
        "id" => id: Str<'a>,
        "name" => name: Str<'a>,
        "input" => input: Option<&'a RawValue>,
        "tool_use_id" => tool_use_id: Str<'a>,
        "content" => content: Option<&'a RawValue>,
        "is_error" => is_error: Bool,
        "source" => source: Option<&'a RawValue>,
    }
}

fn block(raw: &RawValue) -> Block<'_> {
    json::fields_of(raw).unwrap_or_default()
}

/// Parses an Anthropic Messages request for a `kind` deployment (named in the errors), checking
/// every message; what it holds stays in `body` ([`ChatRequest`]).
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn parse(body: &[u8], kind: ProviderKind) -> Result<ChatRequest<'_>, RequestError> {
    json::reader! {
        struct Metadata<'a> {
            "user_id" => user_id: Str<'a>,
        }
    }
    let text = std::str::from_utf8(body).map_err(|_| invalid("request body is not UTF-8 JSON".into()))?;
    let mut req = ChatRequest::new(ClientApi::Anthropic, kind);
    json::each_field(text, &mut |key, value| {
        if json::is_null(value) {
            return Ok(());
        }
        match key.as_ref() {
            "model" => {}
            "messages" => req.messages = Some(value),
            "max_tokens" => req.max_tokens = Some(whole(&key, value)?),
            "system" => {
                req.system = Some(text_of(&"system", value, kind)?);
                req.system_count = 1;
            }
            "stop_sequences" => req.stop = Some(strings(&key, value)?),
            "temperature" => req.temperature = Some(number(&key, value)?),
            "top_p" => req.top_p = Some(number(&key, value)?),
            "stream" => req.stream = boolean(&key, value, "true or false")?,
            "tools" => req.tools = Some(value),
            "tool_choice" => tool_choice(&mut req, value)?,
            "metadata" => req.user = json::fields_of::<Metadata>(value).and_then(|m| m.user_id.0),
            k if HARMLESS.contains(&k) => {}
            // top_k and the rest: the provider takes what it can express and refuses the others.
            _ => req.extras.insert(key, value),
        }
        Ok(())
    })?;
    if req.max_tokens.is_none() {
        return Err(invalid("'max_tokens' is required".into()));
    }
    // Anthropic clients always get usage in message_start / message_delta.
    req.include_usage = true;
    check_messages(&mut req)?;
    Ok(req)
}

/// `system` or a tool result's content: a string or text blocks, joined.
fn text_of<'a>(at: &dyn std::fmt::Display, v: &'a RawValue, kind: ProviderKind) -> Result<Cow<'a, str>, RequestError> {
    if let Some(s) = json::str(v) {
        return Ok(s);
    }
    if !v.get().starts_with('[') {
        return Err(invalid(format!("'{at}' must be a string or an array of text blocks")));
    }
    let mut text: Option<Cow<'a, str>> = None;
    json::each(v, at, &mut |j, b| {
        let b = block(b);
        match b.ty.as_deref().unwrap_or("") {
            "text" => {
                let t = b.text.0.unwrap_or_default();
                match text.as_mut() {
                    None => text = Some(t),
                    Some(all) => all.to_mut().push_str(&t),
                }
                Ok(())
            }
            ty => Err(unsupported_block(&format_args!("{at}[{j}]"), ty, kind)),
        }
    })?;
    Ok(text.unwrap_or_default())
}

/// One `tools` element.
pub(super) fn tool(i: usize, raw: &RawValue, kind: ProviderKind) -> Result<ToolDef<'_>, RequestError> {
    json::reader! {
        struct Tool<'a> {
            "type" => ty: Str<'a>,
            "name" => name: Str<'a>,
            "description" => description: Str<'a>,
            "input_schema" => input_schema: Option<&'a RawValue>,
        }
    }
    let t: Tool = json::fields_of(raw).unwrap_or_default();
    let ty = t.ty.as_deref().unwrap_or("custom");
    if ty != "custom" {
        return Err(bad(
            "unsupported_parameter",
            format!(
                "tools[{i}] is Anthropic's server tool '{ty}', which {} deployments do not have",
                kind.display_name()
            ),
        ));
    }
    let name = t.name.0.ok_or_else(|| invalid(format!("tools[{i}] has no 'name'")))?;
    Ok(ToolDef { name, description: t.description.0, parameters: t.input_schema.map_or(NO_SCHEMA, RawValue::get) })
}

fn tool_choice(req: &mut ChatRequest<'_>, v: &RawValue) -> Result<(), RequestError> {
    json::reader! {
        struct Choice<'a> {
            "type" => ty: Str<'a>,
            "name" => name: Str<'a>,
            "disable_parallel_tool_use" => disable_parallel_tool_use: Bool,
        }
    }
    let c: Choice = json::fields_of(v).unwrap_or_default();
    req.tool_choice = Some(match c.ty.as_deref() {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => {
            let name = c.name.0.ok_or_else(|| invalid("'tool_choice.name' is missing".into()))?;
            ToolChoice::Function(Cow::Owned(name.into_owned()))
        }
        _ => return Err(invalid("'tool_choice.type' must be auto, any, tool or none".into())),
    });
    if c.disable_parallel_tool_use.0 == Some(true) {
        req.parallel_tool_calls = Some(false);
    }
    Ok(())
}

/// One element of `messages`, handed to `f`: a user message's tool results first, each as a
/// tool message, then the rest of it.
pub(super) fn message<'a>(
    kind: ProviderKind,
    i: usize,
    raw: &'a RawValue,
    f: &mut dyn FnMut(Item<'a>) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    json::reader! {
        struct Message<'a> {
            "role" => role: Str<'a>,
            "content" => content: Option<&'a RawValue>,
        }
    }
    let m: Message = json::object(raw, &format_args!("messages[{i}]"))?;
    let content = m.content.filter(|c| c.get().starts_with('"') || c.get().starts_with('['));
    let content =
        content.ok_or_else(|| invalid(format!("messages[{i}].content must be a string or an array of blocks")))?;
    let c = Content {
        api: ClientApi::Anthropic,
        kind,
        index: i,
        assistant: false,
        content: Some(content),
        tool_calls: None,
    };
    match m.role.as_deref().unwrap_or("") {
        "user" => {
            let mut rest = content.get().starts_with('"');
            if !rest {
                json::each(content, &format_args!("messages[{i}].content"), &mut |j, b| {
                    let b = block(b);
                    match b.ty.as_deref().unwrap_or("") {
                        "tool_result" => f(Item::Turn(tool_result(kind, i, j, b)?)),
                        "text" | "image" => {
                            rest = true;
                            Ok(())
                        }
                        ty => Err(unsupported_block(&format_args!("messages[{i}].content[{j}]"), ty, kind)),
                    }
                })?;
            }
            if rest {
                f(Item::Turn(Msg::User(c)))?;
            }
            Ok(())
        }
        "assistant" => f(Item::Turn(Msg::Assistant(Content { assistant: true, ..c }))),
        other => {
            Err(invalid(format!("messages[{i}] has the role '{other}'; Anthropic's roles are user and assistant")))
        }
    }
}

fn tool_result<'a>(kind: ProviderKind, i: usize, j: usize, b: Block<'a>) -> Result<Msg<'a>, RequestError> {
    let id = b.tool_use_id.0;
    let id = id.ok_or_else(|| invalid(format!("messages[{i}].content[{j}] has no 'tool_use_id'")))?;
    let content = match b.content {
        None => Cow::Borrowed(""),
        Some(c) => text_of(&format_args!("messages[{i}].content[{j}].content"), c, kind)?,
    };
    Ok(Msg::Tool { tool_call_id: id, content, is_error: b.is_error.0.unwrap_or(false) })
}

/// A message's text and image blocks (an assistant's empty texts left out).
pub(super) fn parts<'a>(
    c: &Content<'a>,
    f: &mut dyn FnMut(Part<'a>) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    let i = c.index;
    let Some(raw) = c.content else { return Ok(()) };
    if let Some(s) = json::str(raw) {
        return if c.assistant && s.is_empty() { Ok(()) } else { f(Part::Text(s)) };
    }
    json::each(raw, &format_args!("messages[{i}].content"), &mut |j, b| {
        let b = block(b);
        match (c.assistant, b.ty.as_deref().unwrap_or("")) {
            (false, "text") => f(Part::Text(b.text.0.unwrap_or_default())),
            (false, "image") => f(Part::Image(image_block(i, j, &b)?)),
            (false, "tool_result") => Ok(()),
            (true, "text") => match b.text.0 {
                Some(t) if !t.is_empty() => f(Part::Text(t)),
                _ => Ok(()),
            },
            (true, "tool_use" | "thinking" | "redacted_thinking") => Ok(()),
            (_, ty) => Err(unsupported_block(&format_args!("messages[{i}].content[{j}]"), ty, c.kind)),
        }
    })
}

/// An assistant message's `tool_use` blocks.
pub(super) fn tool_calls<'a>(
    c: &Content<'a>,
    f: &mut dyn FnMut(ToolCall<'a>) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    let i = c.index;
    let Some(raw) = c.content.filter(|r| r.get().starts_with('[')) else { return Ok(()) };
    json::each(raw, &format_args!("messages[{i}].content"), &mut |_, b| {
        let b = block(b);
        if b.ty.as_deref() != Some("tool_use") {
            return Ok(());
        }
        f(ToolCall {
            id: b.id.0.unwrap_or_default(),
            name: b.name.0.unwrap_or_default(),
            arguments: Cow::Borrowed(b.input.map_or("{}", RawValue::get)),
        })
    })
}

fn image_block<'a>(i: usize, j: usize, b: &Block<'a>) -> Result<Image<'a>, RequestError> {
    json::reader! {
        struct Source<'a> {
            "type" => ty: Str<'a>,
            "media_type" => media_type: Str<'a>,
            "data" => data: Str<'a>,
            "url" => url: Str<'a>,
        }
    }
    let at = || format!("messages[{i}].content[{j}]");
    let source = b.source.ok_or_else(|| invalid(format!("{} has no 'source'", at())))?;
    let s: Source<'a> = json::fields_of(source).unwrap_or_default();
    match s.ty.as_deref().unwrap_or("") {
        "base64" => match (s.media_type.0, s.data.0) {
            (Some(media_type), Some(data)) if !media_type.is_empty() && !data.is_empty() => {
                Ok(Image::Inline { media_type: media_type.to_ascii_lowercase(), data })
            }
            _ => Err(invalid(format!("{}: a base64 image source needs 'media_type' and 'data'", at()))),
        },
        "url" => Ok(Image::Url(s.url.0.unwrap_or_default())),
        other => Err(bad("unsupported_content", format!("{}: image source '{other}' is not supported", at()))),
    }
}

// --- The answer ---

/// Anthropic's error `type` for a status.
pub(crate) fn anthropic_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// Anthropic's error shape, for Anthropic-form clients.
impl ProviderError {
    /// `{"type":"error","error":{"type","message"}}`, with `out` open on the outer object.
    fn write_anthropic_members(&self, o: &mut ObjectWriter<'_>) {
        o.str("type", "error");
        let mut e = o.object("error");
        e.str("type", anthropic_type(self.status));
        e.str("message", &self.message);
        e.close();
    }

    pub fn anthropic_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.len() + 96);
        let mut o = ObjectWriter::open(&mut out);
        self.write_anthropic_members(&mut o);
        o.close();
        out
    }
}

/// The gateway's own error in Anthropic's shape, for Anthropic-form clients
/// (`{"type":"error","error":{"type","message"}}`).
pub fn anthropic_error_body(e: &RequestError) -> Vec<u8> {
    let status = u16::try_from(e.status).unwrap_or(500);
    ProviderError::new(status, Some(e.code.to_owned()), e.message.clone()).anthropic_body()
}

/// Anthropic's `stop_reason` for why the answer ended.
pub(crate) fn stop_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

/// Anthropic's `usage` object.
fn write_usage(out: &mut Vec<u8>, u: Usage) {
    let mut o = ObjectWriter::open(out);
    o.u64("input_tokens", u.input_tokens);
    o.u64("output_tokens", u.output_tokens);
    o.close();
}

/// A whole answer as Anthropic's `message` object, written straight from the reply (tool
/// inputs go as the provider's JSON text, never built as a tree); `None` when it would be
/// longer than `cap` bytes; `size_hint` is the provider's body size.
pub(crate) fn message_json(ident: &Ident, r: &Reply<'_>, cap: usize, size_hint: usize) -> Option<Vec<u8>> {
    let text = r.text.as_deref().filter(|t| !t.is_empty());
    let mut out = Vec::with_capacity(size_hint + 256);
    let mut m = ObjectWriter::open(&mut out);
    m.str("id", r.id.as_deref().unwrap_or(&ident.id));
    m.str("type", "message");
    m.str("role", "assistant");
    m.str("model", &ident.model);
    let content = m.key("content");
    content.push(b'[');
    if let Some(t) = text {
        let mut b = ObjectWriter::open(content);
        b.str("type", "text");
        b.str("text", t);
        b.close();
    }
    let (mut n, mut over) = (0, false);
    r.tool_calls.each(&mut |c| {
        if n > 0 || text.is_some() {
            content.push(b',');
        }
        n += 1;
        let mut b = ObjectWriter::open(content);
        b.str("type", "tool_use");
        b.str("id", &c.id);
        b.str("name", &c.name);
        c.arguments.write_object(b.key("input"));
        b.close();
        over = content.len() > cap;
        !over
    });
    if over {
        return None;
    }
    content.push(b']');
    m.str("stop_reason", stop_reason(r.finish));
    m.raw("stop_sequence", "null");
    write_usage(m.key("usage"), r.usage.unwrap_or_default());
    m.close();
    (out.len() <= cap).then_some(out)
}

/// One Messages stream event: `event: {name}` and its data, `{"type": name, ...}` with the rest
/// written by `members`.
fn event(out: &mut Vec<u8>, name: &str, members: &mut dyn FnMut(&mut ObjectWriter<'_>)) {
    sse::start_event(out, name);
    let mut o = ObjectWriter::open(out);
    o.str("type", name);
    members(&mut o);
    o.close();
    sse::end_event(out);
}

#[derive(Clone, Copy, PartialEq)]
enum Open {
    Text(u64),
    /// A tool_use block: its index and the provider's block it stands for (a fragment for a
    /// block already closed cannot be sent, as Anthropic's blocks do not interleave).
    Tool(u64, u64),
}

/// Turns [`Ev`]s into Anthropic's Messages SSE events.
pub(crate) struct MessageWriter {
    ident: Ident,
    started: bool,
    open: Option<Open>,
    next_index: u64,
    finish: Option<Finish>,
    usage: Option<Usage>,
    done: bool,
    failed: bool,
}

impl MessageWriter {
    pub fn new(ident: Ident) -> Self {
        MessageWriter {
            ident,
            started: false,
            open: None,
            next_index: 0,
            finish: None,
            usage: None,
            done: false,
            failed: false,
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let input = self.usage.map_or(0, |u| u.input_tokens);
        event(out, "message_start", &mut |e| {
            let mut m = e.object("message");
            m.str("id", &self.ident.id);
            m.str("type", "message");
            m.str("role", "assistant");
            m.str("model", &self.ident.model);
            m.raw("content", "[]");
            m.null("stop_reason");
            m.null("stop_sequence");
            write_usage(m.key("usage"), Usage { input_tokens: input, output_tokens: 0 });
            m.close();
        });
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            let (Open::Text(index) | Open::Tool(index, _)) = open;
            event(out, "content_block_stop", &mut |e| e.u64("index", index));
        }
    }

    /// Closes the open block and starts the next, `content_block` written by `block`: a text
    /// block, or the tool_use block for the provider's block `tool` when there is one.
    fn open_block(
        &mut self,
        out: &mut Vec<u8>,
        tool: Option<u64>,
        block: &mut dyn FnMut(&mut ObjectWriter<'_>),
    ) -> u64 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(tool.map_or(Open::Text(index), |b| Open::Tool(index, b)));
        event(out, "content_block_start", &mut |e| {
            e.u64("index", index);
            let mut b = e.object("content_block");
            block(&mut b);
            b.close();
        });
        index
    }

    /// `content_block_delta` whose delta is `{"type": kind, field: value}`.
    fn delta(out: &mut Vec<u8>, index: u64, kind: &str, field: &str, value: &str) {
        event(out, "content_block_delta", &mut |e| {
            e.u64("index", index);
            let mut d = e.object("delta");
            d.str("type", kind);
            d.str(field, value);
            d.close();
        });
    }

    pub fn event(&mut self, out: &mut Vec<u8>, ev: Ev) {
        if self.failed || self.done {
            return;
        }
        match ev {
            Ev::Start { id } => {
                if let Some(id) = id.filter(|_| !self.started) {
                    self.ident.id = id;
                }
                self.start(out);
            }
            // An empty text block would come back from the client as one Anthropic refuses.
            Ev::Text(t) if t.is_empty() => self.start(out),
            Ev::Text(t) => {
                self.start(out);
                let index = match self.open {
                    Some(Open::Text(i)) => i,
                    _ => self.open_block(out, None, &mut |b| {
                        b.str("type", "text");
                        b.str("text", "");
                    }),
                };
                Self::delta(out, index, "text_delta", "text", &t);
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.start(out);
                let index = self.open_block(out, Some(block), &mut |b| {
                    b.str("type", "tool_use");
                    b.str("id", &id);
                    b.str("name", &name);
                    b.raw("input", "{}");
                });
                if !arguments.is_empty() {
                    Self::delta(out, index, "input_json_delta", "partial_json", &arguments);
                }
            }
            Ev::ToolArgs { block, fragment } => {
                if let Some(Open::Tool(index, b)) = self.open {
                    if b == block && !fragment.is_empty() {
                        Self::delta(out, index, "input_json_delta", "partial_json", &fragment);
                    }
                }
            }
            Ev::Finish(f) => {
                self.start(out);
                self.close(out);
                self.finish.get_or_insert(f);
            }
            Ev::Usage(u) => self.usage = Some(u),
            Ev::End => self.stop(out),
            Ev::Error(e) => self.error(out, &e),
        }
    }

    fn error(&mut self, out: &mut Vec<u8>, e: &ProviderError) {
        self.failed = true;
        sse::start_event(out, "error");
        let mut o = ObjectWriter::open(out);
        e.write_anthropic_members(&mut o);
        o.close();
        sse::end_event(out);
    }

    /// `message_delta` (stop reason, usage) and `message_stop`, once the answer is complete.
    fn stop(&mut self, out: &mut Vec<u8>) {
        let Some(f) = self.finish else { return };
        self.close(out);
        self.done = true;
        let u = self.usage.unwrap_or_default();
        event(out, "message_delta", &mut |e| {
            let mut d = e.object("delta");
            d.str("stop_reason", stop_reason(f));
            d.null("stop_sequence");
            d.close();
            write_usage(e.key("usage"), u);
        });
        event(out, "message_stop", &mut |_| {});
    }

    /// The provider's body ended: the message is closed, or an error says it was cut short.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.failed || self.done {
            return;
        }
        if self.finish.is_some() {
            self.stop(out);
        } else {
            self.error(out, &ProviderError::truncated());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: ProviderKind = ProviderKind::Bedrock;

    #[test]
    fn tool_results_leave_the_user_turn_first() {
        let r = parse(
            br#"{"model":"m","max_tokens":10,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],
            "messages":[{"role":"user","content":"q"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"..","signature":"x"},{"type":"text","text":"t"},{"type":"tool_use","id":"tu","name":"f","input":{"a":1}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"tu","content":[{"type":"text","text":"r"}],"is_error":true},{"type":"text","text":"more"}]}],
            "tool_choice":{"type":"any","disable_parallel_tool_use":true},"metadata":{"user_id":"u"},"stop_sequences":["x"]}"#,
            K,
        )
        .unwrap();
        assert_eq!(r.system.as_deref(), Some("s"));
        assert_eq!(
            super::super::summary(&r),
            ["user: text(q)", r#"assistant: text(t) call(tu,f,{"a":1})"#, "tool(tu,error): r", "user: text(more)"]
        );
        assert_eq!(
            (r.tool_choice, r.parallel_tool_calls, r.user.as_deref()),
            (Some(ToolChoice::Required), Some(false), Some("u"))
        );
        assert!(r.include_usage);
    }

    #[test]
    fn what_cannot_be_expressed_is_named() {
        let e = parse(
            br#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#,
            K,
        )
        .unwrap_err();
        assert!(e.message.contains("'document'") && e.message.contains("Bedrock"), "{}", e.message);
        let e = parse(br#"{"model":"m","max_tokens":1,"tools":[{"type":"web_search_20250305","name":"w"}],"messages":[{"role":"user","content":"q"}]}"#, K)
            .unwrap_err();
        assert!(e.message.contains("web_search_20250305"), "{}", e.message);
        let e = parse(br#"{"model":"m","messages":[{"role":"user","content":"q"}]}"#, K).unwrap_err();
        assert!(e.message.contains("max_tokens"));
        let r = parse(br#"{"model":"m","max_tokens":1,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"q"}]}"#, K)
            .unwrap();
        assert!(r.reject_extras(K).unwrap_err().message.contains("thinking"));
    }
}
