//! Google's error shape, `{"error":{"code","message","status"}}` (also as a one-element array),
//! in which Vertex AI answers failures of its own for Gemini and Claude alike.

use serde_json::Value;

use crate::providers::error::{body_text, error_status, ProviderError};

/// Google's `{"error":{"code","message","status"}}`, also as a one-element array.
pub(crate) fn google_error(status: u16, body: &[u8]) -> ProviderError {
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
    fn google_errors() {
        let e = google_error(429, br#"[{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}]"#);
        assert_eq!((e.status, e.code.as_deref(), e.message.as_str()), (429, Some("RESOURCE_EXHAUSTED"), "Quota"));
        let e = google_error(500, b"oops");
        assert_eq!((e.status, e.message.as_str()), (500, "oops"));
    }
}
