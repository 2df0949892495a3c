//! The error of a provider, in one neutral form for every provider and client: each provider's
//! `error` module parses its own shape into a [`ProviderError`], and the client's module writes
//! it in the client's shape (`client::openai`, `client::anthropic`).
//!
//! Its status decides failover: a 4xx other than 408/429 is the client's error (passed on,
//! never retried elsewhere); 408, 429 and 5xx are region failures and keep a status Envoy
//! retries on.

use super::client::openai::openai_type;

/// A provider's error (or the gateway's, about the provider's answer), for the client.
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

    /// The provider's stream ended before its answer did.
    pub fn truncated() -> Self {
        ProviderError::new(
            502,
            Some("upstream_stream_truncated".into()),
            "the provider's stream ended before the answer was complete".into(),
        )
    }

    /// An answer, error body or stream event of the provider's that grew past its cap
    /// ([`super::codec::MAX_ANSWER_BODY`], [`super::codec::sse::MAX_EVENT`]): the attempt
    /// fails as the provider failing (502), without the filter holding the rest.
    pub fn too_large(provider: &str, what: impl std::fmt::Display) -> Self {
        ProviderError::new(
            502,
            Some("upstream_response_too_large".into()),
            format!("{provider} sent {what}; the gateway does not hold that much of one answer"),
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

/// A provider status that is neither success nor error (1xx, 3xx) is a broken upstream.
pub(crate) fn error_status(status: u16) -> u16 {
    if status < 400 {
        502
    } else {
        status
    }
}

/// The start of a body that is not in the provider's error shape, as the error's message.
pub(crate) fn body_text(body: &[u8], status: u16) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return format!("the provider answered with status {status}");
    }
    text.chars().take(500).collect()
}
