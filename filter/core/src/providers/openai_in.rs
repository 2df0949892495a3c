//! The client's OpenAI chat request, parsed once into what the translating providers need.
//!
//! Every top-level key is accounted for; nothing is dropped silently unless it is on the
//! harmless list below:
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

use serde_json::{Map, Value};

use super::ProviderKind;
use crate::RequestError;

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

pub(crate) fn bad(code: &'static str, msg: String) -> RequestError {
    RequestError::bad_request(code, msg)
}

pub(crate) fn invalid(msg: String) -> RequestError {
    bad("invalid_request", msg)
}

/// 400 for content or a parameter the provider cannot express.
pub(crate) fn unsupported(msg: String) -> RequestError {
    bad("unsupported_content", msg)
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

/// The keys of a request body, which must be a JSON object; a key whose value is `null` counts
/// as absent.
pub(crate) fn fields(body: &[u8]) -> Result<impl Iterator<Item = (String, Value)>, RequestError> {
    let top: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| invalid(format!("request body is not a JSON object: {e}")))?;
    Ok(top.into_iter().filter(|(_, value)| !value.is_null()))
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

pub(crate) fn number(key: &str, v: &Value) -> Result<f64, RequestError> {
    v.as_f64().ok_or_else(|| invalid(format!("'{key}' must be a number")))
}

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

/// Copies `src` into `dst[key]` when present (helper for the provider writers).
/// Adds a message's blocks to the provider's turns: a message of the same role as the turn before
/// it joins that turn, so that roles alternate (consecutive tool results make one user turn).
pub(crate) fn push_turn(turns: &mut Vec<(&'static str, Vec<Value>)>, role: &'static str, blocks: Vec<Value>) {
    match turns.last_mut() {
        Some((r, b)) if *r == role => b.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

pub(crate) fn put<T: Into<Value>>(dst: &mut Map<String, Value>, key: &str, src: Option<T>) {
    if let Some(v) = src {
        dst.insert(key.to_owned(), v.into());
    }
}
