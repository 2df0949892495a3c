//! Wire codecs the providers share, knowing nothing of any provider's or client's JSON shapes:
//! server-sent events ([`sse`], read from OpenAI, Anthropic and Gemini streams and written to
//! clients), the AWS event stream of Bedrock ([`eventstream`]), and the scan that hands a
//! pass-through answer's usage to its reader without holding the body back (`usage`).

pub mod eventstream;
pub mod sse;
pub(crate) mod usage;
