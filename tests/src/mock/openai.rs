//! OpenAI-compatible request validation and response bodies used by the mock (also by the
//! Azure mock, whose API is OpenAI's), including the streamed SSE answer.
//!
//! The validation mirrors what api.openai.com does for the cases the gateway
//! tests care about (strict top-level keys, required `model`/`messages`), with
//! OpenAI's error shape:
//! `{"error":{"message":..,"type":"invalid_request_error","param":..,"code":..}}`.

use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Map, Value};

use super::fault_mode::Mode;
use super::response::{plan_resp, Body, StreamPlan};

/// Top-level keys accepted by `POST /v1/chat/completions`.
pub const CHAT_KEYS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "seed",
    "service_tier",
    "store",
    "metadata",
    "modalities",
    "audio",
    "prediction",
    "reasoning_effort",
    "functions",
    "function_call",
    "web_search_options",
];

/// Top-level keys accepted by `POST /v1/completions` (legacy).
pub const COMPLETION_KEYS: &[&str] = &[
    "model",
    "prompt",
    "suffix",
    "stream",
    "stream_options",
    "temperature",
    "top_p",
    "n",
    "stop",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "echo",
    "best_of",
    "user",
    "seed",
];

/// Top-level keys accepted by `POST /v1/embeddings`.
pub const EMBEDDING_KEYS: &[&str] = &["model", "input", "encoding_format", "dimensions", "user"];

const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool", "function"];

/// An API error: HTTP status plus the OpenAI error object.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>, code: Option<&str>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(str::to_string),
            code: code.map(str::to_string),
        }
    }

    pub fn body(&self) -> Value {
        error_body(&self.message, self.kind, self.param.as_deref(), self.code.as_deref())
    }
}

/// OpenAI's error envelope.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid_type(param: &str, expected: &str, got: &Value) -> ApiError {
    ApiError::invalid(
        format!("Invalid type for '{param}': expected {expected}, but got {} instead.", type_name(got)),
        Some(param),
        Some("invalid_type"),
    )
}

fn missing(param: &str) -> ApiError {
    ApiError::invalid(
        format!("Missing required parameter: '{param}'."),
        Some(param),
        Some("missing_required_parameter"),
    )
}

/// Parses a request body as a JSON object (400 as OpenAI answers otherwise).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
            None,
            None,
        )
    })?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(invalid_type("body", "an object", &other)),
    }
}

fn check_keys(obj: &Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            return Err(ApiError::invalid(format!("Unrecognized request argument supplied: {k}"), None, None));
        }
    }
    Ok(())
}

fn check_model(obj: &Map<String, Value>, expect_model: Option<&str>) -> Result<String, ApiError> {
    let model = match obj.get("model") {
        None => return Err(ApiError::invalid("you must provide a model parameter", None, None)),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(invalid_type("model", "a string", other)),
    };
    if let Some(expect) = expect_model {
        if model != expect {
            return Err(ApiError::invalid(
                format!("The model `{model}` does not exist or you do not have access to it."),
                Some("model"),
                Some("model_not_found"),
            ));
        }
    }
    Ok(model)
}

/// What the chat handler needs from a validated request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub n: u64,
    pub prompt_tokens: u64,
    /// The function to call (name, arguments) when the request offers tools, the last
    /// message is the user's and `tool_choice` is not `none`.
    pub tool_call: Option<(String, Value)>,
}

/// Validates a chat completion body; `expect_model` enforces the deployment's model id.
pub fn validate_chat(obj: &Map<String, Value>, expect_model: Option<&str>) -> Result<ChatRequest, ApiError> {
    validate_chat_opts(obj, expect_model, true)
}

/// [`validate_chat`] with `model` optional when `!model_required` (Azure: the deployment
/// names the model; an absent `model` gives an empty `ChatRequest::model`).
pub fn validate_chat_opts(
    obj: &Map<String, Value>,
    expect_model: Option<&str>,
    model_required: bool,
) -> Result<ChatRequest, ApiError> {
    check_keys(obj, CHAT_KEYS)?;
    let model_required = model_required || obj.contains_key("model");
    // Structure first (like OpenAI), the model's existence last.
    let model_shape = if model_required { check_model(obj, None)? } else { String::new() };
    let messages = match obj.get("messages") {
        None => return Err(missing("messages")),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(invalid_type("messages", "an array of objects", other)),
    };
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let mut chars = 0u64;
    for (i, m) in messages.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(invalid_type(&format!("messages[{i}]"), "an object", m));
        };
        let role = match m.get("role") {
            None => return Err(missing(&format!("messages[{i}].role"))),
            Some(Value::String(r)) => r.as_str(),
            Some(other) => return Err(invalid_type(&format!("messages[{i}].role"), "a string", other)),
        };
        if !ROLES.contains(&role) {
            return Err(ApiError::invalid(
                format!(
                    "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
                ),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
        let may_omit_content = role == "assistant" && (m.contains_key("tool_calls") || m.contains_key("function_call"));
        match m.get("content") {
            None if may_omit_content => {}
            None => return Err(missing(&format!("messages[{i}].content"))),
            Some(Value::Null) if may_omit_content => {}
            Some(Value::String(s)) => chars += s.chars().count() as u64,
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        chars += t.chars().count() as u64;
                    }
                }
            }
            Some(other) => {
                return Err(invalid_type(
                    &format!("messages[{i}].content"),
                    "one of a string or array of objects",
                    other,
                ))
            }
        }
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid_type("stream", "a boolean", other)),
    };
    let mut include_usage = false;
    match obj.get("stream_options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            if !stream {
                return Err(ApiError::invalid(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                    Some("stream_options"),
                    None,
                ));
            }
            include_usage = match o.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => return Err(invalid_type("stream_options.include_usage", "a boolean", other)),
            };
        }
        Some(other) => return Err(invalid_type("stream_options", "an object", other)),
    }
    let n = match obj.get("n") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=128).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(
                    format!("Invalid value for 'n': {v}. Expected an integer between 1 and 128."),
                    Some("n"),
                    Some("invalid_value"),
                ))
            }
        },
    };
    let tool_call = chat_tool_call(obj, messages)?;
    let model = if model_required { check_model(obj, expect_model)? } else { String::new() };
    debug_assert_eq!(model, model_shape);
    Ok(ChatRequest { model, stream, include_usage, n, prompt_tokens: chars / 4 + messages.len() as u64, tool_call })
}

/// Whether the "model" calls a function: tools offered, `tool_choice` not `none`, and
/// the conversation ends with a user message (a `tool` message gets a text answer).
fn chat_tool_call(obj: &Map<String, Value>, messages: &[Value]) -> Result<Option<(String, Value)>, ApiError> {
    let Some(Value::Array(tools)) = obj.get("tools") else {
        return Ok(None);
    };
    let mut fns: Vec<(String, Value)> = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let f = t.get("function");
        let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
        match (t.get("type").and_then(Value::as_str), name) {
            (Some("function"), Some(n)) => {
                fns.push((n.to_string(), f.and_then(|f| f.get("parameters")).cloned().unwrap_or(json!({}))))
            }
            (Some("function"), None) => return Err(missing(&format!("tools[{i}].function.name"))),
            _ => {}
        }
    }
    if fns.is_empty() {
        return Ok(None);
    }
    let forced = match obj.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => return Ok(None),
        Some(Value::Object(o)) => {
            o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_string)
        }
        _ => None,
    };
    let last_role = messages.last().and_then(|m| m.get("role")).and_then(Value::as_str);
    if last_role != Some("user") {
        return Ok(None);
    }
    let (name, schema) = match forced {
        Some(f) => match fns.iter().find(|(n, _)| *n == f) {
            Some(x) => x.clone(),
            None => {
                return Err(ApiError::invalid(
                    format!("Invalid value for 'tool_choice': function '{f}' is not among the tools."),
                    Some("tool_choice"),
                    Some("invalid_value"),
                ))
            }
        },
        None => fns[0].clone(),
    };
    Ok(Some((name, super::fake_content::tool_input_from_schema(&schema))))
}

/// The `tool_calls` entry for a call (OpenAI's shape, arguments as a JSON string).
pub fn tool_call_json(id: &str, name: &str, args: &Value) -> Value {
    json!({"id": format!("call_{}", id.rsplit('-').next().unwrap_or(id)), "type": "function",
           "function": {"name": name, "arguments": args.to_string()}})
}

/// Validates a legacy completion body; returns the model.
pub fn validate_completion(obj: &Map<String, Value>, expect_model: Option<&str>) -> Result<String, ApiError> {
    check_keys(obj, COMPLETION_KEYS)?;
    check_model(obj, None)?;
    match obj.get("prompt") {
        None => return Err(missing("prompt")),
        Some(Value::String(_)) | Some(Value::Array(_)) => {}
        Some(other) => return Err(invalid_type("prompt", "a string or array", other)),
    }
    check_model(obj, expect_model)
}

/// Validates an embeddings body; returns the model and the number of inputs.
pub fn validate_embeddings(obj: &Map<String, Value>, expect_model: Option<&str>) -> Result<(String, usize), ApiError> {
    check_keys(obj, EMBEDDING_KEYS)?;
    check_model(obj, None)?;
    let n =
        match obj.get("input") {
            None => return Err(missing("input")),
            Some(Value::String(_)) => 1,
            Some(Value::Array(a)) if !a.is_empty() => a.len(),
            Some(Value::Array(_)) => return Err(ApiError::invalid(
                "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
                Some("input"),
                None,
            )),
            Some(other) => return Err(invalid_type("input", "a string or array", other)),
        };
    Ok((check_model(obj, expect_model)?, n))
}

/// Splits `text` into `n` consecutive pieces whose concatenation is `text`
/// (pieces may be empty when `n` exceeds the number of characters).
pub fn split_text(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    (0..n).map(|i| chars[i * chars.len() / n..(i + 1) * chars.len() / n].iter().collect()).collect()
}

pub fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// A complete non-streaming `chat.completion` object.
pub fn chat_completion(id: &str, created: u64, req: &ChatRequest, content: &str, completion_tokens: u64) -> Value {
    let choices: Vec<Value> = (0..req.n)
        .map(|i| match &req.tool_call {
            Some((name, args)) => json!({
                "index": i,
                "message": {"role": "assistant", "content": null, "refusal": null,
                            "tool_calls": [tool_call_json(id, name, args)]},
                "logprobs": null,
                "finish_reason": "tool_calls"
            }),
            None => json!({
                "index": i,
                "message": {"role": "assistant", "content": content, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }),
        })
        .collect();
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "system_fingerprint": "fp_mock",
        "choices": choices,
        "usage": usage(req.prompt_tokens, completion_tokens * req.n),
    })
}

/// The SSE `data:` payloads of a streamed chat completion, in order, without
/// the final `[DONE]`: role chunk, one chunk per piece, finish chunk, and the
/// usage chunk when `include_usage`.
pub fn chat_chunks(id: &str, created: u64, req: &ChatRequest, pieces: &[String]) -> Vec<Value> {
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": req.model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if req.include_usage {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut out = Vec::new();
    match &req.tool_call {
        Some((name, args)) => {
            let mut call = tool_call_json(id, name, args);
            call["index"] = json!(0);
            call["function"]["arguments"] = json!("");
            out.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [call], "refusal": null}),
                Value::Null,
            ));
            for p in split_text(&args.to_string(), pieces.len().max(1)) {
                out.push(chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}), Value::Null));
            }
            out.push(chunk(json!({}), json!("tool_calls")));
        }
        None => {
            out.push(chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null));
            for p in pieces {
                out.push(chunk(json!({"content": p}), Value::Null));
            }
            out.push(chunk(json!({}), json!("stop")));
        }
    }
    if req.include_usage {
        out.push(json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": req.model,
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": usage(req.prompt_tokens, pieces.len() as u64),
        }));
    }
    out
}

pub fn text_completion(id: &str, created: u64, model: &str, text: &str, tokens: u64) -> Value {
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": "stop"}],
        "usage": usage(1, tokens),
    })
}

pub fn embeddings(model: &str, inputs: usize) -> Value {
    let data: Vec<Value> = (0..inputs)
        .map(|i| {
            let v: Vec<f64> = (0..8).map(|k| ((i * 8 + k) as f64 * 0.125).sin()).collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": inputs, "total_tokens": inputs},
    })
}

/// OpenAI's SSE stream of a chat completion (`data: {chunk}` events, then `data: [DONE]`).
pub fn sse_response(id: &str, created: u64, req: &ChatRequest, content: &str, mode: &Mode) -> Response<Body> {
    sse_response_with(id, created, req, content, mode, None)
}

/// OpenAI's SSE stream, optionally preceded by one extra chunk (Azure's prompt filter results),
/// shaped by `mode`'s streaming fault.
pub fn sse_response_with(
    id: &str,
    created: u64,
    req: &ChatRequest,
    content: &str,
    mode: &Mode,
    first: Option<Value>,
) -> Response<Body> {
    plan_resp(chat_stream_plan(id, created, req, content, mode, first), mode, "text/event-stream; charset=utf-8")
}

/// The events of a streamed chat completion (`data: {chunk}`, then `data: [DONE]`), the first
/// with content (a non-empty `delta.content` or `delta.tool_calls`), and OpenAI's in-stream error.
fn chat_stream_plan(
    id: &str,
    created: u64,
    req: &ChatRequest,
    content: &str,
    mode: &Mode,
    first: Option<Value>,
) -> StreamPlan {
    let pieces = split_text(content, mode.chunks as usize);
    let chunks: Vec<Value> = first.into_iter().chain(chat_chunks(id, created, req, &pieces)).collect();
    let has_content = |c: &Value| {
        let d = &c["choices"][0]["delta"];
        d["content"].as_str().is_some_and(|s| !s.is_empty()) || d.get("tool_calls").is_some()
    };
    let first_content = chunks.iter().position(has_content).unwrap_or(chunks.len());
    let mut events: Vec<Bytes> = chunks.iter().map(|c| Bytes::from(format!("data: {c}\n\n"))).collect();
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    StreamPlan { events, first_content, error_event: Bytes::from(format!("data: {}\n\n", stream_error())) }
}

/// The error OpenAI sends inside a stream (a `data:` event with no `choices`); the stream then
/// ends without `[DONE]`.
pub fn stream_error() -> Value {
    error_body("The server had an error while processing your request. Sorry about that!", "server_error", None, None)
}
