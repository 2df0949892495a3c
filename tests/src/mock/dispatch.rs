//! Provider dispatch: the mock's one switch on [`Provider`] for a request — which operation
//! it names (stats), the answer of a healthy deployment, and the provider's shape for an
//! injected fault. The wire formats themselves live in the per-provider files.

use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, Response};
use serde_json::{json, Value};

use super::anthropic::{self, AnthropicError, Flavor};
use super::azure;
use super::bedrock::{self, AwsError};
use super::config::Provider;
use super::fault_mode::Mode;
use super::now_secs;
use super::openai::{self, ApiError};
use super::response::{json_resp, Body};
use super::state::MockState;
use super::vertex::{self, GoogleError};

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

pub(super) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// The provider-shaped answer to an injected `error` (HTTP `status`; `error` names Bedrock's
/// exception for a 403) or `rate_limit`. A 401/403 is each provider's refusal of the caller's
/// credentials or access, as it sends it.
pub fn fault_response(
    state: &MockState,
    rate_limit: bool,
    status: u16,
    error: Option<&str>,
    c: &Call<'_>,
) -> Response<Body> {
    let status = if rate_limit { 429 } else { status };
    match state.cfg.provider {
        Provider::OpenAi if status == 401 => json_resp(
            401,
            &openai::error_body(
                "Incorrect API key provided: sk-mock***************1234. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
        ),
        Provider::OpenAi if status == 403 => json_resp(
            403,
            &openai::error_body(
                "Country, region, or territory not supported",
                "request_forbidden",
                None,
                Some("unsupported_country_region_territory"),
            ),
        ),
        Provider::Azure if status == 401 => azure::unauthorized(),
        Provider::Azure if status == 403 => {
            azure::error(403, "PermissionDenied", "Principal does not have access to API/Operation.")
        }
        Provider::Bedrock if status == 403 => {
            bedrock::auth_fault(error.unwrap_or("AccessDeniedException")).unwrap_or_else(|| bedrock::fault(403)).response(c.seq)
        }
        Provider::Vertex if status == 401 => GoogleError::unauthenticated("ACCESS_TOKEN_EXPIRED").response(),
        Provider::OpenAi if rate_limit => {
            let mut r = json_resp(
                429,
                &openai::error_body(
                    &format!("mock-region {}: rate limit reached, retry after 1s", state.cfg.region),
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                ),
            );
            r.headers_mut().insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        Provider::OpenAi => json_resp(
            status,
            &openai::error_body(
                &format!("mock-region {}: injected error {}", state.cfg.region, status),
                if status >= 500 { "server_error" } else { "invalid_request_error" },
                None,
                None,
            ),
        ),
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
    let mut r = match state.cfg.provider {
        Provider::OpenAi => openai_answer(state, mode, c),
        Provider::Azure => azure_answer(state, mode, c, &text),
        Provider::Bedrock => bedrock_answer(state, mode, c, &text),
        Provider::Anthropic => anthropic_answer(state, mode, c, &text),
        Provider::Vertex => vertex_answer(state, mode, c, &text),
    };
    add_account_headers(state, r.headers_mut());
    r
}

/// The headers OpenAI and Anthropic put on their answers that name the caller's account.
fn add_account_headers(state: &MockState, h: &mut HeaderMap) {
    let region = &state.cfg.region;
    let pairs = match state.cfg.provider {
        Provider::OpenAi => {
            vec![
                ("openai-organization", format!("org-mock-{region}")),
                ("openai-project", format!("proj_mock_{region}")),
            ]
        }
        Provider::Anthropic => vec![("anthropic-organization-id", "6c1f0e2a-0000-4000-8000-00000000a11c".to_string())],
        Provider::Azure | Provider::Bedrock | Provider::Vertex => Vec::new(),
    };
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

fn api_error(e: &ApiError) -> Response<Body> {
    json_resp(e.status, &e.body())
}

/// The OpenAI-compatible API (request `seq`).
fn openai_answer(state: &MockState, mode: &Mode, c: &Call<'_>) -> Response<Body> {
    let (method, path, body, seq) = (c.method, c.path, c.body, c.seq);
    let route = path.strip_prefix("/v1").unwrap_or(path);
    let expect = state.cfg.expect_model.as_deref();
    let created = now_secs();
    let content = format!("hello from {}", state.cfg.region);
    let result = match (method, route) {
        (&Method::POST, "/chat/completions") => {
            openai::parse_object(body).and_then(|obj| openai::validate_chat(&obj, expect)).map(|req| {
                let id = format!("chatcmpl-mock-{}-{seq}", state.cfg.region);
                if req.stream && !mode.whole_answers {
                    openai::sse_response(&id, created, &req, &content, mode)
                } else {
                    json_resp(200, &openai::chat_completion(&id, created, &req, &content, mode.chunks as u64))
                }
            })
        }
        (&Method::POST, "/completions") => {
            openai::parse_object(body).and_then(|obj| openai::validate_completion(&obj, expect)).map(|model| {
                let id = format!("cmpl-mock-{}-{seq}", state.cfg.region);
                json_resp(200, &openai::text_completion(&id, created, &model, &content, mode.chunks as u64))
            })
        }
        (&Method::POST, "/embeddings") => openai::parse_object(body)
            .and_then(|obj| openai::validate_embeddings(&obj, expect))
            .map(|(model, n)| json_resp(200, &openai::embeddings(&model, n))),
        (&Method::GET, "/models") => {
            let id = state.cfg.expect_model.clone().unwrap_or_else(|| "mock-model".into());
            Ok(json_resp(
                200,
                &json!({"object": "list", "data": [{"id": id, "object": "model", "created": 0, "owned_by": "mock"}]}),
            ))
        }
        _ => Err(ApiError {
            status: 404,
            message: format!("Invalid URL ({method} {path})"),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }),
    };
    let mut resp = result.unwrap_or_else(|e| api_error(&e));
    if let Ok(v) = HeaderValue::from_str(&format!("req_mock_{seq}")) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
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
                    openai::sse_response_with(&id, created, &req, text, mode, Some(azure::prompt_filter_chunk()))
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
    if let Some(p) = state.cfg.vertex_project.as_deref().filter(|_| !r.is_ai_studio()) {
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
    if !r.is_ai_studio() && r.location != state.cfg.region {
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
