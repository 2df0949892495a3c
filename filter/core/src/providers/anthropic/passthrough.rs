//! An Anthropic-form client's answer from Anthropic or Claude on Vertex: passed on as it comes,
//! with the usage read on the side (`message_start` / `message_delta` events, or the message's
//! `usage`). Errors are buffered: Vertex answers its own in Google's shape, which becomes
//! Anthropic's; Anthropic's own pass unchanged.

use serde_json::Value;

use super::response::input_tokens;
use crate::providers::errors::{self, ProviderError};
use crate::providers::sse::{SseDecoder, SseEvent};
use crate::providers::{ResponseHead, ResponseOptions, ResponseTranslator, Usage};

/// A non-streaming body larger than this is passed on without reading its usage.
const MAX_USAGE_SCAN: usize = 8 * 1024 * 1024;

pub struct PassThrough {
    opts: ResponseOptions,
    /// Error status of the provider, when it answered one.
    error: Option<u16>,
    sse: Option<SseDecoder>,
    events: Vec<SseEvent>,
    buf: Vec<u8>,
    scan: bool,
    usage: Option<Usage>,
}

impl PassThrough {
    pub fn new(opts: ResponseOptions) -> Self {
        PassThrough { opts, error: None, sse: None, events: Vec::new(), buf: Vec::new(), scan: true, usage: None }
    }

    /// Usage from a message (`usage`) or a stream event (`message.usage`, `usage`).
    fn read_usage(&mut self, v: &Value) {
        let Some(u) = v.get("usage").or_else(|| v.pointer("/message/usage")) else { return };
        let mut usage = self.usage.unwrap_or_default();
        if let Some(i) = input_tokens(u) {
            usage.input_tokens = i;
        }
        if let Some(o) = u.get("output_tokens").and_then(Value::as_u64) {
            usage.output_tokens = o;
        }
        self.usage = Some(usage);
    }
}

fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return body.to_vec();
    }
    let e: ProviderError = if v.is_array() || v.pointer("/error/status").is_some() {
        errors::google(status, body)
    } else {
        errors::anthropic(status, body)
    };
    e.anthropic_body()
}

impl ResponseTranslator for PassThrough {
    fn on_headers(&mut self, status: u16, _headers: &[(String, String)]) -> ResponseHead {
        if !(200..300).contains(&status) {
            let status = errors::error_status(status);
            self.error = Some(status);
            return ResponseHead {
                status,
                set_headers: vec![("content-type".into(), "application/json".into())],
                remove_headers: vec!["content-length".into(), "content-encoding".into()],
            };
        }
        if self.opts.stream {
            self.sse = Some(SseDecoder::new());
        }
        ResponseHead { status, set_headers: Vec::new(), remove_headers: Vec::new() }
    }

    fn on_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        if let Some(status) = self.error {
            self.buf.extend_from_slice(chunk);
            return if end_of_stream { error_body(status, &std::mem::take(&mut self.buf)) } else { Vec::new() };
        }
        let mut events = std::mem::take(&mut self.events);
        if let Some(sse) = self.sse.as_mut() {
            sse.feed(chunk, &mut events);
            if end_of_stream {
                sse.finish(&mut events);
            }
            for e in events.drain(..) {
                if e.data.contains("\"usage\"") {
                    if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
                        self.read_usage(&v);
                    }
                }
            }
        } else if self.scan {
            if self.buf.len() + chunk.len() <= MAX_USAGE_SCAN {
                self.buf.extend_from_slice(chunk);
            } else {
                self.scan = false;
                self.buf = Vec::new();
            }
            if end_of_stream && self.scan {
                if let Ok(v) = serde_json::from_slice::<Value>(&std::mem::take(&mut self.buf)) {
                    self.read_usage(&v);
                }
            }
        }
        self.events = events;
        chunk.to_vec()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
