//! Gemini on Vertex AI (`…/publishers/google/models/{m}:streamGenerateContent?alt=sse`) and on
//! Google AI Studio (`/v1beta/models/{m}:streamGenerateContent?alt=sse`): one format, two paths.
//!
//! - `request.rs`: the `GenerateContentRequest`, from the neutral request.
//! - `response.rs`: `GenerateContentResponse`s, whole or streamed, back to the client.
//! - Errors are Google's shape, shared with Claude on Vertex (`vertex/error.rs`).

mod request;
mod response;

pub(crate) use request::translate_request;
pub(crate) use response::response_translator;
