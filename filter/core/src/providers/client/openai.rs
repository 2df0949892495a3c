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

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{fields, image, number, strings};
use crate::providers::chat::{
    bad, invalid, short, ChatRequest, Ev, Finish, Ident, Msg, Part, Reply, ToolCall, ToolChoice, ToolDef,
};
use crate::providers::codec::sse;
use crate::providers::error::ProviderError;
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

fn is_neutral(key: &str, v: &Value) -> bool {
    match key {
        "n" => v.as_u64() == Some(1),
        "logprobs" => v.as_bool() == Some(false),
        "top_logprobs" | "frequency_penalty" | "presence_penalty" => v.as_f64() == Some(0.0),
        "logit_bias" => v.as_object().is_some_and(|m| m.is_empty()),
        "response_format" => v.get("type").and_then(Value::as_str) == Some("text"),
        "modalities" => v.as_array().is_some_and(|a| a.iter().all(|m| m.as_str() == Some("text"))),
        _ => false,
    }
}

/// Parses an OpenAI chat request for a `kind` deployment (named in the errors).
#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn parse(body: &[u8], kind: ProviderKind) -> Result<ChatRequest, RequestError> {
    let mut req = ChatRequest::default();
    let mut messages = None;
    for (key, value) in fields(body)? {
        match key.as_str() {
            "model" => {}
            "messages" => messages = Some(value),
            "stream" => req.stream = value.as_bool().ok_or_else(|| invalid("'stream' must be true or false".into()))?,
            "stream_options" => {
                req.include_usage = value.get("include_usage").and_then(Value::as_bool).unwrap_or(false)
            }
            "max_tokens" | "max_completion_tokens" => {
                let n = value.as_u64().ok_or_else(|| invalid(format!("'{key}' must be a positive integer")))?;
                // Both given: the newer name wins, as OpenAI documents max_tokens as deprecated.
                if key == "max_completion_tokens" || req.max_tokens.is_none() {
                    req.max_tokens = Some(n);
                }
            }
            "temperature" => req.temperature = Some(number(&key, &value)?),
            "top_p" => req.top_p = Some(number(&key, &value)?),
            "stop" => req.stop = strings(&key, &value)?,
            "tools" => req.tools = tools(&value)?,
            "tool_choice" => req.tool_choice = Some(tool_choice(&value)?),
            "parallel_tool_calls" => {
                req.parallel_tool_calls =
                    Some(value.as_bool().ok_or_else(|| invalid("'parallel_tool_calls' must be a boolean".into()))?)
            }
            "user" => req.user = value.as_str().map(str::to_owned),
            "seed" => req.seed = value.as_i64(),
            k if HARMLESS.contains(&k) => {}
            k if NEUTRAL.contains(&k) && is_neutral(k, &value) => {}
            _ => {
                req.extras.insert(key, value);
            }
        }
    }
    let messages = messages.ok_or_else(|| invalid("request body has no 'messages'".into()))?;
    let list = messages.as_array().filter(|a| !a.is_empty());
    let list = list.ok_or_else(|| invalid("'messages' must be a non-empty array".into()))?;
    for (i, m) in list.iter().enumerate() {
        parse_message(&mut req, i, m, kind)?;
    }
    Ok(req)
}

fn tools(v: &Value) -> Result<Vec<ToolDef>, RequestError> {
    let list = v.as_array().ok_or_else(|| invalid("'tools' must be an array".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let ty = t.get("type").and_then(Value::as_str).unwrap_or("function");
        if ty != "function" {
            return Err(bad(
                "unsupported_parameter",
                format!("tools[{i}] has type '{ty}'; only 'function' tools are supported"),
            ));
        }
        let f = t.get("function").ok_or_else(|| invalid(format!("tools[{i}] has no 'function'")))?;
        let name = f.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| invalid(format!("tools[{i}].function has no 'name'")))?;
        let parameters = match f.get("parameters") {
            None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
            Some(p) => p.clone(),
        };
        let description = f.get("description").and_then(Value::as_str).map(str::to_owned);
        out.push(ToolDef { name: name.to_owned(), description, parameters });
    }
    Ok(out)
}

fn tool_choice(v: &Value) -> Result<ToolChoice, RequestError> {
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(invalid(format!("'tool_choice' \"{other}\" is not one of auto, none, required"))),
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
            let name = name.ok_or_else(|| invalid("'tool_choice.function.name' is missing".into()))?;
            Ok(ToolChoice::Function(name.to_owned()))
        }
        other => Err(bad("unsupported_parameter", format!("'tool_choice' {} is not supported", short(other)))),
    }
}

fn parse_message(req: &mut ChatRequest, i: usize, m: &Value, kind: ProviderKind) -> Result<(), RequestError> {
    let role = m.get("role").and_then(Value::as_str).ok_or_else(|| invalid(format!("messages[{i}] has no 'role'")))?;
    let content = m.get("content").filter(|c| !c.is_null());
    for key in ["function_call", "audio"] {
        if m.get(key).is_some_and(|v| !v.is_null()) {
            return Err(bad(
                "unsupported_content",
                format!("messages[{i}].{key} cannot be sent to {} deployments", kind.display_name()),
            ));
        }
    }
    match role {
        "system" | "developer" => {
            let parts = parts(i, content, kind)?;
            let mut text = String::new();
            for p in parts {
                match p {
                    Part::Text(t) => text.push_str(&t),
                    Part::Image(_) => {
                        return Err(bad(
                            "unsupported_content",
                            format!("messages[{i}] ({role}) holds an image; system messages take text only"),
                        ))
                    }
                }
            }
            req.system.push(text);
        }
        "user" => req.messages.push(Msg::User(parts(i, content, kind)?)),
        "assistant" => {
            let mut text = Vec::new();
            for p in parts(i, content, kind)? {
                match p {
                    Part::Text(t) if t.is_empty() => {}
                    Part::Text(t) => text.push(t),
                    Part::Image(_) => {
                        return Err(bad("unsupported_content", format!("messages[{i}] (assistant) holds an image")))
                    }
                }
            }
            let mut tool_calls = Vec::new();
            if let Some(calls) = m.get("tool_calls").filter(|c| !c.is_null()) {
                let calls =
                    calls.as_array().ok_or_else(|| invalid(format!("messages[{i}].tool_calls must be an array")))?;
                for (j, c) in calls.iter().enumerate() {
                    tool_calls.push(tool_call(i, j, c)?);
                }
            }
            req.messages.push(Msg::Assistant { text, tool_calls });
        }
        "tool" => {
            let id = m.get("tool_call_id").and_then(Value::as_str);
            let id = id.ok_or_else(|| invalid(format!("messages[{i}] (tool) has no 'tool_call_id'")))?;
            let mut text = String::new();
            for p in parts(i, content, kind)? {
                match p {
                    Part::Text(t) => text.push_str(&t),
                    Part::Image(_) => {
                        return Err(bad("unsupported_content", format!("messages[{i}] (tool) holds an image")))
                    }
                }
            }
            req.messages.push(Msg::Tool { tool_call_id: id.to_owned(), content: text, is_error: false });
        }
        "function" => {
            return Err(bad(
                "unsupported_content",
                format!("messages[{i}] has the legacy role 'function'; use 'tool' messages"),
            ))
        }
        other => return Err(invalid(format!("messages[{i}] has an unknown role '{other}'"))),
    }
    Ok(())
}

fn tool_call(i: usize, j: usize, c: &Value) -> Result<ToolCall, RequestError> {
    let at = format!("messages[{i}].tool_calls[{j}]");
    let ty = c.get("type").and_then(Value::as_str).unwrap_or("function");
    if ty != "function" {
        return Err(bad("unsupported_content", format!("{at} has type '{ty}'; only function calls are supported")));
    }
    let id = c.get("id").and_then(Value::as_str).ok_or_else(|| invalid(format!("{at} has no 'id'")))?;
    let f = c.get("function").ok_or_else(|| invalid(format!("{at} has no 'function'")))?;
    let name = f.get("name").and_then(Value::as_str).ok_or_else(|| invalid(format!("{at}.function has no 'name'")))?;
    let raw = f.get("arguments").and_then(Value::as_str).unwrap_or("");
    let arguments = if raw.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(raw).map_err(|e| invalid(format!("{at}.function.arguments is not valid JSON: {e}")))?
    };
    Ok(ToolCall { id: id.to_owned(), name: name.to_owned(), arguments })
}

/// A message's content as parts; `null` is no parts.
fn parts(i: usize, content: Option<&Value>, kind: ProviderKind) -> Result<Vec<Part>, RequestError> {
    let list = match content {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid(format!("messages[{i}].content must be a string or an array of parts"))),
    };
    let mut out = Vec::with_capacity(list.len());
    for (j, p) in list.iter().enumerate() {
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        match ty {
            "text" => {
                let t = p.get("text").and_then(Value::as_str);
                out.push(Part::Text(
                    t.ok_or_else(|| invalid(format!("messages[{i}].content[{j}] has no 'text'")))?.to_owned(),
                ));
            }
            // A refusal from an earlier assistant turn is what the model said.
            "refusal" => out.push(Part::Text(p.get("refusal").and_then(Value::as_str).unwrap_or("").to_owned())),
            "image_url" => {
                let url = p.get("image_url").and_then(|u| u.get("url").or(Some(u))).and_then(Value::as_str);
                let url = url.ok_or_else(|| invalid(format!("messages[{i}].content[{j}].image_url has no 'url'")))?;
                out.push(Part::Image(image(i, j, url)?));
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
        }
    }
    Ok(out)
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
    pub fn openai_json(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": self.code}})
    }

    pub fn body(&self) -> Vec<u8> {
        self.openai_json().to_string().into_bytes()
    }
}

fn usage_json(u: Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens.saturating_add(u.output_tokens),
    })
}

/// `chat.completion`, written straight from typed fields: it is on every translated answer's
/// path, and building a `serde_json::Value` first cost more than the rest of the translation.
pub(crate) fn completion_json(ident: &Ident, r: &Reply) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Completion<'a> {
        id: &'a str,
        object: &'static str,
        created: u64,
        model: &'a str,
        choices: [Choice<'a>; 1],
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<UsageOut>,
    }
    #[derive(serde::Serialize)]
    struct Choice<'a> {
        index: u32,
        message: Message<'a>,
        finish_reason: &'static str,
        logprobs: Option<()>,
    }
    #[derive(serde::Serialize)]
    struct Message<'a> {
        role: &'static str,
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    }
    #[derive(serde::Serialize)]
    struct CallOut<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
        function: FunctionOut<'a>,
    }
    #[derive(serde::Serialize)]
    struct FunctionOut<'a> {
        name: &'a str,
        arguments: &'a str,
    }
    #[derive(serde::Serialize)]
    struct UsageOut {
        prompt_tokens: u64,
        completion_tokens: u64,
        total_tokens: u64,
    }
    let completion = Completion {
        id: r.id.as_deref().unwrap_or(&ident.id),
        object: "chat.completion",
        created: ident.created,
        model: &ident.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: r.text.as_deref(),
                tool_calls: r
                    .tool_calls
                    .iter()
                    .map(|c| CallOut {
                        id: &c.id,
                        kind: "function",
                        function: FunctionOut { name: &c.name, arguments: &c.arguments },
                    })
                    .collect(),
            },
            finish_reason: r.finish.as_str(),
            logprobs: None,
        }],
        usage: r.usage.map(|u| UsageOut {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.input_tokens.saturating_add(u.output_tokens),
        }),
    };
    serde_json::to_vec(&completion).unwrap_or_default()
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

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<Finish>) {
        let c = json!({
            "id": self.ident.id,
            "object": "chat.completion.chunk",
            "created": self.ident.created,
            "model": self.ident.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish.map(Finish::as_str), "logprobs": null}],
        });
        sse::write_data(out, &c);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.chunk(out, json!({"role": "assistant", "content": ""}), None);
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
                    self.chunk(out, json!({"content": t}), None);
                }
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.start(out);
                let index = self.tools.len() as u64;
                self.tools.insert(block, index);
                let call = json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}});
                self.chunk(out, json!({"tool_calls": [call]}), None);
            }
            Ev::ToolArgs { block, fragment } => {
                if let Some(&index) = self.tools.get(&block) {
                    if !fragment.is_empty() {
                        let call = json!({"index": index, "function": {"arguments": fragment}});
                        self.chunk(out, json!({"tool_calls": [call]}), None);
                    }
                }
            }
            Ev::Finish(f) => {
                if !self.finished {
                    self.start(out);
                    self.finished = true;
                    self.chunk(out, json!({}), Some(f));
                }
            }
            Ev::Usage(u) => self.usage = Some(u),
            Ev::End => self.send_usage(out),
            Ev::Error(e) => {
                self.failed = true;
                sse::write_data(out, &e.openai_json());
            }
        }
    }

    fn send_usage(&mut self, out: &mut Vec<u8>) {
        if let (true, false, Some(u)) = (self.include_usage, self.usage_sent, self.usage) {
            self.usage_sent = true;
            let c = json!({
                "id": self.ident.id,
                "object": "chat.completion.chunk",
                "created": self.ident.created,
                "model": self.ident.model,
                "choices": [],
                "usage": usage_json(u),
            });
            sse::write_data(out, &c);
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
