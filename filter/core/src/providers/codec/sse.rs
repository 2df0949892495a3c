//! Server-sent events: a decoder that keeps the partial line and event for the next chunk, and
//! the two writers of the events the gateway sends clients.
//!
//! Decoding: lines end in `\n`, `\r\n` or `\r` (a `\r\n` split across chunks counts once), as
//! the SSE specification says; comments (`:`) and unknown fields are skipped. What the decoder
//! holds back (a line without its end, an event without its blank line) is capped at
//! [`MAX_EVENT`]: past it the stream is refused ([`EventTooLarge`]) rather than gathered.

/// The most one event may hold back: its partial line plus its `data` so far. Streamed events
/// are small deltas, but Gemini sends a function call (and an inline image) whole in one event,
/// so the cap is well above what a model writes at once.
pub const MAX_EVENT: usize = 4 * 1024 * 1024;

/// An event (or a line) grew past [`MAX_EVENT`] without ending; the decoder is then failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge;

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a stream event grew past {} MiB without ending", MAX_EVENT >> 20)
    }
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    skip_lf: bool,
    failed: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }

    /// Feeds bytes; every event completed by them goes to `out`, as soon as it is. An event or line past
    /// [`MAX_EVENT`] fails the decoder: this call and every later one return the error (the
    /// events completed before it are still pushed).
    pub fn feed(&mut self, chunk: &[u8], out: &mut dyn FnMut(SseEvent)) -> Result<(), EventTooLarge> {
        if self.failed {
            return Err(EventTooLarge);
        }
        let mut rest = chunk;
        while let Some(&first) = rest.first() {
            if self.skip_lf {
                self.skip_lf = false;
                if first == b'\n' {
                    rest = rest.get(1..).unwrap_or_default();
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.line.extend_from_slice(rest);
                    return self.check();
                }
                Some(i) => {
                    self.line.extend_from_slice(rest.get(..i).unwrap_or_default());
                    self.check()?;
                    self.skip_lf = rest.get(i) == Some(&b'\r');
                    self.end_line(out);
                    self.check()?;
                    rest = rest.get(i + 1..).unwrap_or_default();
                }
            }
        }
        Ok(())
    }

    /// End of the body: a last event without its blank line is still dispatched.
    pub fn finish(&mut self, out: &mut dyn FnMut(SseEvent)) -> Result<(), EventTooLarge> {
        if self.failed {
            return Err(EventTooLarge);
        }
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
        Ok(())
    }

    /// Fails the decoder (and lets go of what it held) once it holds more than [`MAX_EVENT`].
    fn check(&mut self) -> Result<(), EventTooLarge> {
        if self.pending() <= MAX_EVENT {
            return Ok(());
        }
        *self = SseDecoder { failed: true, ..SseDecoder::default() };
        Err(EventTooLarge)
    }

    /// Bytes held back: the partial line plus the event being gathered.
    pub fn pending(&self) -> usize {
        self.line.len() + self.data.as_ref().map_or(0, String::len)
    }

    fn end_line(&mut self, out: &mut dyn FnMut(SseEvent)) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = line.get(i + 1..).unwrap_or_default();
                (line.get(..i).unwrap_or_default(), v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            },
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut dyn FnMut(SseEvent)) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out(SseEvent { event, data });
        }
    }
}

/// Starts an event that is only `data: {json}` (OpenAI's chunks); the caller writes the JSON
/// (on one line) and [`end_event`].
pub(crate) fn start_data(out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
}

/// Starts a named event, `event: {event}` and `data: ` (Anthropic's Messages stream); the
/// caller writes the JSON (on one line) and [`end_event`].
pub(crate) fn start_event(out: &mut Vec<u8>, event: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
}

pub(crate) fn end_event(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut |e| out.push(e)).unwrap();
        }
        d.finish(&mut |e| out.push(e)).unwrap();
        out
    }

    #[test]
    fn events_with_names_and_multiline_data() {
        let ev = all(&[b"event: a\ndata: 1\ndata: 2\n\n: comment\ndata:x\n\n"]);
        assert_eq!(
            ev,
            vec![SseEvent { event: Some("a".into()), data: "1\n2".into() }, SseEvent { event: None, data: "x".into() }]
        );
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        let ev = all(&[b"data: 1\r", b"\n\r", b"\ndata: 2\r\r"]);
        assert_eq!(ev.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn last_event_without_blank_line_is_kept() {
        assert_eq!(all(&[b"data: end"]).len(), 1);
        assert_eq!(all(&[b"event: only\n\n"]).len(), 0);
    }

    #[test]
    fn an_event_or_a_line_past_the_cap_fails_the_decoder() {
        let mb = vec![b'x'; 1024 * 1024];
        // A data line without its end, fed in 1 MiB pieces: refused once past the cap.
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: ", &mut |e| out.push(e)).unwrap();
        for _ in 0..3 {
            d.feed(&mb, &mut |e| out.push(e)).unwrap();
        }
        assert_eq!(d.feed(&mb, &mut |e| out.push(e)), Err(EventTooLarge));
        assert_eq!(d.pending(), 0, "what it held is let go");
        assert_eq!(d.feed(b"\n\ndata: 1\n\n", &mut |e| out.push(e)), Err(EventTooLarge), "failed stays failed");
        assert_eq!(d.finish(&mut |e| out.push(e)), Err(EventTooLarge));
        assert!(out.is_empty());

        // Many short data lines with no blank line between them: the event is what grows.
        let line = [b"data: ", &mb[..64 * 1024], b"\n"].concat();
        let mut d = SseDecoder::new();
        d.feed(b"data: first\n\n", &mut |e| out.push(e)).unwrap();
        let mut result = Ok(());
        for _ in 0..65 {
            result = result.and(d.feed(&line, &mut |e| out.push(e)));
        }
        assert_eq!(result, Err(EventTooLarge));
        assert_eq!(out.len(), 1, "the event completed before the overflow is kept");

        // Just under the cap: one event of MAX_EVENT bytes of data passes.
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.feed(b"data: ", &mut |e| out.push(e)).unwrap();
        for _ in 0..4 {
            d.feed(&mb[..1024 * 1024 - 2], &mut |e| out.push(e)).unwrap();
        }
        d.feed(b"\n\n", &mut |e| out.push(e)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 4 * (1024 * 1024 - 2));
    }
}
