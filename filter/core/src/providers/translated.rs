//! The response side shared by every translating provider: the provider-specific parts (its
//! error shape, its whole-answer shape, its stream decoder) sit behind [`Dialect`]; this module
//! decides between error, JSON and SSE, buffers only what must be whole (errors and
//! non-streaming answers) and hands the result to the client's writers ([`super::client`]).
//! It is the one response path every provider but the pass-throughs takes, so it sits beside
//! them rather than in any one provider.

use super::chat::{Ev, Ident, Reply};
use super::client::StreamWriter;
use super::codec::sse::{SseDecoder, SseEvent};
use super::error::{self, ProviderError};
use super::{ResponseHead, ResponseOptions, ResponseTranslator, Usage};

pub(crate) trait Dialect {
    /// Sees the response headers first (for a request id, an error type header, ...).
    fn on_headers(&mut self, _headers: &[(String, String)]) {}
    /// The status the client gets for a provider error status (before its body is read).
    fn error_status(&self, status: u16) -> u16 {
        error::error_status(status)
    }
    /// An error response body, whole.
    fn error(&self, status: u16, body: &[u8]) -> ProviderError;
    /// A successful non-streaming body, whole.
    fn complete(&self, body: &[u8]) -> Result<Reply, ProviderError>;
    /// Stream bytes: every event of every provider frame they complete.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Ev>);
    /// End of the stream: what a last unterminated frame holds, or an error for a partial one.
    fn finish(&mut self, out: &mut Vec<Ev>);
    /// The chat completion id, when the headers gave one.
    fn id(&self) -> Option<String> {
        None
    }
}

/// The stream side of a [`Dialect`] whose provider streams SSE, read one event's data at a time.
pub(crate) trait SseDialect {
    fn sse(&mut self) -> &mut SseStream;
    /// One event's `data`.
    fn event(&mut self, data: &str, out: &mut Vec<Ev>);
}

/// The decoder of an [`SseDialect`], with the buffer its events are gathered in.
#[derive(Debug, Default)]
pub(crate) struct SseStream {
    decoder: SseDecoder,
    events: Vec<SseEvent>,
}

/// Hands `d` the data of every event completed by `chunk`, or by the end of the body (`None`).
pub(crate) fn feed_sse(d: &mut impl SseDialect, chunk: Option<&[u8]>, out: &mut Vec<Ev>) {
    let mut events = std::mem::take(&mut d.sse().events);
    match chunk {
        Some(chunk) => d.sse().decoder.feed(chunk, &mut events),
        None => d.sse().decoder.finish(&mut events),
    }
    for e in events.drain(..) {
        d.event(&e.data, out);
    }
    d.sse().events = events;
}

enum Mode {
    Error(u16),
    Json,
    Stream,
}

/// One type for every provider: the dialect is boxed rather than a type parameter, so the
/// wasm holds one copy of this logic instead of one per provider.
pub(crate) struct Translated {
    dialect: Box<dyn Dialect>,
    opts: ResponseOptions,
    model: String,
    mode: Option<Mode>,
    buf: Vec<u8>,
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

    fn start_mode(&mut self, status: u16) -> (u16, &'static str) {
        if !(200..300).contains(&status) {
            let s = self.dialect.error_status(status);
            self.mode = Some(Mode::Error(status));
            (s, "application/json")
        } else if self.opts.stream {
            self.writer = Some(StreamWriter::new(self.opts.client_api, self.ident(), self.opts.include_usage));
            self.mode = Some(Mode::Stream);
            (200, "text/event-stream")
        } else {
            self.mode = Some(Mode::Json);
            (200, "application/json")
        }
    }
}

impl ResponseTranslator for Translated {
    fn on_headers(&mut self, status: u16, headers: &[(String, String)]) -> ResponseHead {
        self.dialect.on_headers(headers);
        let (status, content_type) = self.start_mode(status);
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
            self.start_mode(200);
        }
        let mut out = Vec::new();
        match self.mode {
            Some(Mode::Error(status)) => {
                self.buf.extend_from_slice(chunk);
                if end_of_stream {
                    let e = self.dialect.error(status, &self.buf);
                    out = self.opts.client_api.error_body(&e);
                }
            }
            Some(Mode::Json) | None => {
                self.buf.extend_from_slice(chunk);
                if end_of_stream {
                    out = match self.dialect.complete(&self.buf) {
                        Ok(reply) => {
                            self.usage = reply.usage;
                            self.opts.client_api.answer_body(&self.ident(), &reply)
                        }
                        Err(e) => self.opts.client_api.error_body(&e),
                    };
                }
            }
            Some(Mode::Stream) => {
                let mut events = Vec::new();
                self.dialect.feed(chunk, &mut events);
                if end_of_stream {
                    self.dialect.finish(&mut events);
                }
                if let Some(w) = self.writer.as_mut() {
                    for ev in events {
                        w.event(&mut out, ev);
                    }
                    if end_of_stream {
                        w.end(&mut out);
                    }
                    self.usage = w.usage();
                }
            }
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
