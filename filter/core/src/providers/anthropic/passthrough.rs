//! An Anthropic-form client's answer from Anthropic or Claude on Vertex: passed on as it comes,
//! with the usage read on the side (`message_start` / `message_delta` events, or the message's
//! `usage`). Errors are buffered: Vertex answers its own in Google's shape, which becomes
//! Anthropic's; Anthropic's own pass unchanged.

use serde_json::Value;

use super::error::anthropic_error;
use super::response::input_tokens;
use crate::providers::codec::usage::UsageScan;
use crate::providers::error::{error_status, ProviderError};
use crate::providers::vertex::google_error;
use crate::providers::{ResponseHead, ResponseOptions, ResponseTranslator, Usage};

pub struct PassThrough {
    opts: ResponseOptions,
    /// Error status of the provider, when it answered one.
    error: Option<u16>,
    /// The error body, gathered whole.
    buf: Vec<u8>,
    scan: UsageScan,
    usage: Option<Usage>,
}

impl PassThrough {
    pub fn new(opts: ResponseOptions) -> Self {
        PassThrough { opts, error: None, buf: Vec::new(), scan: UsageScan::json(), usage: None }
    }
}

/// Usage from a message (`usage`) or a stream event (`message.usage`, `usage`).
fn read_usage(total: &mut Option<Usage>, json: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(json) else { return };
    let Some(u) = v.get("usage").or_else(|| v.pointer("/message/usage")) else { return };
    let mut usage = total.unwrap_or_default();
    if let Some(i) = input_tokens(u) {
        usage.input_tokens = i;
    }
    if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
        usage.output_tokens = o;
    }
    *total = Some(usage);
}

fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return body.to_vec();
    }
    let e: ProviderError = if v.is_array() || v.pointer("/error/status").is_some() {
        google_error(status, body)
    } else {
        anthropic_error(status, body)
    };
    e.anthropic_body()
}

impl ResponseTranslator for PassThrough {
    fn on_headers(&mut self, status: u16, _headers: &[(String, String)]) -> ResponseHead {
        if !(200..300).contains(&status) {
            let status = error_status(status);
            self.error = Some(status);
            return ResponseHead {
                status,
                set_headers: vec![("content-type".into(), "application/json".into())],
                remove_headers: vec!["content-length".into(), "content-encoding".into()],
            };
        }
        if self.opts.stream {
            self.scan = UsageScan::sse();
        }
        ResponseHead { status, set_headers: Vec::new(), remove_headers: Vec::new() }
    }

    fn on_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        if let Some(status) = self.error {
            self.buf.extend_from_slice(chunk);
            return if end_of_stream { error_body(status, &std::mem::take(&mut self.buf)) } else { Vec::new() };
        }
        self.scan.feed(chunk, end_of_stream, |json| read_usage(&mut self.usage, json));
        chunk.to_vec()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
