//! Anthropic Messages API (`POST /v1/messages`, `anthropic-version: 2023-06-01`), also the body
//! and answers of Claude on Vertex AI ([`super::vertex::claude`]).
//!
//! - `request.rs`: an Anthropic-form client's own request goes as it is, with `model` set to the
//!   deployment's; an OpenAI-form client's is written as a Messages body.
//! - `passthrough.rs`: an Anthropic-form client's answer comes back untouched but for the usage
//!   read on the side; `response.rs`: an OpenAI-form client's is translated.
//! - `error.rs`: Anthropic's error shape (Claude on Vertex also answers in Google's).

mod error;
mod passthrough;
mod request;
mod response;

pub use passthrough::PassThrough;
pub(crate) use request::{messages_body, translate_request};
pub use request::{ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS};
pub(crate) use response::response_translator;
