//! OpenAI and OpenAI-compatible servers: `{base_path}{client path after /v1}`.
//!
//! - An OpenAI-form client's body goes with `model` rewritten and every other byte kept; the
//!   answer passes through ([`PassThrough`], `passthrough.rs`), its usage read on the side.
//! - An Anthropic-form client's request (`/v1/messages`) becomes a chat completion request
//!   (`request.rs`, streaming with `stream_options.include_usage` so that the usage reaches
//!   `message_delta`); the answer is translated back by `response.rs`, an error by `error.rs`.
//!   A `tool_result`'s `is_error` has no OpenAI equivalent and is dropped (its text still says
//!   what failed).
//!
//! Azure OpenAI ([`super::azure`]) shares all of it but the path.

mod error;
mod passthrough;
mod request;
mod response;

pub use passthrough::{PassThrough, MAX_USAGE_SCAN};
pub(crate) use request::{body_for, passthrough_headers, translate_request};
pub(crate) use response::response_translator;
