//! Server-sent events: a decoder that keeps the partial line and event for the next chunk, and
//! the two writers of the events the gateway sends clients.
//!
//! Decoding: lines end in `\n`, `\r\n` or `\r` (a `\r\n` split across chunks counts once), as
//! the SSE specification says; comments (`:`) and unknown fields are skipped.

use serde_json::Value;

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
}

impl SseDecoder {
    pub fn new() -> Self {
        SseDecoder::default()
    }

    /// Feeds bytes; every event completed by them is pushed to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
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
                    return;
                }
                Some(i) => {
                    self.line.extend_from_slice(rest.get(..i).unwrap_or_default());
                    self.skip_lf = rest.get(i) == Some(&b'\r');
                    self.end_line(out);
                    rest = rest.get(i + 1..).unwrap_or_default();
                }
            }
        }
    }

    /// End of the body: a last event without its blank line is still dispatched.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
    }

    /// Bytes held back: the partial line plus the event being gathered.
    pub fn pending(&self) -> usize {
        self.line.len() + self.data.as_ref().map_or(0, String::len)
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
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

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out.push(SseEvent { event, data });
        }
    }
}

/// Writes an event that is only `data: {json}` (OpenAI's chunks).
pub(crate) fn write_data(out: &mut Vec<u8>, v: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(v.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Writes a named event: `event: {event}` and `data: {json}` (Anthropic's Messages stream).
pub(crate) fn write_event(out: &mut Vec<u8>, event: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
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
}
