//! OpenAI's error shape, read when an OpenAI-compatible (or Azure) answer is translated for an
//! Anthropic-form client; OpenAI-form clients get the provider's error as it is.

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
        "type" => ty: Str<'a>,
        "code" => code: Str<'a>,
    }
}

/// An OpenAI-shaped error body (`{"error":{"message","type","code"}}`).
pub(crate) fn openai_error(status: u16, body: &[u8]) -> ProviderError {
    match json::document::<ErrorDoc>(body).ok().and_then(|d| d.error.0) {
        Some(e) => {
            let code = e.code.0.or(e.ty.0).map(|c| c.into_owned());
            let message = e.message.0.map_or_else(|| "error".to_owned(), |m| m.into_owned());
            ProviderError::new(error_status(status), code, message)
        }
        None => ProviderError::new(error_status(status), None, body_text(body, status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_errors_and_other_bodies() {
        let e = openai_error(429, br#"{"error":{"message":"slow","type":"rate_limit_error","code":7,"x":[{}]}}"#);
        assert_eq!((e.status, e.code.as_deref(), e.message.as_str()), (429, Some("rate_limit_error"), "slow"));
        let e = openai_error(200, b"<html>");
        assert_eq!((e.status, e.message.as_str()), (502, "<html>"));
    }
}
