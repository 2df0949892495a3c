//! Google's error shape, `{"error":{"code","message","status"}}` (also as a one-element array),
//! in which Vertex AI answers failures of its own for Gemini and Claude alike.

use crate::providers::error::{body_text, error_status, ProviderError};
use crate::providers::json::{self, Obj, Str};

json::reader! {
    struct ErrorDoc<'a> {
        "error" => error: Obj<ErrorObject<'a>>,
    }
}

json::reader! {
    struct ErrorObject<'a> {
        "message" => message: Str<'a>,
        "status" => status: Str<'a>,
    }
}

/// Google's `{"error":{"code","message","status"}}`, also as a one-element array.
pub(crate) fn google_error(status: u16, body: &[u8]) -> ProviderError {
    let doc = json::raw_document(body).map(json::first_or_self);
    let error = doc.and_then(json::fields_of::<ErrorDoc>).and_then(|d| d.error.0);
    match error {
        Some(e) => {
            let name = e.status.0.map(|s| s.into_owned());
            let message = e.message.0.map_or_else(|| "error".to_owned(), |m| m.into_owned());
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
