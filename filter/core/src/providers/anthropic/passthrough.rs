//! An Anthropic-form client's answer from Anthropic or Claude on Vertex: passed on as it comes,
//! with the usage read on the side (`message_start` / `message_delta` events, or the message's
//! `usage`). Errors are buffered: Vertex answers its own in Google's shape, which becomes
//! Anthropic's; Anthropic's own pass unchanged.

use super::error::{anthropic_error, ErrorDoc};
use super::response::AnthropicUsage;
use crate::providers::codec::usage::UsageScan;
use crate::providers::codec::MAX_ANSWER_BODY;
use crate::providers::error::{error_status, ProviderError};
use crate::providers::json::{self, Obj};
use crate::providers::vertex::google_error;
use crate::providers::{ResponseHead, ResponseOptions, ResponseTranslator, Usage};

pub struct PassThrough {
    opts: ResponseOptions,
    /// Error status of the provider, when it answered one.
    error: Option<u16>,
    /// The error body, gathered whole (its first [`MAX_ANSWER_BODY`] bytes).
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
    json::reader! {
        struct WithUsage {
            "usage" => usage: Obj<AnthropicUsage>,
            "message" => message: Obj<Message>,
        }
    }
    json::reader! {
        struct Message {
            "usage" => usage: Obj<AnthropicUsage>,
        }
    }
    let Ok(v) = json::document::<WithUsage>(json) else { return };
    let Some(u) = v.usage.0.or_else(|| v.message.0.and_then(|m| m.usage.0)) else { return };
    let mut usage = total.unwrap_or_default();
    if let Some(i) = u.input_tokens() {
        usage.input_tokens = i;
    }
    if let Some(o) = u.output_tokens.0 {
        usage.output_tokens = o;
    }
    *total = Some(usage);
}

fn error_body(status: u16, body: &[u8]) -> Vec<u8> {
    let doc = json::document::<ErrorDoc>(body).unwrap_or_default();
    if doc.ty.as_deref() == Some("error") {
        return body.to_vec();
    }
    let e: ProviderError = if doc.is_google(body) { google_error(status, body) } else { anthropic_error(status, body) };
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
            // An error body over the cap is read from its start: its message is there.
            let room = MAX_ANSWER_BODY.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(chunk.get(..room).unwrap_or(chunk));
            return if end_of_stream { error_body(status, &std::mem::take(&mut self.buf)) } else { Vec::new() };
        }
        self.scan.feed(chunk, end_of_stream, |json| read_usage(&mut self.usage, json));
        chunk.to_vec()
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_over_the_cap_is_held_only_up_to_it() {
        let mut p = PassThrough::new(ResponseOptions {
            client_api: crate::providers::ClientApi::Anthropic,
            ..Default::default()
        });
        p.on_headers(529, &[]);
        let mut body = br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"},"pad":""#.to_vec();
        body.resize(MAX_ANSWER_BODY + 3 * 1024 * 1024, b'x');
        for piece in body.chunks(1024 * 1024) {
            assert!(p.on_body(piece, false).is_empty());
            assert!(p.buf.len() <= MAX_ANSWER_BODY);
        }
        let out = p.on_body(b"\"}", true);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "error");
        assert!(v["error"]["message"].as_str().unwrap().starts_with(r#"{"type":"error""#), "{v}");
    }
}
