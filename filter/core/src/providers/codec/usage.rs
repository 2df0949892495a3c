//! The usage of a response that passes through unchanged, read on the side without holding the
//! body back: from the SSE events that mention it, or from the whole JSON body at its end.

use super::sse::{SseDecoder, SseEvent};

/// A non-streaming body larger than this is passed on without reading its usage.
pub const MAX_USAGE_SCAN: usize = 8 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct UsageScan {
    sse: Option<SseDecoder>,
    events: Vec<SseEvent>,
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
            sse.feed(chunk, &mut self.events);
            if end_of_stream {
                sse.finish(&mut self.events);
            }
            for e in self.events.drain(..) {
                if e.data.contains("\"usage\"") {
                    read(e.data.as_bytes());
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
                read(&std::mem::take(&mut self.buf));
            }
        }
    }
}
