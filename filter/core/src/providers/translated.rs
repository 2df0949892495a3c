//! The response side shared by every translating provider: the provider-specific parts (its
//! error shape, its whole-answer shape, its stream decoder) sit behind [`Dialect`]; this module
//! decides between error, JSON, SSE and a stream assembled into one answer (a client that wants
//! one answer from a provider asked for a stream), buffers only what must be whole (errors,
//! non-streaming answers, the text and tool calls of an assembled one) and hands the result to
//! the client's writers ([`super::client`]).
//! It is the one response path every provider but the pass-throughs takes, so it sits beside
//! them rather than in any one provider.

use super::chat::{Ev, Gathered, Ident, Reply};
use super::client::StreamWriter;
use super::codec::sse::SseDecoder;
use super::codec::MAX_ANSWER_BODY;
use super::error::{self, ProviderError};
use super::{header, FirstContent, ResponseHead, ResponseOptions, ResponseTranslator, Usage};

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
    /// The provider streams an answer the client wants whole ([`ResponseOptions::upstream_stream`]):
    /// its events are gathered and written as one answer at the end.
    Assemble,
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
    /// The answer gathered from the stream in [`Mode::Assemble`]; dropped once it failed.
    gathered: Option<Gathered>,
    /// The client's error body for an assembled answer that failed after its first content
    /// (the client's status is already out): written at the end, and the stream is reset
    /// ([`ResponseTranslator::broken_after_content`]).
    broken: Option<Vec<u8>>,
    /// A stream's provider failed after its first content (its error event was written).
    error_after_content: bool,
    usage: Option<Usage>,
    done: bool,
    /// Whether a streamed answer has shown content yet ([`FirstContent::Seen`] for every
    /// other answer).
    first: FirstContent,
    /// The provider said how its answer finished: a stream that ends without content but with
    /// this is a (legitimately) empty answer, not a failure.
    finish_seen: bool,
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
            gathered: None,
            broken: None,
            error_after_content: false,
            usage: None,
            done: false,
            first: FirstContent::Seen,
            finish_seen: false,
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

    /// `json`: the provider answered with a JSON document (a stream was asked for, but a whole
    /// answer is read as one).
    fn start_mode(&mut self, status: u16, content_length: Option<usize>, json: bool) -> (u16, &'static str) {
        if !(200..300).contains(&status) {
            let s = self.dialect.error_status(status);
            self.mode = Some(Mode::Error(status));
            (s, "application/json")
        } else if self.opts.stream {
            self.writer = Some(StreamWriter::new(self.opts.client_api, self.ident(), self.opts.include_usage));
            self.mode = Some(Mode::Stream);
            self.first = FirstContent::Waiting;
            (200, "text/event-stream")
        } else if self.opts.upstream_stream && !json {
            self.gathered = Some(Gathered::new(MAX_ANSWER_BODY));
            self.mode = Some(Mode::Assemble);
            self.first = FirstContent::Waiting;
            (200, "application/json")
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
    /// Before the first content an error is not written: the answer fails as a whole
    /// ([`FirstContent::Failed`]) and nothing of it is returned.
    fn stream(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(w) = self.writer.as_mut() else { return out };
        let client_api = self.opts.client_api;
        let first = &mut self.first;
        let finish_seen = &mut self.finish_seen;
        let error_after_content = &mut self.error_after_content;
        let mut over = false;
        let mut event = |ev: Ev| {
            if over || matches!(first, FirstContent::Failed { .. }) {
                return;
            }
            if *first == FirstContent::Seen && matches!(ev, Ev::Error(_)) {
                *error_after_content = true;
            }
            if *first == FirstContent::Waiting {
                match &ev {
                    ev if is_content(ev) => *first = FirstContent::Seen,
                    Ev::Finish(_) => *finish_seen = true,
                    Ev::Error(e) => {
                        *first = failed_before_content(client_api, e);
                        return;
                    }
                    _ => {}
                }
            }
            w.event(&mut out, ev);
            over = out.len() > MAX_ANSWER_BODY;
        };
        self.dialect.feed(chunk, &mut event);
        if end_of_stream {
            self.dialect.finish(&mut event);
        }
        // The usage read so far, whatever follows (the same however the body was cut).
        self.usage = w.usage();
        if matches!(self.first, FirstContent::Failed { .. }) {
            self.done = true;
            return Vec::new();
        }
        if over {
            let name = self.dialect.name();
            let e = ProviderError::too_large(
                name,
                format_args!("stream events over {} MiB at once", MAX_ANSWER_BODY >> 20),
            );
            if self.first == FirstContent::Waiting {
                self.first = failed_before_content(client_api, &e);
                self.done = true;
                return Vec::new();
            }
            w.event(&mut out, Ev::Error(e));
            self.done = true;
        } else if end_of_stream {
            if self.first == FirstContent::Waiting {
                // Ended without content: a clean empty answer when the provider said how it
                // finished, else a stream cut short before anything worth sending.
                if !self.finish_seen {
                    self.first = failed_before_content(client_api, &ProviderError::truncated());
                    return Vec::new();
                }
                self.first = FirstContent::Seen;
            }
            w.end(&mut out);
        }
        self.usage = w.usage();
        out
    }

    /// Stream bytes through the dialect into the gathered answer: nothing comes out until the
    /// end of the body, where the whole answer does. The first content is watched as in
    /// [`Self::stream`]; a failure after it (an error event, the cap, a stream cut before the
    /// provider finished) cannot change the status the client already has: the answer is
    /// broken, and the end of the body is the client's error instead of an answer.
    fn assemble(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        let Some(g) = self.gathered.as_mut() else {
            // Failed already: before content nothing is written, after it the error is.
            return if end_of_stream { self.broken.clone().unwrap_or_default() } else { Vec::new() };
        };
        let name = self.dialect.name();
        let first = &mut self.first;
        let mut failure = None;
        let mut event = |ev: Ev| {
            if failure.is_some() {
                return;
            }
            if *first == FirstContent::Waiting && is_content(&ev) {
                *first = FirstContent::Seen;
            }
            match ev {
                Ev::Error(e) => failure = Some(e),
                ev => {
                    if !g.add(ev) {
                        let what = format_args!("an answer larger than {} MiB", MAX_ANSWER_BODY >> 20);
                        failure = Some(ProviderError::too_large(name, what));
                    }
                }
            }
        };
        self.dialect.feed(chunk, &mut event);
        if end_of_stream {
            self.dialect.finish(&mut event);
        }
        // The usage read so far, whatever follows (the same however the body was cut).
        self.usage = g.usage();
        if failure.is_none() && end_of_stream && g.finish().is_none() {
            failure = Some(ProviderError::truncated());
        }
        if let Some(e) = failure {
            return self.assembly_failed(&e, end_of_stream);
        }
        if !end_of_stream {
            return Vec::new();
        }
        // Ended with a finish: an answer, empty or not.
        self.first = FirstContent::Seen;
        let ident = self.ident();
        let client_api = self.opts.client_api;
        let Some(g) = self.gathered.as_mut() else { return Vec::new() };
        let hint = g.len() + 512;
        let body = g.reply().and_then(|reply| client_api.answer_body(&ident, &reply, MAX_ANSWER_BODY, hint));
        match body {
            Some(body) => body,
            None => self.assembly_failed(&self.too_large(), true),
        }
    }

    /// An assembled answer failed with `e`: before its first content the whole attempt fails
    /// ([`FirstContent::Failed`]); after it the answer is broken, and its end is `e`.
    fn assembly_failed(&mut self, e: &ProviderError, end_of_stream: bool) -> Vec<u8> {
        self.gathered = None;
        let body = self.opts.client_api.error_body(e);
        if self.first == FirstContent::Waiting {
            self.first = FirstContent::Failed { status: failed_status(e), body };
            self.done = true;
            return Vec::new();
        }
        let out = if end_of_stream { body.clone() } else { Vec::new() };
        self.broken = Some(body);
        out
    }
}

/// Whether `ev` is content: text that is not empty, or a tool call.
fn is_content(ev: &Ev) -> bool {
    match ev {
        Ev::Text(t) => !t.is_empty(),
        Ev::ToolStart { .. } => true,
        _ => false,
    }
}

/// A provider's error before any content, as the failure of the whole attempt: 429 when the
/// provider is rate limiting or overloaded, else 503 (both are retried on the next
/// deployment), with the error in the client's API for when no deployment is left.
fn failed_before_content(client_api: super::ClientApi, e: &ProviderError) -> FirstContent {
    FirstContent::Failed { status: failed_status(e), body: client_api.error_body(e) }
}

/// 429 when the provider is rate limiting or overloaded, else 503.
fn failed_status(e: &ProviderError) -> u16 {
    if matches!(e.status, 429 | 529) {
        429
    } else {
        503
    }
}

/// A pass-through answer to a streaming client, watched by the provider's own decoder until
/// its first content, so it is held and failed over like a translated one; the bytes the
/// client gets are still the provider's, untouched.
pub(crate) struct WatchedPassThrough {
    inner: Box<dyn ResponseTranslator>,
    /// Reads the stream until the first content (then it is dropped) or a failure (kept, so
    /// the failure stays known).
    watch: Option<Translated>,
}

impl WatchedPassThrough {
    /// `inner` alone when there is nothing to watch (the client does not stream).
    pub fn wrap(inner: Box<dyn ResponseTranslator>, watch: Option<Translated>) -> Box<dyn ResponseTranslator> {
        match watch {
            Some(watch) => Box::new(WatchedPassThrough { inner, watch: Some(watch) }),
            None => inner,
        }
    }
}

impl ResponseTranslator for WatchedPassThrough {
    fn on_headers(&mut self, status: u16, headers: &[(String, String)]) -> ResponseHead {
        if let Some(w) = self.watch.as_mut() {
            w.on_headers(status, headers);
        }
        self.inner.on_headers(status, headers)
    }

    fn on_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
        // The inner one reads every byte, so its usage does not depend on where a failure was cut.
        let out = self.inner.on_body(chunk, end_of_stream);
        if let Some(w) = self.watch.as_mut() {
            w.on_body(chunk, end_of_stream);
            match w.first_content() {
                FirstContent::Seen => self.watch = None,
                FirstContent::Failed { .. } => return Vec::new(),
                FirstContent::Waiting => {}
            }
        }
        out
    }

    fn usage(&self) -> Option<Usage> {
        self.inner.usage()
    }

    fn first_content(&self) -> FirstContent {
        self.watch.as_ref().map_or(FirstContent::Seen, |w| w.first_content())
    }
}

impl ResponseTranslator for Translated {
    fn on_headers(&mut self, status: u16, headers: &[(String, String)]) -> ResponseHead {
        self.dialect.on_headers(headers);
        let content_length = header(headers, "content-length").and_then(|n| n.trim().parse().ok());
        let json = header(headers, "content-type").is_some_and(|c| c.trim_start().starts_with("application/json"));
        let (status, content_type) = self.start_mode(status, content_length, json);
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
            self.start_mode(200, None, false);
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
            Some(Mode::Assemble) => out = self.assemble(chunk, end_of_stream),
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

    fn first_content(&self) -> FirstContent {
        self.first.clone()
    }

    fn broken_after_content(&self) -> bool {
        self.broken.is_some()
    }

    fn failed_after_content(&self) -> bool {
        self.broken.is_some() || self.error_after_content
    }
}

#[cfg(test)]
mod assemble_tests;

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
        let hi = b"data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n";
        let endless = [&start[..], hi, b"data: ", &vec![b'x'; crate::providers::codec::sse::MAX_EVENT + 1]].concat();
        let (_, out) = run(ProviderKind::Anthropic, stream_opts(ClientApi::OpenAi), 200, &[], &endless);
        let last = String::from_utf8(out).unwrap();
        let last = last.trim_end().rsplit("\n\n").next().unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(code(last.as_bytes()), "upstream_response_too_large");
        // Before any content it fails the whole answer instead (a 503 the next region retries).
        let endless = [&start[..], b"data: ", &vec![b'x'; crate::providers::codec::sse::MAX_EVENT + 1]].concat();
        let mut t = response_translator(&Target::new(ProviderKind::Anthropic, "m"), stream_opts(ClientApi::OpenAi));
        t.on_headers(200, &[]);
        assert!(t.on_body(&endless, false).is_empty());
        let FirstContent::Failed { status, body } = t.first_content() else { panic!("{:?}", t.first_content()) };
        assert_eq!((status, code(&body).as_str()), (503, "upstream_response_too_large"));
    }

    /// Feeds `pieces` one at a time (the last ends the body) and returns the output and where the
    /// answer stands after each.
    fn stream_states(kind: ProviderKind, client_api: ClientApi, pieces: &[&[u8]]) -> (Vec<u8>, Vec<FirstContent>) {
        let mut t = response_translator(&Target::new(kind, "m"), stream_opts(client_api));
        t.on_headers(200, &[]);
        let mut out = Vec::new();
        let mut states = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            out.extend(t.on_body(p, i + 1 == pieces.len()));
            states.push(t.first_content());
        }
        (out, states)
    }

    #[test]
    fn a_stream_waits_for_text_or_a_tool_call_and_fails_on_an_error_or_an_early_end() {
        use FirstContent::{Seen, Waiting};
        let start = &b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n"[..];
        let delta = |d: &str| {
            format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{d}}}\n\n"
            )
        };
        let empty = delta(r#"{"type":"text_delta","text":""}"#);
        let text = delta(r#"{"type":"text_delta","text":"hi"}"#);
        let stop = &b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"[..];
        let (out, states) = stream_states(
            ProviderKind::Anthropic,
            ClientApi::OpenAi,
            &[start, empty.as_bytes(), text.as_bytes(), stop],
        );
        assert_eq!(states, [Waiting, Waiting, Seen, Seen], "empty text is not content");
        assert!(String::from_utf8(out).unwrap().ends_with("data: [DONE]\n\n"));

        let tool = &b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n"[..];
        let (_, states) = stream_states(ProviderKind::Anthropic, ClientApi::Anthropic, &[start, tool, stop]);
        assert_eq!(states[1], Seen, "a tool call is content");

        // An answer that finished cleanly with nothing in it is released as it is.
        let (out, states) = stream_states(ProviderKind::Anthropic, ClientApi::OpenAi, &[start, stop]);
        assert_eq!(states, [Waiting, Seen]);
        assert!(String::from_utf8(out).unwrap().contains("\"finish_reason\":\"stop\""));

        // A provider error before content: 429 for overload, in the client's shape.
        let overloaded = &b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"[..];
        let (out, states) =
            stream_states(ProviderKind::Anthropic, ClientApi::Anthropic, &[start, overloaded, text.as_bytes()]);
        assert!(!String::from_utf8(out).unwrap().contains("error"), "the error is not in the stream");
        let FirstContent::Failed { status, body } = &states[2] else { panic!("{states:?}") };
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (*status, v["type"].as_str(), v["error"]["type"].as_str()),
            (429, Some("error"), Some("overloaded_error")),
            "{v}"
        );

        // Any other error is a 503; so is an end before content without a finish.
        let api =
            &b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n"[..];
        let (_, states) = stream_states(ProviderKind::Anthropic, ClientApi::OpenAi, &[start, api]);
        assert!(matches!(states[1], FirstContent::Failed { status: 503, .. }), "{states:?}");
        let (_, states) = stream_states(ProviderKind::Anthropic, ClientApi::OpenAi, &[start, start]);
        let FirstContent::Failed { status, body } = &states[1] else { panic!("{states:?}") };
        assert_eq!((*status, code(body).as_str()), (503, "upstream_stream_truncated"));

        // After content an error is an error event in the stream, as before.
        let (out, states) =
            stream_states(ProviderKind::Anthropic, ClientApi::Anthropic, &[start, text.as_bytes(), api]);
        assert_eq!(states[2], Seen);
        assert!(String::from_utf8(out).unwrap().contains("event: error"));

        // A client that does not stream is never held.
        let mut t = response_translator(&Target::new(ProviderKind::Anthropic, "m"), json_opts());
        t.on_headers(200, &[]);
        assert_eq!(t.first_content(), Seen);
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
