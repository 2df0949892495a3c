//! Errors the filter answers itself, in OpenAI's error shape.

use crate::providers::json::ObjectWriter;

/// A request the gateway answers without reaching an upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    pub status: u32,
    /// OpenAI's `type` (`invalid_request_error`, `service_unavailable_error`, ...).
    pub kind: &'static str,
    /// OpenAI's `code` (`model_not_found`, ...).
    pub code: &'static str,
    pub message: String,
    /// The parameter at fault, when there is one.
    pub param: Option<&'static str>,
}

impl RequestError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        RequestError { status: 400, kind: "invalid_request_error", code, message: message.into(), param: None }
    }

    pub fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    pub fn too_large(limit: u64) -> Self {
        RequestError {
            status: 413,
            kind: "invalid_request_error",
            code: "request_too_large",
            message: format!("request body is larger than the gateway's limit of {limit} bytes"),
            param: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        RequestError {
            status: 404,
            kind: "invalid_request_error",
            code: "not_found",
            message: message.into(),
            param: None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        RequestError {
            status: 503,
            kind: "service_unavailable_error",
            code: "no_healthy_deployment",
            message: message.into(),
            param: None,
        }
    }

    /// Every deployment the request may use is at its rate limit or cooling down: the client
    /// should come back (with `Retry-After`), not retry at once as a 503 invites.
    pub fn rate_limited(message: impl Into<String>) -> Self {
        RequestError {
            status: 429,
            kind: "rate_limit_error",
            code: "rate_limit_exceeded",
            message: message.into(),
            param: None,
        }
    }

    /// The JSON body: `{"error": {"message", "type", "param", "code"}}`.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.len() + 96);
        write_openai_error(&mut out, &self.message, self.kind, self.param, Some(self.code));
        out
    }
}

/// Appends OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn write_openai_error(
    out: &mut Vec<u8>,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) {
    let mut o = ObjectWriter::open(out);
    let mut e = o.object("error");
    e.str("message", message);
    e.str("type", kind);
    e.str_or_null("param", param);
    e.str_or_null("code", code);
    e.close();
    o.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_openai_shape() {
        let e = RequestError::bad_request("model_not_found", "no such model 'x'").with_param("model");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap_or_default();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["message"], "no such model 'x'");
    }
}
