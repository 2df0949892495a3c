//! Per-provider glue: which operation a request names, its auth check, its answer, and
//! the provider's shape for injected faults.

use std::time::SystemTime;

use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Response};
use serde_json::{json, Value};

use super::anthropic::{self, AnthropicError, Flavor};
use super::azure;
use super::bedrock::{self, AwsError};
use super::openai::{self, ApiError};
use super::provider::{secret_eq, AuthInfo, Provider};
use super::sigv4::{self, SigV4Error};
use super::vertex::{self, GoogleError};
use super::{json_resp, now_secs, Body, MockState, Mode};

/// One LLM request as the providers see it.
pub struct Call<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: &'a str,
    pub path_and_query: &'a str,
    pub authority: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The request's sequence number (ids in answers).
    pub seq: u64,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn body_model(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body).ok()?.get("model")?.as_str().map(str::to_string)
}

/// The provider operation (`provider.op`) and the model the request names.
pub fn classify(state: &MockState, c: &Call<'_>) -> (String, Option<String>) {
    let p = state.cfg.provider;
    let (op, model) = match p {
        Provider::OpenAi => {
            let route = c.path.strip_prefix("/v1").unwrap_or(c.path);
            let op = match route {
                "/chat/completions" => "chat.completions",
                "/completions" => "completions",
                "/embeddings" => "embeddings",
                "/models" => "models",
                _ => "unknown",
            };
            (op.to_string(), body_model(c.body))
        }
        Provider::Azure => match azure::route(c.path) {
            Some((dep, op)) => (op.to_string(), Some(dep)),
            None => ("unknown".into(), None),
        },
        Provider::Bedrock => match bedrock::route(c.path) {
            Some(bedrock::Op::Converse { model_id }) => ("converse".into(), Some(model_id)),
            Some(bedrock::Op::ConverseStream { model_id }) => ("converse-stream".into(), Some(model_id)),
            None => ("unknown".into(), None),
        },
        Provider::Anthropic => {
            let op = if c.path == "/v1/messages" { "messages" } else { "unknown" };
            (op.to_string(), body_model(c.body))
        }
        Provider::Vertex => match vertex::route(c.path) {
            Some(r) => (r.method.clone(), Some(r.model)),
            None => ("unknown".into(), None),
        },
    };
    (format!("{}.{op}", p.as_str()), model)
}

/// Checks the request's credentials as the provider's front door does. `Some(response)`
/// is the refusal.
pub fn authenticate(state: &MockState, c: &Call<'_>, now: SystemTime) -> (AuthInfo, Option<Response<Body>>) {
    let cfg = &state.cfg;
    match cfg.provider {
        Provider::OpenAi => {
            let Some(key) = cfg.api_key.as_deref() else {
                return (AuthInfo::none(), None);
            };
            let mut info = AuthInfo { scheme: "bearer", against_secret: true, ..Default::default() };
            let got = header(c.headers, "authorization").and_then(|a| a.strip_prefix("Bearer "));
            let err = match got {
                None => Some(ApiError {
                    status: 401,
                    message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.".into(),
                    kind: "invalid_request_error",
                    param: None,
                    code: None,
                }),
                Some(k) if secret_eq(k.trim(), key) => None,
                Some(k) => Some(ApiError {
                    status: 401,
                    message: format!(
                        "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                        redact(k)
                    ),
                    kind: "invalid_request_error",
                    param: None,
                    code: Some("invalid_api_key".into()),
                }),
            };
            finish(
                info_with(&mut info, err.as_ref().map(|e| e.message.clone())),
                err.map(|e| json_resp(e.status, &e.body())),
            )
        }
        Provider::Azure => {
            let mut info = AuthInfo { scheme: "api-key", against_secret: cfg.api_key.is_some(), ..Default::default() };
            let ok = match (header(c.headers, "api-key"), cfg.api_key.as_deref()) {
                (None, _) => false,
                (Some(got), Some(want)) => secret_eq(got, want),
                (Some(got), None) => !got.is_empty(),
            };
            let err = (!ok).then(|| "missing or wrong api-key".to_string());
            finish(info_with(&mut info, err.clone()), err.map(|_| azure::unauthorized()))
        }
        Provider::Anthropic => {
            let mut info =
                AuthInfo { scheme: "x-api-key", against_secret: cfg.api_key.is_some(), ..Default::default() };
            let err = match (header(c.headers, "x-api-key"), cfg.api_key.as_deref()) {
                (None, _) => Some("x-api-key header is required"),
                (Some(got), Some(want)) if !secret_eq(got, want) => Some("invalid x-api-key"),
                (Some(""), None) => Some("invalid x-api-key"),
                _ => None,
            };
            finish(
                info_with(&mut info, err.map(str::to_string)),
                err.map(|m| AnthropicError::new(401, "authentication_error", m).response(c.seq)),
            )
        }
        Provider::Bedrock if cfg.skip_signature_check => (AuthInfo { scheme: "none", ..Default::default() }, None),
        Provider::Bedrock => {
            let req = sigv4::Incoming {
                method: c.method.as_str(),
                path_and_query: c.path_and_query,
                authority: c.authority,
                headers: c.headers,
                body: c.body,
            };
            let (info, res) = sigv4::verify(&req, cfg.aws.as_ref(), &cfg.region, "bedrock", now);
            let err = res.err().map(|e: SigV4Error| AwsError::auth(e.error_type(), e.message()).response(c.seq));
            (info, err)
        }
        Provider::Vertex => {
            let mut info = AuthInfo { scheme: "bearer", ..Default::default() };
            let tokens = state.tokens();
            info.against_secret = !tokens.is_empty();
            let got = header(c.headers, "authorization")
                .and_then(|a| a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("bearer ")));
            let reason = match got.map(str::trim) {
                None | Some("") => Some("CREDENTIALS_MISSING"),
                Some(_) if tokens.is_empty() => None,
                Some(t) => match tokens.iter().find(|k| secret_eq(&k.token, t)) {
                    None => Some("ACCESS_TOKEN_TYPE_UNSUPPORTED"),
                    Some(k) if k.expires.is_some_and(|e| e <= now_secs()) => Some("ACCESS_TOKEN_EXPIRED"),
                    Some(_) => None,
                },
            };
            finish(
                info_with(&mut info, reason.map(str::to_string)),
                reason.map(|r| GoogleError::unauthenticated(r).response()),
            )
        }
    }
}

fn info_with(info: &mut AuthInfo, err: Option<String>) -> AuthInfo {
    info.verified = err.is_none();
    info.error = err;
    info.clone()
}

fn finish(info: AuthInfo, err: Option<Response<Body>>) -> (AuthInfo, Option<Response<Body>>) {
    (info, err)
}

/// `sk-ab***...***yz` as OpenAI shows a wrong key.
fn redact(k: &str) -> String {
    let chars: Vec<char> = k.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// The provider-shaped answer to an injected `error` (HTTP `status`) or `rate_limit`.
pub fn fault_response(state: &MockState, rate_limit: bool, status: u16, c: &Call<'_>) -> Response<Body> {
    let status = if rate_limit { 429 } else { status };
    match state.cfg.provider {
        Provider::OpenAi => unreachable!("OpenAI faults are answered by the caller"),
        Provider::Azure => {
            let mut r = if status == 429 {
                azure::error(
                    429,
                    "429",
                    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second.",
                )
            } else {
                azure::error(
                    status,
                    if status >= 500 { "InternalServerError" } else { "BadRequest" },
                    &format!("mock-region {}: injected error {status}", state.cfg.region),
                )
            };
            if status == 429 {
                r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            }
            r
        }
        Provider::Bedrock => bedrock::fault(status).response(c.seq),
        Provider::Anthropic => {
            let mut r = anthropic::fault(status).response(c.seq);
            if status == 429 {
                r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            }
            r
        }
        Provider::Vertex => {
            let claude = vertex::route(c.path).is_some_and(|r| r.publisher == "anthropic");
            if claude && status == 529 {
                anthropic::fault(529).response(c.seq)
            } else {
                vertex::fault(status).response()
            }
        }
    }
}

/// The answer of a healthy deployment whose credentials were accepted.
pub fn answer(state: &MockState, mode: &Mode, c: &Call<'_>) -> Response<Body> {
    let text = format!("hello from {}", state.cfg.region);
    match state.cfg.provider {
        Provider::OpenAi => super::llm(state, mode, c.method, c.path, c.body, c.seq),
        Provider::Azure => azure_answer(state, mode, c, &text),
        Provider::Bedrock => bedrock_answer(state, mode, c, &text),
        Provider::Anthropic => anthropic_answer(state, mode, c, &text),
        Provider::Vertex => vertex_answer(state, mode, c, &text),
    }
}

fn azure_answer(state: &MockState, mode: &Mode, c: &Call<'_>, text: &str) -> Response<Body> {
    let Some((dep, op)) = azure::route(c.path).filter(|_| c.method == Method::POST) else {
        return azure::not_found();
    };
    if let Err(r) = azure::check_route(c.query, &dep, state.cfg.azure_deployment.as_deref()) {
        return *r;
    }
    // The deployment decides the model; the answer names the model behind it.
    let model = state.cfg.expect_model.clone().unwrap_or_else(|| dep.clone());
    let created = now_secs();
    let id = format!("chatcmpl-mock-{}-{}", state.cfg.region, c.seq);
    let result = match op {
        "chat.completions" => {
            openai::parse_object(c.body).and_then(|obj| openai::validate_chat_opts(&obj, None, false)).map(|mut req| {
                req.model = model.clone();
                if req.stream {
                    super::sse_response_with(&id, created, &req, text, mode, Some(azure::prompt_filter_chunk()))
                } else {
                    let mut v = openai::chat_completion(&id, created, &req, text, mode.chunks as u64);
                    azure::annotate_completion(&mut v);
                    json_resp(200, &v)
                }
            })
        }
        "completions" => openai::parse_object(c.body).and_then(|mut obj| {
            obj.entry("model").or_insert_with(|| json!(model));
            openai::validate_completion(&obj, None)
                .map(|_| json_resp(200, &openai::text_completion(&id, created, &model, text, mode.chunks as u64)))
        }),
        _ => openai::parse_object(c.body).and_then(|mut obj| {
            obj.entry("model").or_insert_with(|| json!(model));
            openai::validate_embeddings(&obj, None).map(|(_, n)| json_resp(200, &openai::embeddings(&model, n)))
        }),
    };
    let mut r = result.unwrap_or_else(|e| json_resp(e.status, &e.body()));
    if let Ok(v) = HeaderValue::from_str(&format!("{:08x}-0000-4000-8000-{:012x}", c.seq, c.seq)) {
        r.headers_mut().insert("apim-request-id", v);
    }
    r
}

fn bedrock_answer(state: &MockState, mode: &Mode, c: &Call<'_>, text: &str) -> Response<Body> {
    let op = match bedrock::route(c.path) {
        Some(op) if c.method == Method::POST => op,
        _ => {
            return AwsError::new(
                404,
                "UnknownOperationException",
                "The requested operation is not recognized by the service.",
            )
            .response(c.seq)
        }
    };
    let (model_id, stream) = match &op {
        bedrock::Op::Converse { model_id } => (model_id, false),
        bedrock::Op::ConverseStream { model_id } => (model_id, true),
    };
    let model_ok = state.cfg.expect_model.as_deref().is_none_or(|m| m == model_id);
    match bedrock::validate(c.body, model_ok) {
        Err(e) => e.response(c.seq),
        Ok(req) if stream => bedrock::converse_stream_response(&req, text, mode, c.seq),
        Ok(req) => bedrock::converse_response(&req, text, mode, c.seq),
    }
}

fn anthropic_answer(state: &MockState, mode: &Mode, c: &Call<'_>, text: &str) -> Response<Body> {
    if c.path != "/v1/messages" || c.method != Method::POST {
        return AnthropicError::new(404, "not_found_error", "Not Found").response(c.seq);
    }
    match header(c.headers, "anthropic-version") {
        None => return AnthropicError::invalid("anthropic-version: header is required").response(c.seq),
        Some(v) if !anthropic::VERSIONS.contains(&v) => {
            return AnthropicError::invalid(format!("anthropic-version: invalid version '{v}'")).response(c.seq)
        }
        Some(_) => {}
    }
    match anthropic::validate(c.body, Flavor::Anthropic, state.cfg.expect_model.as_deref(), None) {
        Err(e) => e.response(c.seq),
        Ok(req) if req.stream => anthropic::sse_response(&req, text, mode, c.seq),
        Ok(req) => anthropic::message_response(&req, text, mode, c.seq),
    }
}

fn vertex_answer(state: &MockState, mode: &Mode, c: &Call<'_>, text: &str) -> Response<Body> {
    let Some(r) = vertex::route(c.path).filter(|_| c.method == Method::POST) else {
        return GoogleError::new(
            404,
            "NOT_FOUND",
            format!("The requested URL {} was not found on this server.", c.path),
        )
        .response();
    };
    if let Some(p) = state.cfg.vertex_project.as_deref() {
        if r.project != p {
            return GoogleError::new(
                403,
                "PERMISSION_DENIED",
                format!(
                    "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/{}' (or it may not exist).",
                    r.resource()
                ),
            )
            .response();
        }
    }
    // The host is `{location}-aiplatform.googleapis.com`: the path's location must be this one.
    if r.location != state.cfg.region {
        return GoogleError::invalid(format!(
            "Location '{}' in the request does not match this regional endpoint ('{}').",
            r.location, state.cfg.region
        ))
        .response();
    }
    if let Some(m) = state.cfg.expect_model.as_deref() {
        if r.model != m {
            return GoogleError::new(
                404,
                "NOT_FOUND",
                format!(
                    "Publisher Model `{}` was not found or your project does not have access to it. Please ensure you are using a valid model version. For more information, see: https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
                    r.resource()
                ),
            )
            .response();
        }
    }
    match (r.publisher.as_str(), r.method.as_str()) {
        ("anthropic", "rawPredict" | "streamRawPredict") => {
            match anthropic::validate(c.body, Flavor::Vertex, None, Some(&r.model)) {
                Err(e) => e.response(c.seq),
                Ok(req) if req.stream => anthropic::sse_response(&req, text, mode, c.seq),
                Ok(req) => anthropic::message_response(&req, text, mode, c.seq),
            }
        }
        ("google", "generateContent" | "streamGenerateContent") => match vertex::validate_gemini(c.body) {
            Err(e) => e.response(),
            Ok(req) if r.method == "generateContent" => vertex::generate_response(&req, text, mode, &r.model, c.seq),
            Ok(req) => {
                let sse = c.query.split('&').any(|kv| kv == "alt=sse");
                vertex::stream_generate_response(&req, text, mode, &r.model, c.seq, sse)
            }
        },
        _ => GoogleError::invalid(format!(
            "Method '{}' is not supported for publisher '{}' models.",
            r.method, r.publisher
        ))
        .response(),
    }
}
