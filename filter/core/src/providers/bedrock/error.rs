//! Bedrock's errors: the exception named by the `x-amzn-ErrorType` header or the body's
//! `__type`, and exception frames inside a ConverseStream. The exception decides the status the
//! client gets (and so failover), more than the HTTP status does.

use crate::providers::error::{body_text, error_status, ProviderError};
use crate::providers::json::{self, Str};

json::reader! {
    /// What the gateway reads of a Bedrock error body or exception payload.
    struct ErrorDoc<'a> {
        "__type" => ty: Str<'a>,
        "message" => message: Str<'a>,
        "Message" => message_upper: Str<'a>,
    }
}

impl ErrorDoc<'_> {
    fn message(self) -> Option<String> {
        self.message.0.or(self.message_upper.0).map(|m| m.into_owned())
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

/// The status the client gets for a Bedrock error: the named exception's, else the HTTP status
/// (424, the model failing, is a region failure: 502).
pub(crate) fn bedrock_error_status(status: u16, exception: Option<&str>) -> u16 {
    exception.and_then(bedrock_exception_status).unwrap_or(match status {
        424 => 502,
        s => error_status(s),
    })
}

/// `ThrottlingException:http://internal.amazon.com/...` or `com.amazon.coral#ValidationException`
/// → `ThrottlingException` / `ValidationException`.
pub(crate) fn bedrock_error_name(raw: &str) -> &str {
    let name = raw.split(':').next().unwrap_or(raw);
    name.rsplit('#').next().unwrap_or(name).trim()
}

/// A Bedrock error response: `x-amzn-ErrorType` header and/or body `{"__type", "message"}`.
pub(crate) fn bedrock_error(status: u16, type_header: Option<&str>, body: &[u8]) -> ProviderError {
    let doc = json::document::<ErrorDoc>(body).unwrap_or_default();
    let from_body = doc.ty.0.as_deref().map(|t| bedrock_error_name(t).to_owned());
    let name = type_header.map(bedrock_error_name).filter(|n| !n.is_empty()).map(str::to_owned).or(from_body);
    let message = doc.message().unwrap_or_else(|| body_text(body, status));
    let mapped = bedrock_error_status(status, name.as_deref());
    ProviderError::new(mapped, name, message)
}

/// An exception frame inside a Bedrock event stream (`:exception-type`, payload `{"message"}`).
pub(crate) fn bedrock_stream_exception(name: &str, payload: &[u8]) -> ProviderError {
    let doc = json::document::<ErrorDoc>(payload).unwrap_or_default();
    let message = doc.message().unwrap_or_else(|| body_text(payload, 500));
    // Stream members are lower camel case (throttlingException): name them as the HTTP ones.
    let mut code = name.to_owned();
    if let Some(first) = code.get(..1) {
        code = format!("{}{}", first.to_ascii_uppercase(), code.get(1..).unwrap_or(""));
    }
    ProviderError::new(bedrock_exception_status(&code).unwrap_or(500), Some(code), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bedrock_header_names_the_exception() {
        let e = bedrock_error(
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
        let e =
            bedrock_error(400, None, br#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#);
        assert_eq!((e.status, e.code.as_deref(), e.message.as_str()), (400, Some("ValidationException"), "bad"));
    }

    #[test]
    fn bedrock_unknown_keeps_status_but_424_is_a_region_failure() {
        assert_eq!(bedrock_error(502, None, b"<html>").status, 502);
        assert_eq!(bedrock_error(424, None, b"").status, 502);
        assert_eq!(bedrock_error(301, None, b"").status, 502);
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
}
