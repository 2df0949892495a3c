//! Anthropic's error shape, `{"type":"error","error":{"type","message"}}`, as an error response
//! and inside a stream's `error` event.

use serde_json::Value;

use crate::providers::error::{body_text, error_status, ProviderError};

/// Anthropic's `{"type":"error","error":{"type","message"}}` (also inside an SSE `error` event).
pub(crate) fn anthropic_error(status: u16, body: &[u8]) -> ProviderError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    anthropic_error_value(status, &v)
        .unwrap_or_else(|| ProviderError::new(error_status(status), None, body_text(body, status)))
}

/// The error of a parsed Anthropic error object; `None` when it holds none.
pub(crate) fn anthropic_error_value(status: u16, v: &Value) -> Option<ProviderError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_errors() {
        let e = anthropic_error(529, br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
        assert_eq!(
            (e.status, e.code.as_deref(), e.kind.as_str()),
            (529, Some("overloaded_error"), "service_unavailable_error")
        );
    }
}
