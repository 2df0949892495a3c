//! The response side shared by every translating provider: the provider-specific parts (its
//! error shape, its whole-answer shape, its stream decoder) sit behind [`Dialect`]; this module
//! decides between error, JSON and SSE, buffers only what must be whole (errors and
//! non-streaming answers) and hands the result to the client's writers ([`super::client`]).
//! It is the one response path every provider but the pass-throughs takes, so it sits beside
//! them rather than in any one provider.

use super::chat::{Ev, Ident, Reply};
use super::client::StreamWriter;
use super::codec::sse::SseDecoder;
use super::codec::MAX_ANSWER_BODY;
use super::error::{self, ProviderError};
use super::{header, ResponseHead, ResponseOptions, ResponseTranslator, Usage};

pub(crate) trait Dialect {
    /// The provider's name in errors.
    fn name(&self) -> &'static str;
    /// Sees the response headers first (for a request id, an error type header, ...).
    fn on_headers(&mut self, _headers: &[(String, String)]) {}
    /// The status the client gets for a provider error status (before its body is read).
    fn error_status(&self, status: u16) -> u16 {
        error::error_status(status)
    }
    /// An error response body, whole (at most [`MAX_ANSWER_BODY`] of it).
    fn error(&self, status: u16, body: &[u8]) -> ProviderError;
    /// A successful non-streaming body, whole.
    fn complete<'a>(&self, body: &'a [u8]) -> Result<Reply<'a>, ProviderError>;
    /// Stream bytes: every event of every provider frame they complete, handed to `out` as
    /// soon as it is read.
    fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(Ev));
    /// End of the stream: what a last unterminated frame holds, or an error for a partial one.
    fn finish(&mut self, out: &mut dyn FnMut(Ev));
    /// The chat completion id, when the headers gave one.
    fn id(&self) -> Option<String> {
        None
    }
}

/// The stream side of a [`Dialect`] whose provider streams SSE, read one event's data at a time.
pub(crate) trait SseDialect {
    fn sse(&mut self) -> &mut SseDecoder;
    /// One event's `data`.
    fn event(&mut self, data: &str, out: &mut dyn FnMut(Ev));
}

/// Hands `d` the data of every event completed by `chunk`, or by the end of the body (`None`);
/// an event past the SSE cap ends the stream with an error naming `provider`.
pub(crate) fn feed_sse(d: &mut impl SseDialect, provider: &str, chunk: Option<&[u8]>, out: &mut dyn FnMut(Ev)) {
    // The decoder is taken out while its events go to `d`.
    let mut decoder = std::mem::take(d.sse());
    let mut event = |e: super::codec::sse::SseEvent| d.event(&e.data, out);
    let fed = match chunk {
        Some(chunk) => decoder.feed(chunk, &mut event),
        None => decoder.finish(&mut event),
    };
    *d.sse() = decoder;
    if let Err(e) = fed {
        out(Ev::Error(ProviderError::too_large(provider, e)));
    }
}

enum Mode {
    Error(u16),
    Json,
    Stream,
    /// The provider announced a body over [`MAX_ANSWER_BODY`]: it is not read.
    TooLarge,
}

/// One type for every provider: the dialect is boxed rather than a type parameter, so the
/// wasm holds one copy of this logic instead of one per provider.
pub(crate) struct Translated {
    dialect: Box<dyn Dialect>,
    opts: ResponseOptions,
    model: String,
    mode: Option<Mode>,
    /// The error or answer body, gathered whole (at most [`MAX_ANSWER_BODY`]).
    buf: Vec<u8>,
    /// The body outgrew [`MAX_ANSWER_BODY`]: the rest is dropped.
    overflow: bool,
    writer: Option<StreamWriter>,
    usage: Option<Usage>,
    done: bool,
}

impl Translated {
    pub fn new(dialect: Box<dyn Dialect>, model: &str, opts: ResponseOptions) -> Self {
        Translated {
            dialect,
            opts,
            model: model.to_owned(),
            mode: None,
            buf: Vec::new(),
            overflow: false,
            writer: None,
            usage: None,
            done: false,
        }
    }

    fn ident(&self) -> Ident {
        let prefix = self.opts.client_api.id_prefix();
        let id = self.dialect.id().unwrap_or_else(|| match self.opts.request_id {
            0 => format!("{prefix}{}", self.opts.created),
            n => format!("{prefix}{n:016x}"),
        });
        Ident { id, model: self.model.clone(), created: self.opts.created }
    }

    fn start_mode(&mut self, status: u16, content_length: Option<usize>) -> (u16, &'static str) {
        if !(200..300).contains(&status) {
            let s = self.dialect.error_status(status);
            self.mode = Some(Mode::Error(status));
            (s, "application/json")
        } else if self.opts.stream {
            self.writer = Some(StreamWriter::new(self.opts.client_api, self.ident(), self.opts.include_usage));
            self.mode = Some(Mode::Stream);
            (200, "text/event-stream")
        } else if content_length.is_some_and(|n| n > MAX_ANSWER_BODY) {
            // Known before any of it is sent: the client gets a 502, a region failure that
            // Envoy retries elsewhere.
            self.mode = Some(Mode::TooLarge);
            (502, "application/json")
        } else {
            self.mode = Some(Mode::Json);
            (200, "application/json")
        }
    }

    /// Gathers `chunk` into the whole body, up to [`MAX_ANSWER_BODY`].
    fn gather(&mut self, chunk: &[u8]) {
        if self.overflow {
            return;
        }
        if self.buf.len() + chunk.len() > MAX_ANSWER_BODY {
            self.overflow = true;
            let room = MAX_ANSWER_BODY - self.buf.len().min(MAX_ANSWER_BODY);
            self.buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return;
        }
        self.buf.extend_from_slice(chunk);
    }

    fn too_large(&self) -> ProviderError {
        ProviderError::too_large(
            self.dialect.name(),
            format_args!("an answer larger than {} MiB", MAX_ANSWER_BODY >> 20),
        )
    }

    /// The client's answer for a whole body; an answer that would be over the cap once
    /// translated is an error instead.
    fn answer(&mut self) -> Vec<u8> {
        if self.overflow {
            return self.opts.client_api.error_body(&self.too_large());
        }
        let written = match self.dialect.complete(&self.buf) {
            Ok(reply) => {
                self.usage = reply.usage;
                let hint = self.buf.len();
                let body = self.opts.client_api.answer_body(&self.ident(), &reply, MAX_ANSWER_BODY, hint);
                body.ok_or_else(|| self.too_large())
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(body) => body,
            Err(e) => self.opts.client_api.error_body(&e),
        }
    }

    /// Stream bytes through the dialect and the client's writer; the writer's output for one
    /// chunk is capped like a whole answer: past it, the stream ends with an error event.
    fn stream(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(w) = self.writer.as_mut() else { return out };
        let mut over = false;
        let mut event = |ev: Ev| {
            if !over {
                w.event(&mut out, ev);
                over = out.len() > MAX_ANSWER_BODY;
            }
        };
        self.dialect.feed(chunk, &mut event);
        if end_of_stream {
            self.dialect.finish(&mut event);
        }
        if over {
            let name = self.dialect.name();
            let e = ProviderError::too_large(
                name,
                format_args!("stream events over {} MiB at once", MAX_ANSWER_BODY >> 20),
            );
            w.event(&mut out, Ev::Error(e));
            self.done = true;
        } else if end_of_stream {
            w.end(&mut out);
        }
        self.usage = w.usage();
        out
    }
}

impl ResponseTranslator for Translated {
    fn on_headers(&mut self, status: u16, headers: &[(String, String)]) -> ResponseHead {
        self.dialect.on_headers(headers);
        let content_length = header(headers, "content-length").and_then(|n| n.trim().parse().ok());
        let (status, content_type) = self.start_mode(status, content_length);
        let mut set_headers = vec![("content-type".to_owned(), content_type.to_owned())];
        if content_type == "text/event-stream" {
            set_headers.push(("cache-control".to_owned(), "no-cache".to_owned()));
        }
        ResponseHead {
            status,
            set_headers,
            remove_headers: vec!["content-length".to_owned(), "content-encoding".to_owned()],
        }
    }

    fn on_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        if self.done {
            return Vec::new();
        }
        if self.mode.is_none() {
            // No headers seen (should not happen): take it as a success.
            self.start_mode(200, None);
        }
        let mut out = Vec::new();
        match self.mode {
            Some(Mode::Error(status)) => {
                // An error body over the cap is read from its first MAX_ANSWER_BODY bytes.
                self.gather(chunk);
                if end_of_stream {
                    let e = self.dialect.error(status, &self.buf);
                    out = self.opts.client_api.error_body(&e);
                }
            }
            Some(Mode::TooLarge) => {
                if end_of_stream {
                    out = self.opts.client_api.error_body(&self.too_large());
                }
            }
            Some(Mode::Json) | None => {
                self.gather(chunk);
                if end_of_stream {
                    out = self.answer();
                }
            }
            Some(Mode::Stream) => out = self.stream(chunk, end_of_stream),
        }
        if end_of_stream {
            self.done = true;
            self.buf = Vec::new();
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{response_translator, ClientApi, ProviderKind, Target};
    use serde_json::Value;

    const MIB: usize = 1024 * 1024;

    fn run(
        kind: ProviderKind,
        opts: ResponseOptions,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let mut t = response_translator(&Target::new(kind, "m"), opts);
        let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let head = t.on_headers(status, &headers);
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = body.chunks(MIB).collect();
        for (i, p) in pieces.iter().enumerate() {
            out.extend(t.on_body(p, i + 1 == pieces.len()));
        }
        (head.status, out)
    }

    fn json_opts() -> ResponseOptions {
        ResponseOptions { created: 1, ..ResponseOptions::default() }
    }

    fn code(body: &[u8]) -> String {
        let v: Value = serde_json::from_slice(body).unwrap();
        v["error"]["code"].as_str().unwrap_or_default().to_owned()
    }

    /// A Converse answer padded with spaces to `len` bytes.
    fn converse(len: usize) -> Vec<u8> {
        let mut b = br#"{"output":{"message":{"content":[{"text":"hi"}]}},"stopReason":"end_turn"}"#.to_vec();
        b.resize(len, b' ');
        b
    }

    #[test]
    fn an_answer_over_the_cap_is_a_502_shaped_error_and_one_at_the_cap_translates() {
        let (status, out) = run(ProviderKind::Bedrock, json_opts(), 200, &[], &converse(MAX_ANSWER_BODY));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!((status, v["choices"][0]["message"]["content"].as_str()), (200, Some("hi")));
        let (_, out) = run(ProviderKind::Bedrock, json_opts(), 200, &[], &converse(MAX_ANSWER_BODY + 1));
        assert_eq!(code(&out), "upstream_response_too_large");
    }

    #[test]
    fn a_content_length_over_the_cap_is_a_502_before_any_body() {
        let big = (MAX_ANSWER_BODY + 1).to_string();
        let (status, out) =
            run(ProviderKind::Bedrock, json_opts(), 200, &[("content-length", &big)], &converse(MAX_ANSWER_BODY + 1));
        assert_eq!((status, code(&out).as_str()), (502, "upstream_response_too_large"));
        let at = MAX_ANSWER_BODY.to_string();
        let (status, _) = run(ProviderKind::Bedrock, json_opts(), 200, &[("content-length", &at)], &converse(10));
        assert_eq!(status, 200);
    }

    #[test]
    fn an_error_body_over_the_cap_is_read_from_its_start() {
        let mut body = br#"{"message":"slow down", "pad":""#.to_vec();
        body.resize(MAX_ANSWER_BODY + MIB, b'x');
        let mut t = response_translator(&Target::new(ProviderKind::Bedrock, "m"), json_opts());
        t.on_headers(429, &[]);
        for piece in body.chunks(MIB) {
            assert!(t.on_body(piece, false).is_empty());
        }
        let out = t.on_body(b"\"}", true);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["error"]["message"].as_str().unwrap().starts_with(r#"{"message":"slow down""#), "{v}");
    }

    fn stream_opts(client_api: ClientApi) -> ResponseOptions {
        ResponseOptions { stream: true, created: 1, client_api, ..ResponseOptions::default() }
    }

    #[test]
    fn a_stream_event_over_the_cap_ends_the_stream_with_an_error_event() {
        let start = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n";
        // Under the cap: a 3 MiB text delta goes through.
        let text = "y".repeat(3 * MIB);
        let delta = format!(
            "data: {{\"type\":\"content_block_delta\",\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
        );
        let (_, out) = run(
            ProviderKind::Anthropic,
            stream_opts(ClientApi::OpenAi),
            200,
            &[],
            &[&start[..], delta.as_bytes()].concat(),
        );
        assert!(String::from_utf8_lossy(&out).contains(&text));
        // Over it: an event that never ends is refused once past the cap, in the client's shape.
        let endless = [&start[..], b"data: ", &vec![b'x'; crate::providers::codec::sse::MAX_EVENT + 1]].concat();
        let (_, out) = run(ProviderKind::Anthropic, stream_opts(ClientApi::OpenAi), 200, &[], &endless);
        let last = String::from_utf8(out).unwrap();
        let last = last.trim_end().rsplit("\n\n").next().unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(code(last.as_bytes()), "upstream_response_too_large");
    }

    #[test]
    fn translated_stream_output_over_the_cap_ends_with_an_error_event() {
        // Each tiny tool-call delta opens a content block for an Anthropic client (~200 bytes
        // out for ~25 in): one 3 MiB event would write far past the cap.
        let calls = vec![r#"{"index":0,"id":"a"}"#; 3 * MIB / 21].join(",");
        let event = format!("data: {{\"choices\":[{{\"delta\":{{\"tool_calls\":[{calls}]}}}}]}}\n\n");
        let (_, out) = run(ProviderKind::OpenAi, stream_opts(ClientApi::Anthropic), 200, &[], event.as_bytes());
        assert!(out.len() < MAX_ANSWER_BODY + 64 * 1024, "{} bytes out", out.len());
        let text = String::from_utf8(out).unwrap();
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        assert!(last.starts_with("event: error") && last.contains("does not hold"), "{last}");
    }
}
