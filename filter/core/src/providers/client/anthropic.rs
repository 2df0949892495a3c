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

use serde_json::{json, Map, Value};

use super::{fields, image, number, strings};
use crate::providers::chat::{
    bad, invalid, ChatRequest, Ev, Finish, Ident, Image, Msg, Part, Reply, ToolCall, ToolChoice, ToolDef,
};
use crate::providers::codec::sse;
use crate::providers::error::ProviderError;
use crate::providers::{ProviderKind, Usage};
use crate::RequestError;

// --- The request ---

const HARMLESS: &[&str] = &["service_tier", "anthropic_version"];

fn unsupported_block(at: &str, ty: &str, kind: ProviderKind) -> RequestError {
    bad(
        "unsupported_content",
        format!("{at}: content block '{ty}' cannot be sent to {} deployments (supported: text, image, tool_use, tool_result)", kind.display_name()),
    )
}

#[inline(never)] // called from several places: one copy in the wasm
pub(crate) fn parse(body: &[u8], kind: ProviderKind) -> Result<ChatRequest, RequestError> {
    let mut req = ChatRequest::default();
    let mut messages = None;
    for (key, value) in fields(body)? {
        match key.as_str() {
            "model" => {}
            "messages" => messages = Some(value),
            "max_tokens" => {
                req.max_tokens =
                    Some(value.as_u64().ok_or_else(|| invalid("'max_tokens' must be a positive integer".into()))?)
            }
            "system" => req.system = vec![text_of("system", &value, kind)?],
            "stop_sequences" => req.stop = strings(&key, &value)?,
            "temperature" => req.temperature = Some(number(&key, &value)?),
            "top_p" => req.top_p = Some(number(&key, &value)?),
            "stream" => req.stream = value.as_bool().ok_or_else(|| invalid("'stream' must be true or false".into()))?,
            "tools" => req.tools = tools(&value, kind)?,
            "tool_choice" => tool_choice(&mut req, &value)?,
            "metadata" => req.user = value.get("user_id").and_then(Value::as_str).map(str::to_owned),
            k if HARMLESS.contains(&k) => {}
            // top_k and the rest: the provider takes what it can express and refuses the others.
            _ => {
                req.extras.insert(key, value);
            }
        }
    }
    if req.max_tokens.is_none() {
        return Err(invalid("'max_tokens' is required".into()));
    }
    // Anthropic clients always get usage in message_start / message_delta.
    req.include_usage = true;
    let list = messages.as_ref().and_then(Value::as_array).filter(|a| !a.is_empty());
    let list = list.ok_or_else(|| invalid("'messages' must be a non-empty array".into()))?;
    for (i, m) in list.iter().enumerate() {
        message(&mut req, i, m, kind)?;
    }
    Ok(req)
}

/// `system` or a tool result's content: a string or text blocks.
fn text_of(at: &str, v: &Value, kind: ProviderKind) -> Result<String, RequestError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => {
            let mut text = String::new();
            for (j, b) in blocks.iter().enumerate() {
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
                    ty => return Err(unsupported_block(&format!("{at}[{j}]"), ty, kind)),
                }
            }
            Ok(text)
        }
        _ => Err(invalid(format!("'{at}' must be a string or an array of text blocks"))),
    }
}

fn tools(v: &Value, kind: ProviderKind) -> Result<Vec<ToolDef>, RequestError> {
    let list = v.as_array().ok_or_else(|| invalid("'tools' must be an array".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        let ty = t.get("type").and_then(Value::as_str).unwrap_or("custom");
        if ty != "custom" {
            return Err(bad(
                "unsupported_parameter",
                format!(
                    "tools[{i}] is Anthropic's server tool '{ty}', which {} deployments do not have",
                    kind.display_name()
                ),
            ));
        }
        let name = t.get("name").and_then(Value::as_str).ok_or_else(|| invalid(format!("tools[{i}] has no 'name'")))?;
        let parameters = t.get("input_schema").cloned().unwrap_or_else(|| serde_json::json!({"type": "object"}));
        let description = t.get("description").and_then(Value::as_str).map(str::to_owned);
        out.push(ToolDef { name: name.to_owned(), description, parameters });
    }
    Ok(out)
}

fn tool_choice(req: &mut ChatRequest, v: &Value) -> Result<(), RequestError> {
    req.tool_choice = Some(match v.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => {
            let name = v.get("name").and_then(Value::as_str);
            ToolChoice::Function(name.ok_or_else(|| invalid("'tool_choice.name' is missing".into()))?.to_owned())
        }
        _ => return Err(invalid("'tool_choice.type' must be auto, any, tool or none".into())),
    });
    if v.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
        req.parallel_tool_calls = Some(false);
    }
    Ok(())
}

fn message(req: &mut ChatRequest, i: usize, m: &Value, kind: ProviderKind) -> Result<(), RequestError> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or("");
    let blocks: Vec<Value> = match m.get("content") {
        Some(Value::String(s)) => vec![serde_json::json!({"type": "text", "text": s})],
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(invalid(format!("messages[{i}].content must be a string or an array of blocks"))),
    };
    match role {
        "user" => {
            let mut parts = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let at = format!("messages[{i}].content[{j}]");
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" => parts.push(Part::Text(b.get("text").and_then(Value::as_str).unwrap_or("").to_owned())),
                    "image" => parts.push(Part::Image(image_block(&at, b, i, j)?)),
                    "tool_result" => {
                        let id = b.get("tool_use_id").and_then(Value::as_str);
                        let id = id.ok_or_else(|| invalid(format!("{at} has no 'tool_use_id'")))?;
                        let content = match b.get("content") {
                            None | Some(Value::Null) => String::new(),
                            Some(c) => text_of(&format!("{at}.content"), c, kind)?,
                        };
                        let is_error = b.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                        req.messages.push(Msg::Tool { tool_call_id: id.to_owned(), content, is_error });
                    }
                    ty => return Err(unsupported_block(&at, ty, kind)),
                }
            }
            if !parts.is_empty() {
                req.messages.push(Msg::User(parts));
            }
        }
        "assistant" => {
            let mut text = Vec::new();
            let mut tool_calls = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                match b.get("type").and_then(Value::as_str).unwrap_or("") {
                    "text" if s("text").is_empty() => {}
                    "text" => text.push(s("text")),
                    "tool_use" => tool_calls.push(ToolCall {
                        id: s("id"),
                        name: s("name"),
                        arguments: b.get("input").cloned().unwrap_or_else(|| Value::Object(Map::new())),
                    }),
                    "thinking" | "redacted_thinking" => {}
                    ty => return Err(unsupported_block(&format!("messages[{i}].content[{j}]"), ty, kind)),
                }
            }
            req.messages.push(Msg::Assistant { text, tool_calls });
        }
        other => {
            return Err(invalid(format!(
                "messages[{i}] has the role '{other}'; Anthropic's roles are user and assistant"
            )))
        }
    }
    Ok(())
}

fn image_block(at: &str, b: &Value, i: usize, j: usize) -> Result<Image, RequestError> {
    let source = b.get("source").ok_or_else(|| invalid(format!("{at} has no 'source'")))?;
    let s = |k: &str| source.get(k).and_then(Value::as_str).unwrap_or("");
    match s("type") {
        "base64" => image(i, j, &format!("data:{};base64,{}", s("media_type"), s("data"))),
        "url" => Ok(Image::Url(s("url").to_owned())),
        other => Err(bad("unsupported_content", format!("{at}: image source '{other}' is not supported"))),
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
    pub fn anthropic_json(&self) -> Value {
        json!({"type": "error", "error": {"type": anthropic_type(self.status), "message": self.message}})
    }

    pub fn anthropic_body(&self) -> Vec<u8> {
        self.anthropic_json().to_string().into_bytes()
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

fn usage_json(u: Usage) -> Value {
    json!({"input_tokens": u.input_tokens, "output_tokens": u.output_tokens})
}

/// Tool arguments as Anthropic's `input` object (`{}` when they are not JSON).
fn input(arguments: &str) -> Value {
    serde_json::from_str::<Value>(arguments).ok().filter(Value::is_object).unwrap_or_else(|| Value::Object(Map::new()))
}

/// A whole answer as Anthropic's `message` object.
pub(crate) fn message_json(ident: &Ident, r: &Reply) -> Vec<u8> {
    let mut content = Vec::new();
    if let Some(t) = r.text.as_ref().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for c in &r.tool_calls {
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input(&c.arguments)}));
    }
    json!({
        "id": r.id.clone().unwrap_or_else(|| ident.id.clone()),
        "type": "message",
        "role": "assistant",
        "model": ident.model,
        "content": content,
        "stop_reason": stop_reason(r.finish),
        "stop_sequence": null,
        "usage": usage_json(r.usage.unwrap_or_default()),
    })
    .to_string()
    .into_bytes()
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
        let message = json!({
            "id": self.ident.id, "type": "message", "role": "assistant", "model": self.ident.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": 0},
        });
        sse::write_event(out, "message_start", &json!({"type": "message_start", "message": message}));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            let (Open::Text(index) | Open::Tool(index, _)) = open;
            sse::write_event(out, "content_block_stop", &json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn open_block(&mut self, out: &mut Vec<u8>, block: Value, open: impl FnOnce(u64) -> Open) -> u64 {
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(open(index));
        sse::write_event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        index
    }

    fn delta(out: &mut Vec<u8>, index: u64, delta: Value) {
        sse::write_event(
            out,
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
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
                    _ => self.open_block(out, json!({"type": "text", "text": ""}), Open::Text),
                };
                Self::delta(out, index, json!({"type": "text_delta", "text": t}));
            }
            Ev::ToolStart { block, id, name, arguments } => {
                self.start(out);
                let b = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let index = self.open_block(out, b, |i| Open::Tool(i, block));
                if !arguments.is_empty() {
                    Self::delta(out, index, json!({"type": "input_json_delta", "partial_json": arguments}));
                }
            }
            Ev::ToolArgs { block, fragment } => {
                if let Some(Open::Tool(index, b)) = self.open {
                    if b == block && !fragment.is_empty() {
                        Self::delta(out, index, json!({"type": "input_json_delta", "partial_json": fragment}));
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
        sse::write_event(out, "error", &e.anthropic_json());
    }

    /// `message_delta` (stop reason, usage) and `message_stop`, once the answer is complete.
    fn stop(&mut self, out: &mut Vec<u8>) {
        let Some(f) = self.finish else { return };
        self.close(out);
        self.done = true;
        let u = self.usage.unwrap_or_default();
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(f), "stop_sequence": null},
            "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens},
        });
        sse::write_event(out, "message_delta", &delta);
        sse::write_event(out, "message_stop", &json!({"type": "message_stop"}));
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
        assert_eq!(r.system, ["s"]);
        assert_eq!(r.messages.len(), 4);
        assert!(
            matches!(&r.messages[1], Msg::Assistant { text, tool_calls } if text == &["t"] && tool_calls[0].arguments["a"] == 1)
        );
        assert!(matches!(&r.messages[2], Msg::Tool { content, is_error: true, .. } if content == "r"));
        assert!(matches!(&r.messages[3], Msg::User(p) if p == &[Part::Text("more".into())]));
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
