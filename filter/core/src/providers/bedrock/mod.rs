//! Amazon Bedrock Runtime, Converse API (`/model/{modelId}/converse`, `/converse-stream`).
//!
//! - `request.rs`: the Converse body, from the neutral request.
//! - `response.rs`: Converse answers and ConverseStream events (the AWS event stream,
//!   [`super::codec::eventstream`]) back to the client.
//! - `error.rs`: the exception named by `x-amzn-ErrorType`, the body or a stream frame, which
//!   sets the status.

mod error;
mod request;
mod response;

pub use error::bedrock_exception_status;
pub(crate) use request::translate_request;
pub(crate) use response::response_translator;
