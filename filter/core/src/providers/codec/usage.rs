//! The usage of a response that passes through unchanged, read on the side without holding the
//! body back: from the SSE events that mention it, or from the whole JSON body at its end.

use super::sse::SseDecoder;

/// A non-streaming body larger than this is passed on without reading its usage (a stream's
/// events are capped by [`super::sse::MAX_EVENT`]: one past it ends the scan, not the stream).
pub const MAX_USAGE_SCAN: usize = super::MAX_ANSWER_BODY;

#[derive(Debug, Default)]
pub(crate) struct UsageScan {
    sse: Option<SseDecoder>,
    buf: Vec<u8>,
    /// Whether a non-streaming body is still gathered (not once it outgrew [`MAX_USAGE_SCAN`]).
    scan: bool,
}

impl UsageScan {
    /// Reads nothing.
    pub fn off() -> Self {
        UsageScan::default()
    }

    /// Reads the usage from the whole body, one JSON document.
    pub fn json() -> Self {
        UsageScan { scan: true, ..UsageScan::default() }
    }

    /// Reads the usage from the events of an SSE stream.
    pub fn sse() -> Self {
        UsageScan { sse: Some(SseDecoder::new()), ..UsageScan::default() }
    }

    /// Takes the next piece of the body; `read` gets the data of each SSE event that mentions
    /// `"usage"` (cheap to spot, and most events do not), or the whole JSON body at its end.
    pub fn feed(&mut self, chunk: &[u8], end_of_stream: bool, mut read: impl FnMut(&[u8])) {
        if let Some(sse) = self.sse.as_mut() {
            let mut event = |e: super::sse::SseEvent| {
                if e.data.contains("\"usage\"") {
                    read(e.data.as_bytes());
                }
            };
            let mut fed = sse.feed(chunk, &mut event);
            if end_of_stream && fed.is_ok() {
                fed = sse.finish(&mut event);
            }
            if fed.is_err() {
                // The body still passes; only its usage goes unread.
                self.sse = None;
            }
        } else if self.scan {
            if self.buf.len() + chunk.len() <= MAX_USAGE_SCAN {
                self.buf.extend_from_slice(chunk);
            } else {
                self.scan = false;
                self.buf = Vec::new();
            }
            if end_of_stream && self.scan {
                read(&std::mem::take(&mut self.buf));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(mut s: UsageScan, chunks: &[&[u8]]) -> Vec<String> {
        let mut seen = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            s.feed(c, i + 1 == chunks.len(), |j| seen.push(String::from_utf8_lossy(j).into_owned()));
        }
        seen
    }

    #[test]
    fn a_json_body_over_the_cap_is_not_read() {
        let big = vec![b' '; MAX_USAGE_SCAN];
        let body = br#"{"usage":{}}"#;
        assert_eq!(scan(UsageScan::json(), &[&big[..MAX_USAGE_SCAN - body.len()], body]).len(), 1);
        assert!(scan(UsageScan::json(), &[&big, body]).is_empty());
    }

    #[test]
    fn an_sse_event_over_the_cap_ends_the_scan_only() {
        let big = vec![b'x'; super::super::sse::MAX_EVENT + 1];
        let seen = scan(UsageScan::sse(), &[b"data: {\"usage\":1}\n\ndata: ", &big, b"\n\ndata: {\"usage\":2}\n\n"]);
        assert_eq!(seen, ["{\"usage\":1}"]);
    }
}
