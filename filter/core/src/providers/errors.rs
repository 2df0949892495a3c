//! Provider errors in OpenAI's error shape, with the status that decides failover: a 4xx other
//! than 408/429 is the client's error (passed on, never retried elsewhere); 408, 429 and 5xx
//! are region failures and keep a status Envoy retries on.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProviderError {
    /// The status the client gets.
    pub status: u16,
    /// OpenAI's `type`.
    pub kind: String,
    /// The provider's own error name (`ThrottlingException`, `overloaded_error`, ...).
    pub code: Option<String>,
    pub message: String,
}

impl ProviderError {
    pub fn new(status: u16, code: Option<String>, message: String) -> Self {
        ProviderError { status, kind: openai_type(status).to_owned(), code, message }
    }

    pub fn openai_json(&self) -> Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": self.code}})
    }

    pub fn body(&self) -> Vec<u8> {
        self.openai_json().to_string().into_bytes()
    }

    /// Anthropic's shape, for Anthropic-form clients.
    pub fn anthropic_json(&self) -> Value {
        json!({"type": "error", "error": {"type": anthropic_type(self.status), "message": self.message}})
    }

    pub fn anthropic_body(&self) -> Vec<u8> {
        self.anthropic_json().to_string().into_bytes()
    }

    /// The provider's stream ended before its answer did.
    pub fn truncated() -> Self {
        ProviderError::new(
            502,
            Some("upstream_stream_truncated".into()),
            "the provider's stream ended before the answer was complete".into(),
        )
    }

    /// A 2xx body the gateway could not read as the provider's documented shape.
    pub fn bad_response(provider: &str, detail: impl std::fmt::Display) -> Self {
        ProviderError::new(
            502,
            Some("invalid_provider_response".into()),
            format!("{provider} returned a response the gateway could not translate: {detail}"),
        )
    }
}

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

/// An OpenAI-shaped error body (`{"error":{"message","type","code"}}`).
pub(crate) fn openai(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match v.get("error") {
        Some(e) => {
            let code = e.get("code").and_then(Value::as_str).or_else(|| e.get("type").and_then(Value::as_str));
            let message = e.get("message").and_then(Value::as_str).unwrap_or("error").to_owned();
            ProviderError::new(error_status(status), code.map(str::to_owned), message)
        }
        None => ProviderError::new(error_status(status), None, body_text(body, status)),
    }
}

/// A provider status that is neither success nor error (1xx, 3xx) is a broken upstream.
pub(crate) fn error_status(status: u16) -> u16 {
    if status < 400 {
        502
    } else {
        status
    }
}

/// The status a Bedrock exception stands for (HTTP status on the wire, or the mapping the
/// gateway needs for failover: `ModelErrorException`'s 424 is the model failing, not the client).
pub fn bedrock_exception_status(name: &str) -> Option<u16> {
    let known: &[(&str, u16)] = &[
        ("ThrottlingException", 429),
        ("ModelNotReadyException", 429),
        ("ServiceQuotaExceededException", 429),
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("UnrecognizedClientException", 403),
        ("InvalidSignatureException", 403),
        ("ExpiredTokenException", 403),
        ("ResourceNotFoundException", 404),
        ("ModelTimeoutException", 408),
        ("InternalServerException", 500),
        ("ModelErrorException", 502),
        ("ModelStreamErrorException", 502),
        ("ServiceUnavailableException", 503),
    ];
    known.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, s)| s)
}

/// `ThrottlingException:http://internal.amazon.com/...` or `com.amazon.coral#ValidationException`
/// → `ThrottlingException` / `ValidationException`.
pub(crate) fn bedrock_error_name(raw: &str) -> &str {
    let name = raw.split(':').next().unwrap_or(raw);
    name.rsplit('#').next().unwrap_or(name).trim()
}

fn body_text(body: &[u8], status: u16) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("the provider answered with status {status}");
    }
    text.chars().take(500).collect()
}

/// A Bedrock error response: `x-amzn-ErrorType` header and/or body `{"__type", "message"}`.
pub(crate) fn bedrock(status: u16, type_header: Option<&str>, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let name = type_header
        .map(bedrock_error_name)
        .filter(|n| !n.is_empty())
        .or_else(|| v.get("__type").and_then(Value::as_str).map(bedrock_error_name))
        .map(str::to_owned);
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| body_text(body, status));
    let mapped = name.as_deref().and_then(bedrock_exception_status).unwrap_or(match status {
        424 => 502,
        s => error_status(s),
    });
    ProviderError::new(mapped, name, message)
}

/// An exception frame inside a Bedrock event stream (`:exception-type`, payload `{"message"}`).
pub(crate) fn bedrock_stream_exception(name: &str, payload: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let message = v.get("message").or_else(|| v.get("Message")).and_then(Value::as_str);
    let message = message.map(str::to_owned).unwrap_or_else(|| body_text(payload, 500));
    // Stream members are lower camel case (throttlingException): name them as the HTTP ones.
    let mut code = name.to_owned();
    if let Some(first) = code.get(..1) {
        code = format!("{}{}", first.to_ascii_uppercase(), code.get(1..).unwrap_or(""));
    }
    ProviderError::new(bedrock_exception_status(&code).unwrap_or(500), Some(code), message)
}

/// Anthropic's `{"type":"error","error":{"type","message"}}` (also inside an SSE `error` event).
pub(crate) fn anthropic(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    anthropic_value(status, &v)
        .unwrap_or_else(|| ProviderError::new(error_status(status), None, body_text(body, status)))
}

pub(crate) fn anthropic_value(status: u16, v: &Value) -> Option<ProviderError> {
    let e = v.get("error")?;
    let name = e.get("type").and_then(Value::as_str).map(str::to_owned);
    let message = e.get("message").and_then(Value::as_str).unwrap_or("error").to_owned();
    let status = match (status, name.as_deref()) {
        // Inside a 200 stream: the error's own type says what it stands for.
        (200, Some("overloaded_error")) => 529,
        (200, Some("rate_limit_error")) => 429,
        (200, Some("invalid_request_error")) => 400,
        (200, _) => 500,
        (s, _) => error_status(s),
    };
    Some(ProviderError::new(status, name, message))
}

/// Google's `{"error":{"code","message","status"}}`, also as a one-element array.
pub(crate) fn google(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let v = v.get(0).cloned().unwrap_or(v);
    match v.get("error") {
        Some(e) => {
            let name = e.get("status").and_then(Value::as_str).map(str::to_owned);
            let message = e.get("message").and_then(Value::as_str).unwrap_or("error").to_owned();
            ProviderError::new(error_status(status), name, message)
        }
        None => ProviderError::new(error_status(status), None, body_text(body, status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_header_names_the_exception() {
        let e = bedrock(
            400,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            b"{\"message\":\"Too many requests\"}",
        );
        assert_eq!(
            (e.status, e.code.as_deref(), e.message.as_str()),
            (429, Some("ThrottlingException"), "Too many requests")
        );
        assert_eq!(e.kind, "rate_limit_error");
    }

    #[test]
    fn bedrock_body_type_when_no_header() {
        let e = bedrock(400, None, br#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#);
        assert_eq!((e.status, e.code.as_deref(), e.message.as_str()), (400, Some("ValidationException"), "bad"));
    }

    #[test]
    fn bedrock_unknown_keeps_status_but_424_is_a_region_failure() {
        assert_eq!(bedrock(502, None, b"<html>").status, 502);
        assert_eq!(bedrock(424, None, b"").status, 502);
        assert_eq!(bedrock(301, None, b"").status, 502);
    }

    #[test]
    fn every_listed_exception_maps() {
        for (n, s) in [
            ("ThrottlingException", 429),
            ("ValidationException", 400),
            ("AccessDeniedException", 403),
            ("ResourceNotFoundException", 404),
            ("ModelTimeoutException", 408),
            ("ServiceUnavailableException", 503),
            ("InternalServerException", 500),
            ("ModelNotReadyException", 429),
        ] {
            assert_eq!(bedrock_exception_status(n), Some(s), "{n}");
        }
    }

    #[test]
    fn stream_exception_names_are_capitalised() {
        let e = bedrock_stream_exception("throttlingException", br#"{"message":"slow down"}"#);
        assert_eq!((e.status, e.code.as_deref()), (429, Some("ThrottlingException")));
        let e = bedrock_stream_exception("", b"");
        assert_eq!(e.status, 500);
    }

    #[test]
    fn anthropic_and_google_errors() {
        let e = anthropic(529, br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
        assert_eq!(
            (e.status, e.code.as_deref(), e.kind.as_str()),
            (529, Some("overloaded_error"), "service_unavailable_error")
        );
        let e = google(429, br#"[{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}]"#);
        assert_eq!((e.status, e.code.as_deref(), e.message.as_str()), (429, Some("RESOURCE_EXHAUSTED"), "Quota"));
        let e = google(500, b"oops");
        assert_eq!((e.status, e.message.as_str()), (500, "oops"));
    }
}
