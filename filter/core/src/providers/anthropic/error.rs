//! Anthropic's error shape, `{"type":"error","error":{"type","message"}}`, as an error response
//! and inside a stream's `error` event.

use crate::providers::error::{body_text, error_status, ProviderError};
use crate::providers::json::{self, Obj, Str};

json::reader! {
    /// What the gateway reads of an error document, Anthropic's or Google's (which Vertex answers
    /// its own failures in): `type`, and `error` with its `type`, `message` and `status`.
    pub(crate) struct ErrorDoc<'a> {
        "type" => ty: Str<'a>,
        "error" => error: Obj<ErrorObject<'a>>,
    }
}

json::reader! {
    pub(crate) struct ErrorObject<'a> {
        "type" => ty: Str<'a>,
        "message" => message: Str<'a>,
        "status" => status: Str<'a>,
    }
}

impl ErrorDoc<'_> {
    /// Whether it is Google's shape: an array, or an `error` with a `status` and no `type` beside it.
    pub fn is_google(&self, body: &[u8]) -> bool {
        let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        array || (self.ty.0.is_none() && self.error.0.as_ref().is_some_and(|e| e.status.0.is_some()))
    }
}

/// Anthropic's `{"type":"error","error":{"type","message"}}` (also inside an SSE `error` event).
pub(crate) fn anthropic_error(status: u16, body: &[u8]) -> ProviderError {
    let doc = json::document::<ErrorDoc>(body).unwrap_or_default();
    anthropic_error_value(status, doc.error.0)
        .unwrap_or_else(|| ProviderError::new(error_status(status), None, body_text(body, status)))
}

/// The error of an Anthropic error object; `None` when there is none.
pub(crate) fn anthropic_error_value(status: u16, e: Option<ErrorObject<'_>>) -> Option<ProviderError> {
    let e = e?;
    let name = e.ty.0.map(|n| n.into_owned());
    let message = e.message.0.map_or_else(|| "error".to_owned(), |m| m.into_owned());
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
        let body = br#"{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}"#;
        assert!(json::document::<ErrorDoc>(body).unwrap().is_google(body));
        assert!(json::document::<ErrorDoc>(b" [{}]").unwrap().is_google(b" [{}]"));
        let body = br#"{"type":"error","error":{"type":"x","status":"y"}}"#;
        assert!(!json::document::<ErrorDoc>(body).unwrap().is_google(body));
    }
}
