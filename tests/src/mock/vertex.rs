//! Vertex AI: Claude (`publishers/anthropic`, `:rawPredict` / `:streamRawPredict`) and
//! Gemini (`publishers/google`, `:generateContent` / `:streamGenerateContent[?alt=sse]`).
//!
//! `POST /v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}`
//! (`v1beta1` too). Auth is `Authorization: Bearer TOKEN`, checked against the tokens the
//! mock knows (`--bearer-token`, never expiring, and `POST /_mock/tokens`, with an expiry).
//!
//! Gemini on Google AI Studio too (`generativelanguage.googleapis.com`): `POST
//! /v1beta/models/{model}:{method}` with the API key in `x-goog-api-key` (checked against
//! `--api-key` when given); the body and answers are Gemini's, as on Vertex.
//! Google errors: `{"error": {"code", "message", "status", "details"}}`.

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Response;
use serde_json::{json, Map, Value};

use super::fake_content::{tokens_of, tool_input_from_schema};
use super::fault_mode::Mode;
use super::openai;
use super::response::{json_resp, plan_resp, Body, StreamPlan};

/// A parsed Vertex model path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version: String,
    pub project: String,
    pub location: String,
    pub publisher: String,
    pub model: String,
    pub method: String,
}

impl Route {
    /// Google AI Studio's path (`/v1beta/models/{model}:{method}`): no project or location.
    pub fn is_ai_studio(&self) -> bool {
        self.project.is_empty()
    }

    /// `projects/P/locations/L/publishers/X/models/M` (for error messages).
    pub fn resource(&self) -> String {
        format!(
            "projects/{}/locations/{}/publishers/{}/models/{}",
            self.project, self.location, self.publisher, self.model
        )
    }
}

/// Parses a Vertex model path (`:` may arrive as `%3A`).
pub fn route(path: &str) -> Option<Route> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    let segs: Vec<&str> = decoded.trim_start_matches('/').split('/').collect();
    if let ["v1beta", "models", model_method] = segs[..] {
        let (model, method) = model_method.split_once(':')?;
        return (!model.is_empty() && !method.is_empty()).then(|| Route {
            version: "v1beta".into(),
            project: String::new(),
            location: String::new(),
            publisher: "google".into(),
            model: model.to_string(),
            method: method.to_string(),
        });
    }
    if segs.len() != 9
        || !matches!(segs[0], "v1" | "v1beta1")
        || segs[1] != "projects"
        || segs[3] != "locations"
        || segs[5] != "publishers"
        || segs[7] != "models"
    {
        return None;
    }
    let (model, method) = segs[8].split_once(':')?;
    if [segs[2], segs[4], segs[6], model, method].iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(Route {
        version: segs[0].to_string(),
        project: segs[2].to_string(),
        location: segs[4].to_string(),
        publisher: segs[6].to_string(),
        model: model.to_string(),
        method: method.to_string(),
    })
}

/// A Google API error.
#[derive(Debug, Clone)]
pub struct GoogleError {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
    pub details: Vec<Value>,
}

impl GoogleError {
    pub fn new(code: u16, status: &'static str, message: impl Into<String>) -> Self {
        GoogleError { code, status, message: message.into(), details: Vec::new() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", message)
    }

    /// 401 `UNAUTHENTICATED` with an `ErrorInfo` reason (`CREDENTIALS_MISSING`,
    /// `ACCESS_TOKEN_EXPIRED`, `ACCESS_TOKEN_TYPE_UNSUPPORTED`).
    pub fn unauthenticated(reason: &str) -> Self {
        let message = if reason == "CREDENTIALS_MISSING" {
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
        } else {
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
        };
        let mut e = Self::new(401, "UNAUTHENTICATED", message);
        e.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "aiplatform.googleapis.com", "method": "google.cloud.aiplatform.v1.PredictionService.Predict"}
        }));
        e
    }

    /// `{"error": {"code", "message", "status"[, "details"]}}`.
    pub fn body(&self) -> Value {
        let mut err = json!({"code": self.code, "message": self.message, "status": self.status});
        if !self.details.is_empty() {
            err["details"] = json!(self.details);
        }
        json!({ "error": err })
    }

    pub fn response(&self) -> Response<Body> {
        let mut r = json_resp(self.code, &self.body());
        if self.code == 401 {
            r.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""));
        }
        r
    }
}

/// The Google error an injected fault with HTTP `status` stands for.
pub fn fault(status: u16) -> GoogleError {
    match status {
        429 => GoogleError::new(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."),
        503 => GoogleError::new(503, "UNAVAILABLE", "The service is currently unavailable."),
        504 => GoogleError::new(504, "DEADLINE_EXCEEDED", "Deadline exceeded."),
        500 => GoogleError::new(500, "INTERNAL", "Internal error encountered."),
        400 => GoogleError::invalid("Request contains an invalid argument."),
        403 => GoogleError::new(403, "PERMISSION_DENIED", "Permission denied."),
        404 => GoogleError::new(404, "NOT_FOUND", "Not found."),
        s if s >= 500 => GoogleError::new(s, "UNAVAILABLE", "The service is currently unavailable."),
        s => GoogleError::new(s, "FAILED_PRECONDITION", "Precondition failed."),
    }
}

/// `snake_case` → `lowerCamelCase` (Google's JSON parser accepts both spellings).
fn camel(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    let mut up = false;
    for c in k.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn unknown_name(k: &str, at: &str) -> GoogleError {
    let at = if at.is_empty() { String::new() } else { format!(" at '{at}'") };
    let mut e =
        GoogleError::invalid(format!("Invalid JSON payload received. Unknown name \"{k}\"{at}: Cannot find field."));
    e.details.push(json!({
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": at.trim_start_matches(" at '").trim_end_matches('\''), "description": format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot find field.")}]
    }));
    e
}

fn check_fields(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), GoogleError> {
    match obj.keys().find(|k| !allowed.contains(&camel(k).as_str())) {
        Some(k) => Err(unknown_name(k, at)),
        None => Ok(()),
    }
}

fn get<'a>(obj: &'a Map<String, Value>, camel_name: &str) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| camel(k) == camel_name).map(|(_, v)| v)
}

/// Fields of a Vertex `GenerateContentRequest`.
pub const GENERATE_KEYS: &[&str] = &[
    "model",
    "contents",
    "systemInstruction",
    "cachedContent",
    "tools",
    "toolConfig",
    "labels",
    "safetySettings",
    "generationConfig",
    "modelArmorConfig",
];

/// Fields of `GenerationConfig`.
pub const GENERATION_CONFIG_KEYS: &[&str] = &[
    "temperature",
    "topP",
    "topK",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseLogprobs",
    "logprobs",
    "presencePenalty",
    "frequencyPenalty",
    "seed",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "routingConfig",
    "audioTimestamp",
    "responseModalities",
    "mediaResolution",
    "speechConfig",
    "thinkingConfig",
];

const PART_KEYS: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "videoMetadata",
    "thought",
    "thoughtSignature",
];

/// What the Gemini handler needs.
#[derive(Debug, Clone)]
pub struct GeminiRequest {
    pub input_tokens: u64,
    pub tool_call: Option<(String, Value)>,
}

/// Validates a `generateContent` body.
pub fn validate_gemini(body: &[u8]) -> Result<GeminiRequest, GoogleError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| GoogleError::invalid(format!("Invalid JSON payload received. {e}")))?;
    let obj =
        v.as_object().ok_or_else(|| GoogleError::invalid("Invalid JSON payload received. Expected an object."))?;
    check_fields(obj, GENERATE_KEYS, "")?;
    let contents = match get(obj, "contents") {
        None => return Err(GoogleError::invalid("* GenerateContentRequest.contents: contents is not specified\n")),
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(GoogleError::invalid("* GenerateContentRequest.contents: contents is not specified\n"))
        }
        Some(_) => {
            return Err(GoogleError::invalid("Invalid JSON payload received. Expected a list for \"contents\"."))
        }
    };
    let mut chars = 0u64;
    let mut last_role = "user";
    let mut last_has_function_response = false;
    for (i, c) in contents.iter().enumerate() {
        let at = format!("contents[{i}]");
        let co = c
            .as_object()
            .ok_or_else(|| GoogleError::invalid(format!("Invalid value at '{at}': expected an object")))?;
        check_fields(co, &["role", "parts"], &at)?;
        let role = match co.get("role") {
            None => "user",
            Some(Value::String(r)) if r == "user" || r == "model" => r.as_str(),
            Some(_) => return Err(GoogleError::invalid("Please use a valid role: user, model.")),
        };
        let parts = match co.get("parts") {
            Some(Value::Array(p)) if !p.is_empty() => p,
            _ => {
                return Err(GoogleError::invalid(format!(
                    "Unable to submit request because it must include at least one parts field, which describes the prompt input. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini ({at})"
                )))
            }
        };
        let mut has_fr = false;
        for (j, p) in parts.iter().enumerate() {
            let pat = format!("{at}.parts[{j}]");
            let po = p
                .as_object()
                .ok_or_else(|| GoogleError::invalid(format!("Invalid value at '{pat}': expected an object")))?;
            check_fields(po, PART_KEYS, &pat)?;
            if let Some(t) = get(po, "text") {
                let t = t
                    .as_str()
                    .ok_or_else(|| GoogleError::invalid(format!("Invalid value at '{pat}.text' (TYPE_STRING)")))?;
                if t.is_empty() {
                    return Err(GoogleError::invalid(
                        "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini",
                    ));
                }
                chars += t.chars().count() as u64;
            }
            if get(po, "functionResponse").is_some() {
                has_fr = true;
            }
            let data_parts = PART_KEYS
                .iter()
                .filter(|k| !matches!(**k, "thought" | "thoughtSignature" | "videoMetadata"))
                .filter(|k| get(po, k).is_some())
                .count();
            if data_parts != 1 {
                return Err(GoogleError::invalid(format!(
                    "Invalid value at '{pat}': a part must contain exactly one of text, inlineData, fileData, functionCall, functionResponse"
                )));
            }
        }
        last_role = role;
        last_has_function_response = has_fr;
    }
    if let Some(si) = get(obj, "systemInstruction") {
        let so = si
            .as_object()
            .ok_or_else(|| GoogleError::invalid("Invalid value at 'system_instruction': expected an object"))?;
        check_fields(so, &["role", "parts"], "system_instruction")?;
        for p in so.get("parts").and_then(Value::as_array).into_iter().flatten() {
            if let Some(t) = p.get("text").and_then(Value::as_str) {
                chars += t.chars().count() as u64;
            }
        }
    }
    if let Some(gc) = get(obj, "generationConfig") {
        let go = gc
            .as_object()
            .ok_or_else(|| GoogleError::invalid("Invalid value at 'generation_config': expected an object"))?;
        check_fields(go, GENERATION_CONFIG_KEYS, "generation_config")?;
        if let Some(t) = get(go, "temperature").and_then(Value::as_f64) {
            if !(0.0..=2.0).contains(&t) {
                return Err(GoogleError::invalid(format!(
                    "Unable to submit request because it has a temperature value of {t} but the supported range is from 0 (inclusive) to 2.0001 (exclusive). Update the value and try again."
                )));
            }
        }
        if let Some(m) = get(go, "maxOutputTokens") {
            if m.as_i64().is_none_or(|n| n < 1) {
                return Err(GoogleError::invalid(
                    "Unable to submit request because it has a maxOutputTokens value that is not supported. Update the value and try again.",
                ));
            }
        }
    }
    let mut functions: Vec<(String, Value)> = Vec::new();
    if let Some(tools) = get(obj, "tools") {
        let arr = tools.as_array().ok_or_else(|| GoogleError::invalid("Invalid value at 'tools': expected a list"))?;
        for (i, t) in arr.iter().enumerate() {
            let at = format!("tools[{i}]");
            let to = t.as_object().ok_or_else(|| GoogleError::invalid(format!("Invalid value at '{at}'")))?;
            check_fields(
                to,
                &[
                    "functionDeclarations",
                    "retrieval",
                    "googleSearch",
                    "googleSearchRetrieval",
                    "codeExecution",
                    "urlContext",
                    "enterpriseWebSearch",
                ],
                &at,
            )?;
            for (j, fd) in get(to, "functionDeclarations").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let fat = format!("{at}.function_declarations[{j}]");
                let fo = fd.as_object().ok_or_else(|| GoogleError::invalid(format!("Invalid value at '{fat}'")))?;
                check_fields(
                    fo,
                    &["name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema"],
                    &fat,
                )?;
                let name = fo.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    return Err(GoogleError::invalid(format!(
                        "* GenerateContentRequest.{fat}.name: [FIELD_INVALID] Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.) or dashes (-), with a maximum length of 64.\n"
                    )));
                }
                let schema =
                    get(fo, "parameters").or_else(|| get(fo, "parametersJsonSchema")).cloned().unwrap_or(json!({}));
                functions.push((name.to_string(), schema));
            }
        }
    }
    let mut forced: Option<String> = None;
    let mut mode_none = false;
    if let Some(tc) = get(obj, "toolConfig") {
        if let Some(fcc) = tc.as_object().and_then(|o| get(o, "functionCallingConfig")) {
            let mode = fcc.get("mode").and_then(Value::as_str).unwrap_or("AUTO");
            mode_none = mode == "NONE";
            if let Some(names) = fcc.as_object().and_then(|o| get(o, "allowedFunctionNames")).and_then(Value::as_array)
            {
                forced = names.first().and_then(Value::as_str).map(str::to_string);
            }
        }
    }
    let tool_call = if !functions.is_empty() && !mode_none && last_role == "user" && !last_has_function_response {
        let (name, schema) = forced
            .as_ref()
            .and_then(|f| functions.iter().find(|(n, _)| n == f).cloned())
            .unwrap_or_else(|| functions[0].clone());
        Some((name, tool_input_from_schema(&schema)))
    } else {
        None
    };
    Ok(GeminiRequest { input_tokens: tokens_of(chars) + contents.len() as u64, tool_call })
}

fn usage(req: &GeminiRequest, out: u64) -> Value {
    json!({
        "promptTokenCount": req.input_tokens,
        "candidatesTokenCount": out,
        "totalTokenCount": req.input_tokens + out,
        "trafficType": "ON_DEMAND",
    })
}

fn gemini_chunk(parts: Value, finish: Option<&str>, usage_md: Option<Value>, model: &str, seq: u64) -> Value {
    let mut cand = json!({"content": {"role": "model", "parts": parts}});
    if let Some(f) = finish {
        cand["finishReason"] = json!(f);
    }
    let mut v = json!({
        "candidates": [cand],
        "modelVersion": model,
        "createTime": "2025-01-01T00:00:00.000000Z",
        "responseId": format!("mockresp{seq:012}"),
    });
    if let Some(u) = usage_md {
        v["usageMetadata"] = u;
    }
    v
}

/// The `generateContent` answer.
pub fn generate_response(req: &GeminiRequest, text: &str, mode: &Mode, model: &str, seq: u64) -> Response<Body> {
    let out = mode.chunks.max(1) as u64;
    let parts = match &req.tool_call {
        Some((name, args)) => json!([{"functionCall": {"name": name, "args": args}}]),
        None => json!([{ "text": text }]),
    };
    json_resp(200, &gemini_chunk(parts, Some("STOP"), Some(usage(req, out)), model, seq))
}

/// The `streamGenerateContent` answer: SSE (`data: {...}\r\n\r\n`) with `alt=sse`, else
/// one JSON array written piece by piece, as Vertex does; shaped by `mode`'s streaming fault.
pub fn stream_generate_response(
    req: &GeminiRequest,
    text: &str,
    mode: &Mode,
    model: &str,
    seq: u64,
    sse: bool,
) -> Response<Body> {
    let n = mode.chunks.max(1) as usize;
    let mut chunks: Vec<Value> = Vec::new();
    match &req.tool_call {
        Some((name, args)) => chunks.push(gemini_chunk(
            json!([{"functionCall": {"name": name, "args": args}}]),
            Some("STOP"),
            Some(usage(req, n as u64)),
            model,
            seq,
        )),
        None => {
            let pieces: Vec<String> = openai::split_text(text, n).into_iter().filter(|p| !p.is_empty()).collect();
            let last = pieces.len().saturating_sub(1);
            for (i, p) in pieces.iter().enumerate() {
                let end = i == last;
                chunks.push(gemini_chunk(
                    json!([{ "text": p }]),
                    end.then_some("STOP"),
                    end.then(|| usage(req, n as u64)),
                    model,
                    seq,
                ));
            }
        }
    }
    // The in-stream error is Google's error object in place of a chunk (first: Gemini sends
    // nothing before its first content).
    let error = fault(mode.status).body();
    let (events, error_event) = if sse {
        let events = chunks.iter().map(|c| Bytes::from(format!("data: {c}\r\n\r\n"))).collect();
        (events, Bytes::from(format!("data: {error}\r\n\r\n")))
    } else {
        let last = chunks.len() - 1;
        let events = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let open = if i == 0 { "[" } else { "" };
                let close = if i == last { "]" } else { ",\r\n" };
                Bytes::from(format!("{open}{c}{close}"))
            })
            .collect();
        (events, Bytes::from(format!("[{error}]")))
    };
    let ct = if sse { "text/event-stream" } else { "application/json; charset=UTF-8" };
    plan_resp(StreamPlan { events, first_content: 0, error_event }, mode, ct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = route("/v1/projects/p1/locations/europe-west1/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022:streamRawPredict").unwrap();
        assert_eq!(r.location, "europe-west1");
        assert_eq!(r.publisher, "anthropic");
        assert_eq!(r.model, "claude-3-5-sonnet-v2@20241022");
        assert_eq!(r.method, "streamRawPredict");
        let r =
            route("/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash%3AgenerateContent")
                .unwrap();
        assert_eq!(r.method, "generateContent");
        assert!(route("/v1/projects/p/locations/l/publishers/google/models/m").is_none());
        assert!(route("/v1/chat/completions").is_none());
    }

    #[test]
    fn gemini_rules() {
        let ok =
            br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generation_config":{"max_output_tokens":5}}"#;
        assert!(validate_gemini(ok).is_ok());
        let e = validate_gemini(br#"{"model":"x","messages":[]}"#).unwrap_err();
        assert!(e.message.contains("Unknown name \"messages\""), "{}", e.message);
        let e = validate_gemini(br#"{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}"#).unwrap_err();
        assert!(e.message.contains("valid role"));
        let e = validate_gemini(br#"{"contents":[{"role":"user","parts":[{"text":""}]}]}"#).unwrap_err();
        assert!(e.message.contains("empty text"));
        let e = validate_gemini(br#"{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"max_tokens":5}}"#)
            .unwrap_err();
        assert!(e.message.contains("Unknown name \"max_tokens\""));
        let tools = br#"{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"q":{"type":"STRING"}},"required":["q"]}}]}]}"#;
        let r = validate_gemini(tools).unwrap();
        assert_eq!(r.tool_call.unwrap().0, "f");
    }
}
