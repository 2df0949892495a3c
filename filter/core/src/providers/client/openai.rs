//! OpenAI-form clients (`/v1/chat/completions`): their request parsed into the neutral
//! [`ChatRequest`], and answers written back in OpenAI's shapes (`chat.completion`,
//! `chat.completion.chunk` SSE events, `data: [DONE]`, and errors).
//!
//! The request: every top-level key is accounted for; nothing is dropped silently unless it is
//! on the harmless list below:
//! - translated: `model`, `messages`, `stream`, `stream_options.include_usage`, `max_tokens`,
//!   `max_completion_tokens`, `temperature`, `top_p`, `stop`, `tools`, `tool_choice`,
//!   `parallel_tool_calls`, `user`, `seed` (each provider uses what it can express);
//! - dropped as harmless (no effect on the answer, or a best-effort hint): `user`, `seed`,
//!   `parallel_tool_calls` where the provider has no such switch, `metadata`, `store`,
//!   `service_tier`, `safety_identifier`, `prompt_cache_key`, `stream_options`, and the keys of
//!   [`NEUTRAL`] when they hold their default value (`n: 1`, `logprobs: false`, ...);
//! - anything else (`n: 2`, `logprobs: true`, `response_format: json_schema`, `functions`,
//!   `audio`, `reasoning_effort`, ...) lands in [`ChatRequest::extras`]: a provider takes the
//!   ones it can express and answers 400 naming the first one left.
//!
//! A key whose value is `null` counts as absent.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::{boolean, check_messages, image, joined_text, number, strings, whole, ClientApi, Item};
use crate::providers::chat::{
    bad, invalid, ChatRequest, Content, Ev, Finish, Ident, Msg, Part, Reply, ToolCall, ToolChoice, ToolDef,
};
use crate::providers::codec::sse;
use crate::providers::error::ProviderError;
use crate::providers::json::{self, Bool, Obj, ObjectWriter, Str};
use crate::providers::{ProviderKind, Usage};
use crate::RequestError;

// --- The request ---

const HARMLESS: &[&str] =
    &["metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key", "stream_options"];

/// Keys dropped only when they hold the value that means "as by default".
const NEUTRAL: &[&str] = &[
    "n",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "response_format",
    "modalities",
];

/// The parameters of a tool that gives none.
const NO_PARAMETERS: &str = r#"{"type":"object","properties":{}}"#;

json::reader! {
    struct TypeOnly<'a> {
        "type" => ty: Str<'a>,
    }
}

fn is_neutral(key: &str, v: &RawValue) -> bool {
    match key {
        "n" => json::read::<u64>(v) == Some(1),
        "logprobs" => json::read::<bool>(v) == Some(false),
        "top_logprobs" | "frequency_penalty" | "presence_penalty" => json::read::<f64>(v) == Some(0.0),
        "logit_bias" => {
            v.get().strip_prefix('{').and_then(|r| r.strip_suffix('}')).is_some_and(|r| r.trim().is_empty())
        }
        "response_format" => json::fields_of::<TypeOnly>(v).is_some_and(|t| t.ty.as_deref() == Some("text")),
        "modalities" => {
            v.get().starts_with('[')
                && json::each(v, &key, &mut |_, m| match json::str(m).as_deref() {
                    Some("text") => Ok(()),
                    _ => Err(invalid(String::new())),
                })
                .is_ok()
        }
        _ => false,
    }
}

json::reader! {
    struct StreamOptions {
        "include_usage" => include_usage: Bool,
    }
}

/// Parses an OpenAI chat request for a `kind` deployment (named in the errors), checking every
/// message; what it holds stays in `body` ([`ChatRequest`]).
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn parse(body: &[u8], kind: ProviderKind) -> Result<ChatRequest<'_>, RequestError> {
    let text = std::str::from_utf8(body).map_err(|_| invalid("request body is not UTF-8 JSON".into()))?;
    let mut req = ChatRequest::new(ClientApi::OpenAi, kind);
    json::each_field(text, &mut |key, value| {
        if json::is_null(value) {
            return Ok(());
        }
        match key.as_ref() {
            "model" => {}
            "messages" => req.messages = Some(value),
            "stream" => req.stream = boolean(&key, value, "true or false")?,
            "stream_options" => {
                let options = json::fields_of::<StreamOptions>(value);
                req.include_usage = options.and_then(|o| o.include_usage.0).unwrap_or(false);
            }
            "max_tokens" | "max_completion_tokens" => {
                let n = whole(&key, value)?;
                // Both given: the newer name wins, as OpenAI documents max_tokens as deprecated.
                if key == "max_completion_tokens" || req.max_tokens.is_none() {
                    req.max_tokens = Some(n);
                }
            }
            "temperature" => req.temperature = Some(number(&key, value)?),
            "top_p" => req.top_p = Some(number(&key, value)?),
            "stop" => req.stop = Some(strings(&key, value)?),
            "tools" => req.tools = Some(value),
            "tool_choice" => req.tool_choice = Some(tool_choice(value)?),
            "parallel_tool_calls" => req.parallel_tool_calls = Some(boolean(&key, value, "a boolean")?),
            "user" => req.user = json::str(value),
            "seed" => req.seed = json::read::<i64>(value),
            k if HARMLESS.contains(&k) => {}
            k if NEUTRAL.contains(&k) && is_neutral(k, value) => {}
            _ => req.extras.insert(key, value),
        }
        Ok(())
    })?;
    if req.messages.is_none() {
        return Err(invalid("request body has no 'messages'".into()));
    }
    check_messages(&mut req)?;
    Ok(req)
}

/// One `tools` element.
pub(super) fn tool(i: usize, raw: &RawValue) -> Result<ToolDef<'_>, RequestError> {
    json::reader! {
        struct Tool<'a> {
            "type" => ty: Str<'a>,
            "function" => function: Option<&'a RawValue>,
        }
    }
    json::reader! {
        struct Function<'a> {
            "name" => name: Str<'a>,
            "description" => description: Str<'a>,
            "parameters" => parameters: Option<&'a RawValue>,
        }
    }
    let t: Tool = json::fields_of(raw).unwrap_or_default();
    let ty = t.ty.as_deref().unwrap_or("function");
    if ty != "function" {
        return Err(bad(
            "unsupported_parameter",
            format!("tools[{i}] has type '{ty}'; only 'function' tools are supported"),
        ));
    }
    let f = t.function.ok_or_else(|| invalid(format!("tools[{i}] has no 'function'")))?;
    let f: Function = json::fields_of(f).unwrap_or_default();
    let name = f.name.0.filter(|n| !n.is_empty());
    let name = name.ok_or_else(|| invalid(format!("tools[{i}].function has no 'name'")))?;
    Ok(ToolDef { name, description: f.description.0, parameters: f.parameters.map_or(NO_PARAMETERS, RawValue::get) })
}

fn tool_choice(v: &RawValue) -> Result<ToolChoice<'_>, RequestError> {
    json::reader! {
        struct Choice<'a> {
            "type" => ty: Str<'a>,
            "function" => function: Obj<Named<'a>>,
        }
    }
    json::reader! {
        struct Named<'a> {
            "name" => name: Str<'a>,
        }
    }
    if let Some(s) = json::str(v) {
        return match s.as_ref() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(invalid(format!("'tool_choice' \"{other}\" is not one of auto, none, required"))),
        };
    }
    match json::fields_of::<Choice>(v) {
        Some(c) if c.ty.as_deref() == Some("function") => {
            let name = c.function.0.and_then(|f| f.name.0);
            let name = name.ok_or_else(|| invalid("'tool_choice.function.name' is missing".into()))?;
            Ok(ToolChoice::Function(name))
        }
        _ => Err(bad("unsupported_parameter", format!("'tool_choice' {} is not supported", json::short(v)))),
    }
}

/// One element of `messages`, handed to `f` (a system message as its text).
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
            "tool_calls" => tool_calls: Option<&'a RawValue>,
            "tool_call_id" => tool_call_id: Str<'a>,
            "function_call" => function_call: Option<&'a RawValue>,
            "audio" => audio: Option<&'a RawValue>,
        }
    }
    let m: Message = json::object(raw, &format_args!("messages[{i}]"))?;
    let role = m.role.0.ok_or_else(|| invalid(format!("messages[{i}] has no 'role'")))?;
    for (key, v) in [("function_call", m.function_call), ("audio", m.audio)] {
        if v.is_some() {
            return Err(bad(
                "unsupported_content",
                format!("messages[{i}].{key} cannot be sent to {} deployments", kind.display_name()),
            ));
        }
    }
    let content =
        Content { api: ClientApi::OpenAi, kind, index: i, assistant: false, content: m.content, tool_calls: None };
    match role.as_ref() {
        "system" | "developer" => {
            let text = joined_text(&content, &|| {
                bad(
                    "unsupported_content",
                    format!("messages[{i}] ({role}) holds an image; system messages take text only"),
                )
            })?;
            f(Item::System(text))
        }
        "user" => f(Item::Turn(Msg::User(content))),
        "assistant" => f(Item::Turn(Msg::Assistant(Content { assistant: true, tool_calls: m.tool_calls, ..content }))),
        "tool" => {
            let id = m.tool_call_id.0;
            let id = id.ok_or_else(|| invalid(format!("messages[{i}] (tool) has no 'tool_call_id'")))?;
            let text =
                joined_text(&content, &|| bad("unsupported_content", format!("messages[{i}] (tool) holds an image")))?;
            f(Item::Turn(Msg::Tool { tool_call_id: id, content: text, is_error: false }))
        }
        "function" => Err(bad(
            "unsupported_content",
            format!("messages[{i}] has the legacy role 'function'; use 'tool' messages"),
        )),
        other => Err(invalid(format!("messages[{i}] has an unknown role '{other}'"))),
    }
}

/// A message's content as parts (`null` is none): text, refusals as text, images.
pub(super) fn parts<'a>(
    c: &Content<'a>,
    f: &mut dyn FnMut(Part<'a>) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    let i = c.index;
    let Some(raw) = c.content else { return Ok(()) };
    let mut emit = |part: Part<'a>| match part {
        Part::Text(t) if c.assistant && t.is_empty() => Ok(()),
        Part::Image(_) if c.assistant => {
            Err(bad("unsupported_content", format!("messages[{i}] (assistant) holds an image")))
        }
        p => f(p),
    };
    if let Some(s) = json::str(raw) {
        return emit(Part::Text(s));
    }
    if !raw.get().starts_with('[') {
        return Err(invalid(format!("messages[{i}].content must be a string or an array of parts")));
    }
    json::each(raw, &format_args!("messages[{i}].content"), &mut |j, p| emit(part(c.kind, i, j, p)?))
}

fn part(kind: ProviderKind, i: usize, j: usize, raw: &RawValue) -> Result<Part<'_>, RequestError> {
    json::reader! {
        struct RawPart<'a> {
            "type" => ty: Str<'a>,
            "text" => text: Str<'a>,
            "refusal" => refusal: Str<'a>,
            "image_url" => image_url: Option<&'a RawValue>,
        }
    }
    json::reader! {
        struct Url<'a> {
            "url" => url: Str<'a>,
        }
    }
    let p: RawPart = json::fields_of(raw).unwrap_or_default();
    Ok(match p.ty.as_deref().unwrap_or("") {
        "text" => Part::Text(p.text.0.ok_or_else(|| invalid(format!("messages[{i}].content[{j}] has no 'text'")))?),
        // A refusal from an earlier assistant turn is what the model said.
        "refusal" => Part::Text(p.refusal.0.unwrap_or_default()),
        "image_url" => {
            let url = p.image_url.and_then(|u| match json::fields_of::<Url>(u) {
                Some(u) => u.url.0,
                None => json::str(u),
            });
            let url = url.ok_or_else(|| invalid(format!("messages[{i}].content[{j}].image_url has no 'url'")))?;
            Part::Image(image(i, j, url)?)
        }
        other => {
            let name = if other.is_empty() { "without a type" } else { other };
            return Err(bad(
                "unsupported_content",
                format!(
                    "messages[{i}].content[{j}]: content part '{name}' cannot be sent to {} deployments (supported: text, image_url)",
                    kind.display_name()
                ),
            ));
        }
    })
}

/// An assistant message's `tool_calls`.
pub(super) fn tool_calls<'a>(
    c: &Content<'a>,
    f: &mut dyn FnMut(ToolCall<'a>) -> Result<(), RequestError>,
) -> Result<(), RequestError> {
    let i = c.index;
    let Some(raw) = c.tool_calls else { return Ok(()) };
    if !raw.get().starts_with('[') {
        return Err(invalid(format!("messages[{i}].tool_calls must be an array")));
    }
    json::each(raw, &format_args!("messages[{i}].tool_calls"), &mut |j, call| f(tool_call(i, j, call)?))
}

fn tool_call(i: usize, j: usize, raw: &RawValue) -> Result<ToolCall<'_>, RequestError> {
    json::reader! {
        struct Call<'a> {
            "id" => id: Str<'a>,
            "type" => ty: Str<'a>,
            "function" => function: Option<&'a RawValue>,
        }
    }
    json::reader! {
        struct Function<'a> {
            "name" => name: Str<'a>,
            "arguments" => arguments: Str<'a>,
        }
    }
    let at = || format!("messages[{i}].tool_calls[{j}]");
    let c: Call = json::fields_of(raw).unwrap_or_default();
    let ty = c.ty.as_deref().unwrap_or("function");
    if ty != "function" {
        return Err(bad("unsupported_content", format!("{} has type '{ty}'; only function calls are supported", at())));
    }
    let id = c.id.0.ok_or_else(|| invalid(format!("{} has no 'id'", at())))?;
    let function = c.function.ok_or_else(|| invalid(format!("{} has no 'function'", at())))?;
    let function: Function = json::fields_of(function).unwrap_or_default();
    let name = function.name.0.ok_or_else(|| invalid(format!("{}.function has no 'name'", at())))?;
    let raw = function.arguments.0.unwrap_or_default();
    let arguments = if raw.trim().is_empty() {
        Cow::Borrowed("{}")
    } else {
        // Checked whole, without building it: it goes on as text.
        serde_json::from_str::<IgnoredAny>(&raw)
            .map_err(|e| invalid(format!("{}.function.arguments is not valid JSON: {e}", at())))?;
        raw
    };
    Ok(ToolCall { id, name, arguments })
}

// --- The answer ---

/// OpenAI's error `type` for a status.
pub(crate) fn openai_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 => "timeout_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        503 | 529 => "service_unavailable_error",
        _ => "api_error",
    }
}

/// OpenAI's error shape.
impl ProviderError {
    pub fn write_openai(&self, out: &mut Vec<u8>) {
        crate::error::write_openai_error(out, &self.message, &self.kind, None, self.code.as_deref());
    }

    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.len() + 128);
        self.write_openai(&mut out);
        out
    }
}

/// OpenAI's `usage` object.
fn write_usage(out: &mut Vec<u8>, u: Usage) {
    let mut o = ObjectWriter::open(out);
    o.u64("prompt_tokens", u.input_tokens);
    o.u64("completion_tokens", u.output_tokens);
    o.u64("total_tokens", u.input_tokens.saturating_add(u.output_tokens));
    o.close();
}

/// `chat.completion`, written straight from the reply: it is on every translated answer's
/// path, and building a `serde_json::Value` first cost more than the rest of the translation.
/// `None` when it would be longer than `cap` bytes (tool calls are read one at a time);
/// `size_hint` is the provider's body size.
pub(crate) fn completion_json(ident: &Ident, r: &Reply<'_>, cap: usize, size_hint: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(size_hint + 256);
    let mut c = ObjectWriter::open(&mut out);
    c.str("id", r.id.as_deref().unwrap_or(&ident.id));
    c.str("object", "chat.completion");
    c.u64("created", ident.created);
    c.str("model", &ident.model);
    let choices = c.key("choices");
    choices.extend_from_slice(br#"[{"index":0,"message":"#);
    let mut m = ObjectWriter::open(choices);
    m.str("role", "assistant");
    match &r.text {
        Some(t) => m.str("content", t),
        None => m.raw("content", "null"),
    }
    let (mut calls, mut over) = (0, false);
    r.tool_calls.each(&mut |call| {
        let list = if calls == 0 { m.key("tool_calls") } else { m.continued() };
        list.push(if calls == 0 { b'[' } else { b',' });
        calls += 1;
        let mut o = ObjectWriter::open(list);
        o.str("id", &call.id);
        o.str("type", "function");
        let mut f = ObjectWriter::open(o.key("function"));
        f.str("name", &call.name);
        call.arguments.write_string(f.key("arguments"));
        f.close();
        o.close();
        over = list.len() > cap;
        !over
    });
    if over {
        return None;
    }
    if calls > 0 {
        m.continued().push(b']');
    }
    m.close();
    choices.extend_from_slice(br#","finish_reason":"#);
    json::string(choices, r.finish.as_str());
    choices.extend_from_slice(br#","logprobs":null}]"#);
    if let Some(u) = r.usage {
        write_usage(c.key("usage"), u);
    }
    c.close();
    (out.len() <= cap).then_some(out)
}

/// Turns [`Ev`]s into `chat.completion.chunk` SSE events.
pub(crate) struct ChunkWriter {
    ident: Ident,
    include_usage: bool,
    started: bool,
    finished: bool,
    usage: Option<Usage>,
    usage_sent: bool,
    failed: bool,
    /// Provider block → OpenAI tool call index.
    tools: BTreeMap<u64, u64>,
}

impl ChunkWriter {
    pub fn new(ident: Ident, include_usage: bool) -> Self {
        ChunkWriter {
            ident,
            include_usage,
            started: false,
            finished: false,
            usage: None,
            usage_sent: false,
            failed: false,
            tools: BTreeMap::new(),
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Starts a `data: {chat.completion.chunk}` event up to its `choices`; the caller writes
    /// the rest, closes the object and ends the event ([`sse::end_event`]).
    fn open_chunk<'o>(&self, out: &'o mut Vec<u8>) -> ObjectWriter<'o> {
        sse::start_data(out);
        let mut c = ObjectWriter::open(out);
        c.str("id", &self.ident.id);
        c.str("object", "chat.completion.chunk");
        c.u64("created", self.ident.created);
        c.str("model", &self.ident.model);
        c
    }

    /// One chunk event: its only choice's `delta` written by `delta`, and its finish reason.
    fn chunk(&self, out: &mut Vec<u8>, finish: Option<Finish>, delta: &mut dyn FnMut(&mut ObjectWriter<'_>)) {
        let mut c = self.open_chunk(out);
        let choices = c.key("choices");
        choices.extend_from_slice(br#"[{"index":0,"delta":"#);
        let mut d = ObjectWriter::open(choices);
        delta(&mut d);
        d.close();
        choices.extend_from_slice(br#","finish_reason":"#);
        match finish {
            Some(f) => json::string(choices, f.as_str()),
            None => choices.extend_from_slice(b"null"),
        }
        choices.extend_from_slice(br#","logprobs":null}]"#);
        c.close();
        sse::end_event(out);
    }

    /// A chunk whose delta is one tool call (`{"tool_calls":[{"index":..,...}]}`): its start
    /// (`id` and `name`) or a fragment of its arguments.
    fn tool_call_chunk(&self, out: &mut Vec<u8>, index: u64, start: Option<(&str, &str)>, arguments: &str) {
        self.chunk(out, None, &mut |d| {
            let list = d.key("tool_calls");
            list.push(b'[');
            let mut call = ObjectWriter::open(list);
            call.u64("index", index);
            if let Some((id, _)) = start {
                call.str("id", id);
                call.str("type", "function");
            }
            let mut f = call.object("function");
            if let Some((_, name)) = start {
                f.str("name", name);
            }
            f.str("arguments", arguments);
            f.close();
            call.close();
            d.continued().push(b']');
        });
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.chunk(out, None, &mut |d| {
                d.str("role", "assistant");
                d.str("content", "");
            });
        }
    }

    pub fn event(&mut self, out: &mut Vec<u8>, ev: Ev) {
        if self.failed {
            return;
        }
        match ev {
            Ev::Start { id } => {
                if let Some(id) = id.filter(|_| !self.started) {
                    self.ident.id = id;
                }
                self.start(out);
            }
            Ev::Text(t) => {
                self.start(out);
                if !t.is_empty() {
                    self.chunk(out, None, &mut |d| d.str("content", &t));
                }
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.start(out);
                let index = self.tools.len() as u64;
                self.tools.insert(block, index);
                self.tool_call_chunk(out, index, Some((&id, &name)), &arguments);
            }
            Ev::ToolArgs { block, fragment } => {
                if let Some(&index) = self.tools.get(&block) {
                    if !fragment.is_empty() {
                        self.tool_call_chunk(out, index, None, &fragment);
                    }
                }
            }
            Ev::Finish(f) => {
                if !self.finished {
                    self.start(out);
                    self.finished = true;
                    self.chunk(out, Some(f), &mut |_| {});
                }
            }
            Ev::Usage(u) => self.usage = Some(u),
            Ev::End => self.send_usage(out),
            Ev::Error(e) => {
                self.failed = true;
                sse::start_data(out);
                e.write_openai(out);
                sse::end_event(out);
            }
        }
    }

    fn send_usage(&mut self, out: &mut Vec<u8>) {
        if let (true, false, Some(u)) = (self.include_usage, self.usage_sent, self.usage) {
            self.usage_sent = true;
            let mut c = self.open_chunk(out);
            c.raw("choices", "[]");
            write_usage(c.key("usage"), u);
            c.close();
            sse::end_event(out);
        }
    }

    /// The provider's body ended: the usage chunk if still owed, then `[DONE]`; a stream that
    /// stopped before the provider finished gets an error event instead, so the client knows.
    pub fn end(&mut self, out: &mut Vec<u8>) {
        if self.failed {
            return;
        }
        if !self.finished {
            let e = ProviderError::truncated();
            self.event(out, Ev::Error(e));
            return;
        }
        self.send_usage(out);
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}
