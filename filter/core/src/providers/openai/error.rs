//! OpenAI's error shape, read when an OpenAI-compatible (or Azure) answer is translated for an
//! Anthropic-form client; OpenAI-form clients get the provider's error as it is.

use serde_json::Value;

use crate::providers::error::{body_text, error_status, ProviderError};

/// An OpenAI-shaped error body (`{"error":{"message","type","code"}}`).
pub(crate) fn openai_error(status: u16, body: &[u8]) -> ProviderError {
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
