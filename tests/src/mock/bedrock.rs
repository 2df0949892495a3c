//! Bedrock Runtime Converse / ConverseStream, checked as Bedrock checks them.
//!
//! `POST /model/{modelId}/converse` and `/model/{modelId}/converse-stream` (the model id
//! URL-encoded, e.g. `anthropic.claude-3-5-sonnet-20241022-v2%3A0`). Errors are AWS JSON:
//! status, `x-amzn-ErrorType: NAME:NAMESPACE`, `x-amzn-RequestId`, body `{"message": ...}`.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Response;
use serde_json::{json, Map, Value};

use super::fake_content::{tokens_of, tool_input_from_schema};
use super::fault_mode::Mode;
use super::response::{json_resp, plan_resp, stream_resp, Body, StreamPlan, RECORD_STREAM_TIMES};
use super::{eventstream, openai};

/// Top-level keys of a Converse request body.
pub const CONVERSE_KEYS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
];

/// Keys of `inferenceConfig`.
pub const INFERENCE_KEYS: &[&str] = &["maxTokens", "temperature", "topP", "stopSequences"];

/// Members of the `ContentBlock` union in messages.
pub const CONTENT_BLOCK_KINDS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
];

const SYSTEM_BLOCK_KINDS: &[&str] = &["text", "guardContent", "cachePoint"];
const TOOL_RESULT_KINDS: &[&str] = &["text", "json", "image", "document", "video"];

/// Padding Bedrock adds to stream events (clients must ignore unknown keys).
const PAD: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

/// An AWS-shaped error.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
    /// The `x-amzn-ErrorType` namespace (service errors vs. front-door auth errors).
    pub namespace: &'static str,
}

const NS_BEDROCK: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";
const NS_CORAL: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

impl AwsError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> AwsError {
        AwsError { status, kind, message: message.into(), namespace: NS_BEDROCK }
    }

    pub fn validation(message: impl Into<String>) -> AwsError {
        AwsError::new(400, "ValidationException", message)
    }

    /// A front-door authentication error (403, coral service namespace).
    pub fn auth(kind: &'static str, message: impl Into<String>) -> AwsError {
        AwsError { status: 403, kind, message: message.into(), namespace: NS_CORAL }
    }

    pub fn response(&self, seq: u64) -> Response<Body> {
        let mut r = json_resp(self.status, &json!({ "message": self.message }));
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&format!("{}:{}", self.kind, self.namespace)) {
            h.insert("x-amzn-errortype", v);
        }
        add_request_id(h, seq);
        r
    }
}

/// `x-amzn-RequestId` (a UUID-shaped id derived from the sequence number).
pub fn add_request_id(h: &mut hyper::HeaderMap, seq: u64) {
    let id = format!("00000000-0000-4000-8000-{seq:012x}");
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-amzn-requestid", v);
    }
}

/// The Bedrock error an injected fault with HTTP `status` stands for.
pub fn fault(status: u16) -> AwsError {
    match status {
        429 => AwsError::new(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        503 => AwsError::new(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
        500 => AwsError::new(
            500,
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
        ),
        408 => AwsError::new(
            408,
            "ModelTimeoutException",
            "Model has timed out in processing the request. Try your request again.",
        ),
        424 => AwsError::new(
            424,
            "ModelErrorException",
            "The system encountered an unexpected error during processing. Try your request again.",
        ),
        403 => AwsError::new(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        404 => AwsError::new(404, "ResourceNotFoundException", "The specified resource could not be found."),
        s if s >= 500 => AwsError::new(s, "ServiceUnavailableException", "Bedrock is unable to process your request."),
        s => AwsError::new(s, "ValidationException", "The request is not valid."),
    }
}

/// The 403s Bedrock answers when the caller's credentials or model access fail, by name.
pub const AUTH_FAULTS: &[&str] = &["AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"];

/// Bedrock's refusal named `name` (one of [`AUTH_FAULTS`]), as the service sends it: 403, the
/// name in `x-amzn-ErrorType`, `{"message": ...}`. Token errors come from AWS's front door
/// (the coral namespace); a model not enabled for the account is Bedrock's own.
pub fn auth_fault(name: &str) -> Option<AwsError> {
    Some(match name {
        "AccessDeniedException" => fault(403),
        "UnrecognizedClientException" => {
            AwsError::auth("UnrecognizedClientException", "The security token included in the request is invalid.")
        }
        "ExpiredTokenException" => {
            AwsError::auth("ExpiredTokenException", "The security token included in the request is expired")
        }
        _ => return None,
    })
}

/// Which operation a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Converse { model_id: String },
    ConverseStream { model_id: String },
}

/// Parses `/model/{id}/converse[-stream]`; the id is percent-decoded.
pub fn route(path: &str) -> Option<Op> {
    let rest = path.strip_prefix("/model/")?;
    let (id, op) = rest.rsplit_once('/')?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let id = percent_encoding::percent_decode_str(id).decode_utf8().ok()?.into_owned();
    match op {
        "converse" => Some(Op::Converse { model_id: id }),
        "converse-stream" => Some(Op::ConverseStream { model_id: id }),
        _ => None,
    }
}

/// What the handler needs from a validated Converse request.
#[derive(Debug, Clone)]
pub struct ConverseRequest {
    pub input_tokens: u64,
    /// The tool to call (name, input), when the model "decides" to call one.
    pub tool_call: Option<(String, Value)>,
}

fn extraneous(key: &str) -> AwsError {
    AwsError::validation(format!(
        "Malformed input request: extraneous key [{key}] is not permitted, please reformat your input and try again."
    ))
}

fn not_null(path: &str) -> AwsError {
    AwsError::validation(format!(
        "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
    ))
}

fn wrong_type(path: &str, expected: &str) -> AwsError {
    AwsError::validation(format!(
        "Malformed input request: #/{path}: expected type: {expected}, please reformat your input and try again."
    ))
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), AwsError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(extraneous(k)),
        None => Ok(()),
    }
}

/// The single member of a union object (`{"text": ...}`), checked against `kinds`.
fn union_member<'a>(block: &'a Value, path: &str, kinds: &[&str]) -> Result<(&'a str, &'a Value), AwsError> {
    let obj = block.as_object().ok_or_else(|| wrong_type(path, "JSONObject"))?;
    if let Some(k) = obj.keys().find(|k| !kinds.contains(&k.as_str())) {
        return Err(extraneous(k));
    }
    match obj.len() {
        1 => {
            let (k, v) = obj.iter().next().unwrap();
            Ok((k.as_str(), v))
        }
        0 => Err(AwsError::validation(format!(
            "The content block at {path} is empty. Add content to the block and try again."
        ))),
        _ => Err(AwsError::validation(format!(
            "Malformed input request: #/{path}: only 1 subschema matches out of 2, please reformat your input and try again."
        ))),
    }
}

fn check_text(v: &Value, path: &str) -> Result<u64, AwsError> {
    let t = v.as_str().ok_or_else(|| wrong_type(path, "String"))?;
    if t.trim().is_empty() {
        return Err(AwsError::validation(format!(
            "The text field in the ContentBlock object at {} is blank. Add text to the text field, and try again.",
            path.trim_end_matches(".text")
        )));
    }
    Ok(t.chars().count() as u64)
}

/// Validates a Converse body. `model_ok` is whether the URL's model id exists here.
pub fn validate(body: &[u8], model_ok: bool) -> Result<ConverseRequest, AwsError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        AwsError::new(
            400,
            "SerializationException",
            format!("Malformed input request: {e}, please reformat your input and try again."),
        )
    })?;
    let obj = v.as_object().ok_or_else(|| {
        AwsError::new(
            400,
            "SerializationException",
            "Malformed input request: expected a JSON object, please reformat your input and try again.",
        )
    })?;
    check_keys(obj, CONVERSE_KEYS)?;
    let messages = match obj.get("messages") {
        None | Some(Value::Null) => return Err(not_null("messages")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(wrong_type("messages", "JSONArray")),
    };
    if messages.is_empty() {
        return Err(AwsError::validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    let has_tool_config = obj.get("toolConfig").is_some_and(|t| !t.is_null());
    let mut chars = 0u64;
    let mut prev_role = "";
    let mut prev_tool_ids: Vec<String> = Vec::new();
    let mut last_has_tool_result = false;
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages.{i}");
        let mo = m.as_object().ok_or_else(|| wrong_type(&format!("messages/{i}"), "JSONObject"))?;
        check_keys(mo, &["role", "content"])?;
        let role = match mo.get("role") {
            None | Some(Value::Null) => return Err(not_null(&format!("messages.{i}.member.role"))),
            Some(Value::String(r)) => r.as_str(),
            Some(_) => return Err(wrong_type(&format!("messages/{i}/role"), "String")),
        };
        if role != "user" && role != "assistant" {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
            )));
        }
        if i == 0 && role != "user" {
            return Err(AwsError::validation(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
            ));
        }
        if role == prev_role {
            return Err(AwsError::validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        let content = match mo.get("content") {
            None | Some(Value::Null) => return Err(not_null(&format!("messages.{}.member.content", i + 1))),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(wrong_type(&format!("messages/{i}/content"), "JSONArray")),
        };
        if content.is_empty() {
            return Err(AwsError::validation(format!(
                "The content field in the Message object at {path} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        let mut tool_use_ids = Vec::new();
        let mut tool_result_ids = Vec::new();
        for (j, block) in content.iter().enumerate() {
            let bpath = format!("{path}.content.{j}");
            let (kind, val) = union_member(block, &bpath, CONTENT_BLOCK_KINDS)?;
            match kind {
                "text" => chars += check_text(val, &format!("{bpath}.text"))?,
                "toolUse" => {
                    if role != "assistant" {
                        return Err(AwsError::validation(format!(
                            "A toolUse block is only allowed in an assistant message ({bpath})."
                        )));
                    }
                    let tu = val.as_object().ok_or_else(|| wrong_type(&bpath, "JSONObject"))?;
                    check_keys(tu, &["toolUseId", "name", "input"])?;
                    let id = tu
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| not_null(&format!("{bpath}.toolUse.toolUseId")))?;
                    tu.get("name").and_then(Value::as_str).ok_or_else(|| not_null(&format!("{bpath}.toolUse.name")))?;
                    match tu.get("input") {
                        Some(Value::Object(_)) => {}
                        None | Some(Value::Null) => {
                            return Err(not_null(&format!("{bpath}.toolUse.input")))
                        }
                        Some(_) => {
                            return Err(AwsError::validation(format!(
                                "The format of the value at {bpath}.toolUse.input is invalid. Provide a json object for the field and try again."
                            )))
                        }
                    }
                    tool_use_ids.push(id.to_string());
                }
                "toolResult" => {
                    if role != "user" {
                        return Err(AwsError::validation(format!(
                            "A toolResult block is only allowed in a user message ({bpath})."
                        )));
                    }
                    let tr = val.as_object().ok_or_else(|| wrong_type(&bpath, "JSONObject"))?;
                    check_keys(tr, &["toolUseId", "content", "status"])?;
                    let id = tr
                        .get("toolUseId")
                        .and_then(Value::as_str)
                        .ok_or_else(|| not_null(&format!("{bpath}.toolResult.toolUseId")))?;
                    let parts = tr
                        .get("content")
                        .and_then(Value::as_array)
                        .ok_or_else(|| not_null(&format!("{bpath}.toolResult.content")))?;
                    for (k, part) in parts.iter().enumerate() {
                        let ppath = format!("{bpath}.toolResult.content.{k}");
                        let (pk, pv) = union_member(part, &ppath, TOOL_RESULT_KINDS)?;
                        if pk == "text" {
                            chars += pv.as_str().map(|s| s.chars().count() as u64).unwrap_or(0);
                        }
                    }
                    if let Some(s) = tr.get("status") {
                        if !matches!(s.as_str(), Some("success" | "error")) {
                            return Err(AwsError::validation(format!(
                                "1 validation error detected: Value '{s}' at '{bpath}.toolResult.status' failed to satisfy constraint: Member must satisfy enum value set: [success, error]"
                            )));
                        }
                    }
                    tool_result_ids.push(id.to_string());
                }
                "image" | "document" | "video" => {
                    let o = val.as_object().ok_or_else(|| wrong_type(&bpath, "JSONObject"))?;
                    if o.get("format").is_none() || o.get("source").is_none() {
                        return Err(not_null(&format!("{bpath}.{kind}.source")));
                    }
                }
                _ => {}
            }
        }
        if (!tool_use_ids.is_empty() || !tool_result_ids.is_empty()) && !has_tool_config {
            return Err(AwsError::validation(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
            ));
        }
        if role == "user" {
            if let Some(extra) = tool_result_ids.iter().find(|id| !prev_tool_ids.contains(id)) {
                return Err(AwsError::validation(format!(
                    "The number of toolResult blocks at {path}.content exceeds the number of toolUse blocks of previous turn (unknown toolUseId {extra})."
                )));
            }
            let missing: Vec<&String> = prev_tool_ids.iter().filter(|id| !tool_result_ids.contains(id)).collect();
            if !missing.is_empty() {
                return Err(AwsError::validation(format!(
                    "Expected toolResult blocks at {path}.content for the following Ids: {}",
                    missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            last_has_tool_result = !tool_result_ids.is_empty();
        }
        prev_tool_ids = tool_use_ids;
        prev_role = role;
    }
    if let Some(sys) = obj.get("system") {
        let arr = sys.as_array().ok_or_else(|| wrong_type("system", "JSONArray"))?;
        for (i, b) in arr.iter().enumerate() {
            let p = format!("system.{i}");
            let (k, v) = union_member(b, &p, SYSTEM_BLOCK_KINDS)?;
            if k == "text" {
                chars += check_text(v, &format!("{p}.text"))?;
            }
        }
    }
    if let Some(ic) = obj.get("inferenceConfig") {
        let ic = ic.as_object().ok_or_else(|| wrong_type("inferenceConfig", "JSONObject"))?;
        check_keys(ic, INFERENCE_KEYS)?;
        if let Some(mt) = ic.get("maxTokens") {
            match mt.as_i64() {
                Some(n) if n >= 1 => {}
                Some(n) => {
                    return Err(AwsError::validation(format!(
                        "1 validation error detected: Value '{n}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
                    )))
                }
                None => return Err(wrong_type("inferenceConfig/maxTokens", "Integer")),
            }
        }
        for k in ["temperature", "topP"] {
            if let Some(x) = ic.get(k) {
                match x.as_f64() {
                    Some(f) if (0.0..=1.0).contains(&f) => {}
                    Some(f) => {
                        return Err(AwsError::validation(format!(
                            "1 validation error detected: Value '{f}' at 'inferenceConfig.{k}' failed to satisfy constraint: Member must have value less than or equal to 1"
                        )))
                    }
                    None => return Err(wrong_type(&format!("inferenceConfig/{k}"), "Number")),
                }
            }
        }
        if let Some(ss) = ic.get("stopSequences") {
            let ok = ss.as_array().is_some_and(|a| a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())));
            if !ok {
                return Err(wrong_type("inferenceConfig/stopSequences", "JSONArray of non-empty String"));
            }
        }
    }
    let mut tools: Vec<(String, Value)> = Vec::new();
    let mut forced: Option<String> = None;
    if let Some(tc) = obj.get("toolConfig") {
        let tc = tc.as_object().ok_or_else(|| wrong_type("toolConfig", "JSONObject"))?;
        check_keys(tc, &["tools", "toolChoice"])?;
        let list = match tc.get("tools") {
            Some(Value::Array(a)) if !a.is_empty() => a,
            Some(Value::Array(_)) => {
                return Err(AwsError::validation(
                    "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1",
                ))
            }
            None | Some(Value::Null) => return Err(not_null("toolConfig.tools")),
            Some(_) => return Err(wrong_type("toolConfig/tools", "JSONArray")),
        };
        for (i, t) in list.iter().enumerate() {
            let p = format!("toolConfig.tools.{i}");
            let (k, v) = union_member(t, &p, &["toolSpec", "cachePoint", "systemTool"])?;
            if k != "toolSpec" {
                continue;
            }
            let spec = v.as_object().ok_or_else(|| wrong_type(&p, "JSONObject"))?;
            check_keys(spec, &["name", "description", "inputSchema", "strict"])?;
            let name =
                spec.get("name").and_then(Value::as_str).ok_or_else(|| not_null(&format!("{p}.toolSpec.name")))?;
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{name}' at '{p}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
                )));
            }
            let schema = spec
                .get("inputSchema")
                .and_then(Value::as_object)
                .ok_or_else(|| not_null(&format!("{p}.toolSpec.inputSchema")))?;
            check_keys(schema, &["json"])?;
            let json_schema = schema
                .get("json")
                .filter(|j| j.is_object())
                .ok_or_else(|| not_null(&format!("{p}.toolSpec.inputSchema.json")))?;
            tools.push((name.to_string(), json_schema.clone()));
        }
        if let Some(choice) = tc.get("toolChoice") {
            let (k, v) = union_member(choice, "toolConfig.toolChoice", &["auto", "any", "tool"])?;
            if k == "tool" {
                let name =
                    v.get("name").and_then(Value::as_str).ok_or_else(|| not_null("toolConfig.toolChoice.tool.name"))?;
                if !tools.iter().any(|(n, _)| n == name) {
                    return Err(AwsError::validation(format!(
                        "The tool {name} specified in toolChoice is not defined in toolConfig.tools."
                    )));
                }
                forced = Some(name.to_string());
            }
        }
    }
    if let Some(x) = obj.get("additionalModelRequestFields") {
        if !x.is_object() {
            return Err(wrong_type("additionalModelRequestFields", "JSONObject"));
        }
    }
    if !model_ok {
        return Err(AwsError::validation("The provided model identifier is invalid."));
    }
    let tool_call = if !tools.is_empty() && prev_role == "user" && !last_has_tool_result {
        let (name, schema) = match &forced {
            Some(n) => tools.iter().find(|(t, _)| t == n).cloned().unwrap(),
            None => tools[0].clone(),
        };
        Some((name, tool_input_from_schema(&schema)))
    } else {
        None
    };
    Ok(ConverseRequest { input_tokens: tokens_of(chars) + messages.len() as u64, tool_call })
}

fn usage(req: &ConverseRequest, output: u64) -> Value {
    json!({
        "inputTokens": req.input_tokens,
        "outputTokens": output,
        "totalTokens": req.input_tokens + output,
    })
}

/// The Converse JSON answer.
pub fn converse_response(req: &ConverseRequest, text: &str, mode: &Mode, seq: u64) -> Response<Body> {
    let output = mode.chunks.max(1) as u64;
    let (content, stop) = match &req.tool_call {
        Some((name, input)) => {
            (json!([{"toolUse": {"toolUseId": tool_use_id(seq), "name": name, "input": input}}]), "tool_use")
        }
        None => (json!([{ "text": text }]), "end_turn"),
    };
    let mut r = json_resp(
        200,
        &json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": usage(req, output),
            "metrics": {"latencyMs": mode.latency_ms + 1},
        }),
    );
    add_request_id(r.headers_mut(), seq);
    r
}

fn tool_use_id(seq: u64) -> String {
    format!("tooluse_mock{seq:016}")
}

/// The exceptions ConverseStream sends inside the stream (`:message-type: exception`), by
/// their event-stream names.
pub const STREAM_EXCEPTIONS: &[&str] = &[
    "throttlingException",
    "serviceUnavailableException",
    "internalServerException",
    "modelStreamErrorException",
    "validationException",
];

/// The in-stream exception of `error_before_content`: `name` (one of [`STREAM_EXCEPTIONS`])
/// when given, else the one HTTP `status` stands for; the message is the HTTP error's.
pub fn stream_exception(name: Option<&str>, status: u16) -> Vec<u8> {
    let name = name.unwrap_or(match status {
        429 => "throttlingException",
        500 => "internalServerException",
        424 => "modelStreamErrorException",
        400 => "validationException",
        _ => "serviceUnavailableException",
    });
    let http_status = match name {
        "throttlingException" => 429,
        "internalServerException" => 500,
        "modelStreamErrorException" => 424,
        "validationException" => 400,
        _ => 503,
    };
    eventstream::exception(name, &fault(http_status).message)
}

/// The ConverseStream answer: event-stream frames, cut so that frames straddle writes; under
/// a streaming fault, whole frames shaped by it (the in-stream error is an exception frame).
pub fn converse_stream_response(req: &ConverseRequest, text: &str, mode: &Mode, seq: u64) -> Response<Body> {
    let n = mode.chunks.max(1) as usize;
    let pad = |i: usize| &PAD[..(i * 7) % PAD.len() + 1];
    let mut frames = vec![eventstream::event("messageStart", &json!({"role": "assistant", "p": pad(0)}))];
    // The first contentBlockDelta is the first content (a tool call's start names it only).
    let mut first_content = None;
    let stop = match &req.tool_call {
        Some((name, input)) => {
            frames.push(eventstream::event(
                "contentBlockStart",
                &json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": tool_use_id(seq), "name": name}}, "p": pad(1)}),
            ));
            let args = serde_json::to_string(input).unwrap();
            for (i, piece) in openai::split_text(&args, n).iter().enumerate() {
                if piece.is_empty() {
                    continue;
                }
                first_content.get_or_insert(frames.len());
                frames.push(eventstream::event(
                    "contentBlockDelta",
                    &json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}, "p": pad(i + 2)}),
                ));
            }
            "tool_use"
        }
        None => {
            for (i, piece) in openai::split_text(text, n).iter().enumerate() {
                if piece.is_empty() {
                    continue;
                }
                first_content.get_or_insert(frames.len());
                frames.push(eventstream::event(
                    "contentBlockDelta",
                    &json!({"contentBlockIndex": 0, "delta": {"text": piece}, "p": pad(i + 2)}),
                ));
            }
            "end_turn"
        }
    };
    let first_content = first_content.unwrap_or(frames.len());
    frames.push(eventstream::event("contentBlockStop", &json!({"contentBlockIndex": 0, "p": pad(3)})));
    frames.push(eventstream::event("messageStop", &json!({"stopReason": stop, "p": pad(4)})));
    frames.push(eventstream::event(
        "metadata",
        &json!({"usage": usage(req, n as u64), "metrics": {"latencyMs": mode.latency_ms + 1}, "p": pad(5)}),
    ));
    const CONTENT_TYPE_ES: &str = "application/vnd.amazon.eventstream";
    let mut r = if mode.fault.shapes_body() {
        let plan = StreamPlan {
            events: frames.into_iter().map(Bytes::from).collect(),
            first_content,
            error_event: Bytes::from(stream_exception(mode.error.as_deref(), mode.status)),
        };
        plan_resp(plan, mode, CONTENT_TYPE_ES)
    } else {
        // Frames are split across writes as a real connection may split them, except when a
        // benchmark times whole events.
        let writes: Vec<Bytes> = if RECORD_STREAM_TIMES.load(std::sync::atomic::Ordering::Relaxed) {
            frames.into_iter().map(Bytes::from).collect()
        } else {
            eventstream::split_writes(&frames).into_iter().map(Bytes::from).collect()
        };
        stream_resp(writes, Duration::from_millis(mode.chunk_delay_ms), CONTENT_TYPE_ES)
    };
    add_request_id(r.headers_mut(), seq);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"),
            Some(Op::Converse { model_id: "anthropic.claude-3-5-sonnet-20241022-v2:0".into() })
        );
        assert_eq!(route("/model/m/converse-stream"), Some(Op::ConverseStream { model_id: "m".into() }));
        assert_eq!(route("/model/m/invoke"), None);
        assert_eq!(route("/v1/chat/completions"), None);
    }

    #[test]
    fn validation_like_bedrock() {
        let ok = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        assert!(validate(ok, true).is_ok());
        let e = validate(br#"{"model":"x","messages":[{"role":"user","content":[{"text":"hi"}]}]}"#, true).unwrap_err();
        assert!(e.message.contains("extraneous key [model]"), "{}", e.message);
        let e =
            validate(br#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#, true).unwrap_err();
        assert!(e.message.contains("extraneous key [type]"), "{}", e.message);
        let e = validate(br#"{"messages":[{"role":"assistant","content":[{"text":"hi"}]}]}"#, true).unwrap_err();
        assert!(e.message.contains("start with a user message"));
        let e = validate(
            br#"{"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}"#,
            true,
        )
        .unwrap_err();
        assert!(e.message.contains("alternate"));
        let e = validate(
            br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"max_tokens":5}}"#,
            true,
        )
        .unwrap_err();
        assert!(e.message.contains("extraneous key [max_tokens]"));
        let e = validate(ok, false).unwrap_err();
        assert!(e.message.contains("model identifier is invalid"));
    }

    #[test]
    fn tool_turns() {
        let tools = r#""toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}}]}"#;
        let first = format!(r#"{{"messages":[{{"role":"user","content":[{{"text":"weather?"}}]}}],{tools}}}"#);
        let r = validate(first.as_bytes(), true).unwrap();
        assert_eq!(r.tool_call.as_ref().unwrap().0, "get_weather");
        assert_eq!(r.tool_call.as_ref().unwrap().1, json!({"city": "mock-city"}));
        let second = format!(
            r#"{{"messages":[{{"role":"user","content":[{{"text":"weather?"}}]}},{{"role":"assistant","content":[{{"toolUse":{{"toolUseId":"t1","name":"get_weather","input":{{"city":"x"}}}}}}]}},{{"role":"user","content":[{{"toolResult":{{"toolUseId":"t1","content":[{{"text":"sunny"}}]}}}}]}}],{tools}}}"#
        );
        assert!(validate(second.as_bytes(), true).unwrap().tool_call.is_none());
        let wrong_id = second.replace(r#""toolUseId":"t1","content""#, r#""toolUseId":"t2","content""#);
        assert!(validate(wrong_id.as_bytes(), true).is_err());
        let no_config = second.replace(&format!(",{tools}"), "");
        let e = validate(no_config.as_bytes(), true).unwrap_err();
        assert!(e.message.contains("toolConfig field must be defined"));
    }
}
