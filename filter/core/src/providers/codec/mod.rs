//! Wire codecs the providers share, knowing nothing of any provider's or client's JSON shapes:
//! server-sent events ([`sse`], read from OpenAI, Anthropic and Gemini streams and written to
//! clients), the AWS event stream of Bedrock ([`eventstream`]), and the scan that hands a
//! pass-through answer's usage to its reader without holding the body back (`usage`).

pub mod eventstream;
pub mod sse;
pub(crate) mod usage;

/// The most of a provider's answer the filter holds at once: a whole non-streamed answer or
/// error body read to translate it (or to read its usage), and the translated answer written
/// for the client. The client's request body has the same limit (Envoy answers 413 above it).
pub const MAX_ANSWER_BODY: usize = 8 * 1024 * 1024;
