//! Gemini on Vertex AI: `…/publishers/google/models/{m}:generateContent` and
//! `:streamGenerateContent?alt=sse`.
//!
//! - `request.rs`: the `GenerateContentRequest`, from the neutral request.
//! - `response.rs`: `GenerateContentResponse`s, whole or streamed, back to the client.
//! - Errors are Google's shape, shared with Claude on Vertex (`vertex/error.rs`).

mod request;
mod response;

pub(crate) use request::translate_request;
pub(crate) use response::response_translator;
