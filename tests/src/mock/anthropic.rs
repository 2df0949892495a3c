//! Anthropic Messages (`POST /v1/messages`), also as Claude on Vertex (`:rawPredict`).
//!
//! Errors in Anthropic's shape: `{"type":"error","error":{"type":...,"message":...}}` with a
//! `request-id` header. Validation follows the public API: strict top-level keys, `model`
//! and `max_tokens` required, roles `user`/`assistant`, known content block types,
//! `tool_result` blocks answering the previous message's `tool_use` ids and vice versa.
//! Consecutive messages with the same role are accepted (the API merges them).

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Response;
use serde_json::{json, Map, Value};

use super::fake_content::{tokens_of, tool_input_from_schema};
use super::fault_mode::Mode;
use super::openai;
use super::response::{json_resp, plan_resp, Body, StreamPlan};

/// Top-level keys of `POST /v1/messages`.
pub const MESSAGES_KEYS: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_k",
    "top_p",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
];

/// `anthropic-version` values the API knows.
pub const VERSIONS: &[&str] = &["2023-06-01", "2023-01-01"];

/// The `anthropic_version` Vertex requires in the body.
pub const VERTEX_VERSION: &str = "vertex-2023-10-16";

const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "search_result",
    "container_upload",
];

/// Which API the body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// api.anthropic.com: `model` in the body.
    Anthropic,
    /// Vertex `:rawPredict`: no `model`, `anthropic_version: vertex-2023-10-16`.
    Vertex,
}

/// An Anthropic-shaped error.
#[derive(Debug, Clone)]
pub struct AnthropicError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl AnthropicError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        AnthropicError { status, kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request_error", message)
    }

    pub fn response(&self, seq: u64) -> Response<Body> {
        let mut r =
            json_resp(self.status, &json!({"type": "error", "error": {"type": self.kind, "message": self.message}}));
        add_request_id(r.headers_mut(), seq);
        r
    }
}

pub fn add_request_id(h: &mut hyper::HeaderMap, seq: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("req_mock{seq:020}")) {
        h.insert("request-id", v);
    }
}

/// The Anthropic error an injected fault with HTTP `status` stands for.
pub fn fault(status: u16) -> AnthropicError {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ if status >= 500 => "api_error",
        _ => "invalid_request_error",
    };
    let message = match kind {
        "authentication_error" => "invalid x-api-key".to_string(),
        "permission_error" => "Your API key does not have permission to use the specified resource.".to_string(),
        "overloaded_error" => "Overloaded".to_string(),
        "rate_limit_error" => "Number of request tokens has exceeded your per-minute rate limit".to_string(),
        "api_error" => "Internal server error".to_string(),
        _ => format!("injected error {status}"),
    };
    AnthropicError::new(status, kind, message)
}

/// What the handler needs from a validated request.
#[derive(Debug, Clone)]
pub struct MessagesRequest {
    pub model: String,
    pub stream: bool,
    pub input_tokens: u64,
    pub tool_call: Option<(String, Value)>,
}

fn type_error(path: &str, what: &str) -> AnthropicError {
    AnthropicError::invalid(format!("{path}: Input should be {what}"))
}

fn required(path: &str) -> AnthropicError {
    AnthropicError::invalid(format!("{path}: Field required"))
}

fn check_extra(obj: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), AnthropicError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(AnthropicError::invalid(format!("{prefix}{k}: Extra inputs are not permitted"))),
        None => Ok(()),
    }
}

fn text_chars(v: &Value, path: &str) -> Result<u64, AnthropicError> {
    let t = v.as_str().ok_or_else(|| type_error(&format!("{path}.text"), "a valid string"))?;
    if t.is_empty() {
        return Err(AnthropicError::invalid("messages: text content blocks must be non-empty"));
    }
    Ok(t.chars().count() as u64)
}

/// Validates a Messages body. `expect_model` restricts `model` (Anthropic flavour) — an
/// unknown model is 404 `not_found_error`; `path_model` is the Vertex URL's model.
pub fn validate(
    body: &[u8],
    flavor: Flavor,
    expect_model: Option<&str>,
    path_model: Option<&str>,
) -> Result<MessagesRequest, AnthropicError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        AnthropicError::invalid(format!("There was an issue with your request body: invalid JSON ({e})"))
    })?;
    let obj = v.as_object().ok_or_else(|| AnthropicError::invalid("Input should be a valid dictionary"))?;
    let mut allowed: Vec<&str> = MESSAGES_KEYS.to_vec();
    if flavor == Flavor::Vertex {
        allowed.retain(|k| *k != "model");
        allowed.push("anthropic_version");
    }
    check_extra(obj, &allowed, "")?;
    let model = match flavor {
        Flavor::Anthropic => match obj.get("model") {
            None => return Err(required("model")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(type_error("model", "a valid string")),
        },
        Flavor::Vertex => {
            match obj.get("anthropic_version") {
                None => return Err(required("anthropic_version")),
                Some(Value::String(s)) if s == VERTEX_VERSION => {}
                Some(_) => {
                    return Err(AnthropicError::invalid(format!(
                        "anthropic_version: Input should be '{VERTEX_VERSION}'"
                    )))
                }
            }
            path_model.unwrap_or_default().to_string()
        }
    };
    let messages = match obj.get("messages") {
        None => return Err(required("messages")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(type_error("messages", "a valid list")),
    };
    match obj.get("max_tokens") {
        None => return Err(required("max_tokens")),
        Some(m) => match m.as_i64() {
            Some(n) if n >= 1 => {}
            Some(_) => return Err(AnthropicError::invalid("max_tokens: Input should be greater than or equal to 1")),
            None => return Err(type_error("max_tokens", "a valid integer")),
        },
    }
    if messages.is_empty() {
        return Err(AnthropicError::invalid("messages: List should have at least 1 item after validation, not 0"));
    }
    let mut chars = 0u64;
    let mut prev_tool_ids: Vec<String> = Vec::new();
    let mut last_role = "";
    let mut last_has_tool_result = false;
    let n_messages = messages.len();
    for (i, m) in messages.iter().enumerate() {
        let p = format!("messages.{i}");
        let mo = m.as_object().ok_or_else(|| type_error(&p, "a valid dictionary"))?;
        check_extra(mo, &["role", "content"], &format!("{p}."))?;
        let role = match mo.get("role") {
            None => return Err(required(&format!("{p}.role"))),
            Some(Value::String(r)) if r == "user" || r == "assistant" => r.as_str(),
            Some(Value::String(r)) if r == "system" => {
                return Err(AnthropicError::invalid(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.",
                ))
            }
            Some(_) => return Err(type_error(&format!("{p}.role"), "'user' or 'assistant'")),
        };
        let final_assistant = i + 1 == n_messages && role == "assistant";
        let mut tool_use_ids = Vec::new();
        let mut tool_result_ids = Vec::new();
        match mo.get("content") {
            None => return Err(required(&format!("{p}.content"))),
            Some(Value::String(s)) => {
                if s.is_empty() && !final_assistant {
                    return Err(AnthropicError::invalid(format!(
                        "{p}: all messages must have non-empty content except for the optional final assistant message"
                    )));
                }
                chars += s.chars().count() as u64;
            }
            Some(Value::Array(blocks)) => {
                if blocks.is_empty() && !final_assistant {
                    return Err(AnthropicError::invalid(format!(
                        "{p}: all messages must have non-empty content except for the optional final assistant message"
                    )));
                }
                for (j, b) in blocks.iter().enumerate() {
                    let bp = format!("{p}.content.{j}");
                    let bo = b.as_object().ok_or_else(|| type_error(&bp, "a valid dictionary"))?;
                    let ty = match bo.get("type") {
                        None => {
                            return Err(AnthropicError::invalid(format!(
                                "{bp}: Unable to extract tag using discriminator 'type'"
                            )))
                        }
                        Some(Value::String(t)) => t.as_str(),
                        Some(_) => return Err(type_error(&format!("{bp}.type"), "a valid string")),
                    };
                    if !BLOCK_TYPES.contains(&ty) {
                        return Err(AnthropicError::invalid(format!(
                            "{bp}: Input tag '{ty}' found using 'type' does not match any of the expected tags: {}",
                            BLOCK_TYPES.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
                        )));
                    }
                    match ty {
                        "text" => {
                            check_extra(bo, &["type", "text", "cache_control", "citations"], &format!("{bp}.text."))?;
                            chars += text_chars(bo.get("text").unwrap_or(&Value::Null), &bp)?;
                        }
                        "image" | "document" if !bo.get("source").is_some_and(Value::is_object) => {
                            return Err(required(&format!("{bp}.{ty}.source")));
                        }
                        "tool_use" => {
                            if role != "assistant" {
                                return Err(AnthropicError::invalid(format!(
                                    "{bp}: `tool_use` blocks can only be in `assistant` messages"
                                )));
                            }
                            let id = bo
                                .get("id")
                                .and_then(Value::as_str)
                                .ok_or_else(|| required(&format!("{bp}.tool_use.id")))?;
                            bo.get("name")
                                .and_then(Value::as_str)
                                .ok_or_else(|| required(&format!("{bp}.tool_use.name")))?;
                            if !bo.get("input").is_some_and(Value::is_object) {
                                return Err(type_error(&format!("{bp}.tool_use.input"), "a valid dictionary"));
                            }
                            tool_use_ids.push(id.to_string());
                        }
                        "tool_result" => {
                            if role != "user" {
                                return Err(AnthropicError::invalid(format!(
                                    "{bp}: `tool_result` blocks can only be in `user` messages"
                                )));
                            }
                            let id = bo
                                .get("tool_use_id")
                                .and_then(Value::as_str)
                                .ok_or_else(|| required(&format!("{bp}.tool_result.tool_use_id")))?;
                            match bo.get("content") {
                                None | Some(Value::String(_)) | Some(Value::Array(_)) => {}
                                Some(_) => {
                                    return Err(type_error(
                                        &format!("{bp}.tool_result.content"),
                                        "a valid string or list",
                                    ))
                                }
                            }
                            if let Some(s) = bo.get("content").and_then(Value::as_str) {
                                chars += s.chars().count() as u64;
                            }
                            tool_result_ids.push(id.to_string());
                        }
                        _ => {}
                    }
                }
            }
            Some(_) => return Err(type_error(&format!("{p}.content"), "a valid string or list")),
        }
        if role == "user" {
            if let Some(x) = tool_result_ids.iter().find(|id| !prev_tool_ids.contains(id)) {
                return Err(AnthropicError::invalid(format!(
                    "{p}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {x}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                )));
            }
            last_has_tool_result = !tool_result_ids.is_empty();
        }
        if !prev_tool_ids.is_empty() {
            let missing: Vec<&str> =
                prev_tool_ids.iter().filter(|id| !tool_result_ids.contains(id)).map(String::as_str).collect();
            if !missing.is_empty() {
                return Err(AnthropicError::invalid(format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    i.saturating_sub(1),
                    missing.join(", ")
                )));
            }
        }
        prev_tool_ids = tool_use_ids;
        last_role = role;
    }
    if !prev_tool_ids.is_empty() && last_role == "assistant" {
        // A final assistant turn with tool_use is a prefill; allowed.
    }
    match obj.get("system") {
        None | Some(Value::String(_)) => {
            if let Some(s) = obj.get("system").and_then(Value::as_str) {
                chars += s.chars().count() as u64;
            }
        }
        Some(Value::Array(blocks)) => {
            for (j, b) in blocks.iter().enumerate() {
                let bp = format!("system.{j}");
                if b.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(AnthropicError::invalid(format!("{bp}.type: Input should be 'text'")));
                }
                chars += text_chars(b.get("text").unwrap_or(&Value::Null), &bp)?;
            }
        }
        Some(_) => return Err(type_error("system", "a valid string or list")),
    }
    let stream = match obj.get("stream") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(type_error("stream", "a valid boolean")),
    };
    for (k, max) in [("temperature", 1.0), ("top_p", 1.0)] {
        if let Some(x) = obj.get(k) {
            match x.as_f64() {
                Some(f) if f < 0.0 => {
                    return Err(AnthropicError::invalid(format!("{k}: Input should be greater than or equal to 0")))
                }
                Some(f) if f > max => {
                    return Err(AnthropicError::invalid(format!("{k}: Input should be less than or equal to {max}")))
                }
                Some(_) => {}
                None => return Err(type_error(k, "a valid number")),
            }
        }
    }
    if let Some(ss) = obj.get("stop_sequences") {
        if !ss.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            return Err(type_error("stop_sequences", "a valid list of strings"));
        }
    }
    let mut tools: Vec<(String, Value)> = Vec::new();
    if let Some(t) = obj.get("tools") {
        let arr = t.as_array().ok_or_else(|| type_error("tools", "a valid list"))?;
        for (i, tool) in arr.iter().enumerate() {
            let tp = format!("tools.{i}");
            let to = tool.as_object().ok_or_else(|| type_error(&tp, "a valid dictionary"))?;
            let ty = to.get("type").and_then(Value::as_str).unwrap_or("custom");
            let name = to.get("name").and_then(Value::as_str).ok_or_else(|| required(&format!("{tp}.{ty}.name")))?;
            if ty == "custom" {
                check_extra(
                    to,
                    &["type", "name", "description", "input_schema", "cache_control"],
                    &format!("{tp}.custom."),
                )?;
                let schema = to
                    .get("input_schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| required(&format!("{tp}.custom.input_schema")))?;
                tools.push((name.to_string(), schema.clone()));
            }
        }
    }
    let mut forced: Option<String> = None;
    let mut choice_none = false;
    if let Some(tc) = obj.get("tool_choice") {
        match tc.get("type").and_then(Value::as_str) {
            Some("auto") | Some("any") => {}
            Some("none") => choice_none = true,
            Some("tool") => {
                let name = tc
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| required("tool_choice.tool.name"))?;
                if !tools.iter().any(|(n, _)| n == name) {
                    return Err(AnthropicError::invalid(format!(
                        "tool_choice.tool.name: Tool '{name}' not found in tools"
                    )));
                }
                forced = Some(name.to_string());
            }
            _ => {
                return Err(AnthropicError::invalid(
                    "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
                ))
            }
        }
    }
    if flavor == Flavor::Anthropic {
        if let Some(want) = expect_model {
            if model != want {
                return Err(AnthropicError::new(404, "not_found_error", format!("model: {model}")));
            }
        }
    }
    let tool_call = if !tools.is_empty() && !choice_none && last_role == "user" && !last_has_tool_result {
        let (n, schema) = match &forced {
            Some(f) => tools.iter().find(|(t, _)| t == f).cloned().unwrap(),
            None => tools[0].clone(),
        };
        Some((n, tool_input_from_schema(&schema)))
    } else {
        None
    };
    Ok(MessagesRequest { model, stream, input_tokens: tokens_of(chars) + messages.len() as u64, tool_call })
}

fn tool_id(seq: u64) -> String {
    format!("toolu_mock{seq:014}")
}

fn msg_id(seq: u64) -> String {
    format!("msg_mock{seq:016}")
}

/// The non-streaming `message` object.
pub fn message_response(req: &MessagesRequest, text: &str, mode: &Mode, seq: u64) -> Response<Body> {
    let output = mode.chunks.max(1) as u64;
    let (content, stop) = match &req.tool_call {
        Some((name, input)) => {
            (json!([{"type": "tool_use", "id": tool_id(seq), "name": name, "input": input}]), "tool_use")
        }
        None => (json!([{"type": "text", "text": text}]), "end_turn"),
    };
    let mut r = json_resp(
        200,
        &json!({
            "id": msg_id(seq),
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": {"input_tokens": req.input_tokens, "output_tokens": output},
        }),
    );
    add_request_id(r.headers_mut(), seq);
    r
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The SSE stream: `message_start`, `content_block_start`, `ping`, `content_block_delta`s,
/// `content_block_stop`, `message_delta` (stop reason, usage), `message_stop`; shaped by
/// `mode`'s streaming fault (the in-stream error is `event: error` with the error `mode.status`
/// stands for, e.g. `overloaded_error` for 503/529).
pub fn sse_response(req: &MessagesRequest, text: &str, mode: &Mode, seq: u64) -> Response<Body> {
    let mut r = plan_resp(stream_plan(req, text, mode, seq), mode, "text/event-stream; charset=utf-8");
    add_request_id(r.headers_mut(), seq);
    r
}

fn stream_plan(req: &MessagesRequest, text: &str, mode: &Mode, seq: u64) -> StreamPlan {
    let n = mode.chunks.max(1) as usize;
    let mut ev = vec![sse(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": msg_id(seq), "type": "message", "role": "assistant", "model": req.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": req.input_tokens, "output_tokens": 1}
        }}),
    )];
    // The first content_block_delta is the first content (the block's start carries none
    // for text, and only the name for a tool call).
    let mut first_content = None;
    let stop = match &req.tool_call {
        Some((name, input)) => {
            ev.push(sse(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": tool_id(seq), "name": name, "input": {}}}),
            ));
            ev.push(sse("ping", &json!({"type": "ping"})));
            let args = serde_json::to_string(input).unwrap();
            for piece in openai::split_text(&args, n) {
                first_content.get_or_insert(ev.len());
                ev.push(sse(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
            "tool_use"
        }
        None => {
            ev.push(sse(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            ev.push(sse("ping", &json!({"type": "ping"})));
            for piece in openai::split_text(text, n) {
                if piece.is_empty() {
                    continue;
                }
                first_content.get_or_insert(ev.len());
                ev.push(sse(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
            "end_turn"
        }
    };
    let first_content = first_content.unwrap_or(ev.len());
    ev.push(sse("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    ev.push(sse(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": n}}),
    ));
    ev.push(sse("message_stop", &json!({"type": "message_stop"})));
    let e = fault(mode.status);
    let error_event = sse("error", &json!({"type": "error", "error": {"type": e.kind, "message": e.message}}));
    StreamPlan { events: ev, first_content, error_event }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(body: Value, flavor: Flavor) -> Result<MessagesRequest, AnthropicError> {
        validate(&serde_json::to_vec(&body).unwrap(), flavor, None, Some("claude-x"))
    }

    #[test]
    fn anthropic_rules() {
        let ok = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        assert!(v(ok.clone(), Flavor::Anthropic).is_ok());
        let mut bad = ok.clone();
        bad["n"] = json!(1);
        assert_eq!(v(bad, Flavor::Anthropic).unwrap_err().message, "n: Extra inputs are not permitted");
        let mut bad = ok.clone();
        bad.as_object_mut().unwrap().remove("max_tokens");
        assert_eq!(v(bad, Flavor::Anthropic).unwrap_err().message, "max_tokens: Field required");
        let bad = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]});
        assert!(v(bad, Flavor::Anthropic).unwrap_err().message.contains("top-level `system`"));
        // Vertex: no model, anthropic_version required.
        assert!(v(ok.clone(), Flavor::Vertex).unwrap_err().message.contains("model: Extra inputs"));
        let vx = json!({"anthropic_version": VERTEX_VERSION, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(v(vx, Flavor::Vertex).unwrap().model, "claude-x");
    }

    #[test]
    fn tool_result_must_answer_tool_use() {
        let tools =
            json!([{"name": "f", "input_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}]);
        let first =
            json!({"model": "m", "max_tokens": 10, "tools": tools, "messages": [{"role": "user", "content": "go"}]});
        let r = v(first, Flavor::Anthropic).unwrap();
        assert_eq!(r.tool_call, Some(("f".into(), json!({"a": 1}))));
        let turn = |id: &str| {
            json!({"model": "m", "max_tokens": 10, "tools": tools, "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "1"}]}
            ]})
        };
        assert!(v(turn("t1"), Flavor::Anthropic).unwrap().tool_call.is_none());
        assert!(v(turn("t9"), Flavor::Anthropic).is_err());
    }
}
