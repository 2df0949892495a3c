//! An OpenAI-shaped response for an OpenAI-form client passes through untouched; only the
//! usage is read on the side (the SSE usage chunk as it goes by, or the JSON's `usage` at the
//! end), without holding the stream back.

use crate::providers::json::{self, Obj, U64};

use crate::providers::codec::usage::UsageScan;
pub use crate::providers::codec::usage::MAX_USAGE_SCAN;
use crate::providers::{ResponseHead, ResponseOptions, ResponseTranslator, Usage};

json::reader! {
    struct WithUsage {
        "usage" => usage: Obj<OpenAiUsage>,
    }
}

json::reader! {
    struct OpenAiUsage {
        "prompt_tokens" => prompt_tokens: U64,
        "completion_tokens" => completion_tokens: U64,
    }
}

/// Passes an OpenAI-shaped response on as it comes, reading its usage on the side.
pub struct PassThrough {
    opts: ResponseOptions,
    scan: UsageScan,
    usage: Option<Usage>,
}

impl PassThrough {
    pub fn new(opts: ResponseOptions) -> Self {
        PassThrough { opts, scan: UsageScan::off(), usage: None }
    }
}

fn read_usage(usage: &mut Option<Usage>, json: &[u8]) {
    if let Some(u) = json::document::<WithUsage>(json).ok().and_then(|w| w.usage.0) {
        let n = |t: U64| t.0.unwrap_or(0);
        *usage = Some(Usage { input_tokens: n(u.prompt_tokens), output_tokens: n(u.completion_tokens) });
    }
}

impl ResponseTranslator for PassThrough {
    fn on_headers(&mut self, status: u16, headers: &[(String, String)]) -> ResponseHead {
        let ok = (200..300).contains(&status);
        let sse = crate::providers::header(headers, "content-type").is_some_and(|c| c.contains("text/event-stream"));
        self.scan = match (ok, sse || self.opts.stream) {
            (false, _) => UsageScan::off(),
            (true, true) => UsageScan::sse(),
            (true, false) => UsageScan::json(),
        };
        ResponseHead { status, set_headers: Vec::new(), remove_headers: Vec::new() }
    }

    fn on_body(&mut self, chunk: &[u8], end_of_stream: bool) -> Vec<u8> {
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
    fn usage_from_json_and_from_a_split_sse_usage_chunk() {
        let mut p = PassThrough::new(ResponseOptions::default());
        p.on_headers(200, &[("content-type".into(), "application/json".into())]);
        let body = br#"{"id":"x","usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;
        assert_eq!(p.on_body(&body[..10], false), &body[..10]);
        assert_eq!(p.on_body(&body[10..], true), &body[10..]);
        assert_eq!(p.usage(), Some(Usage { input_tokens: 3, output_tokens: 4 }));

        let mut p = PassThrough::new(ResponseOptions { stream: true, ..Default::default() });
        p.on_headers(200, &[("content-type".into(), "text/event-stream".into())]);
        let s = b"data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        for piece in s.chunks(7) {
            assert_eq!(p.on_body(piece, false), piece);
        }
        p.on_body(b"", true);
        assert_eq!(p.usage(), Some(Usage { input_tokens: 9, output_tokens: 2 }));
    }

    #[test]
    fn errors_pass_through_untouched() {
        let mut p = PassThrough::new(ResponseOptions::default());
        let h = p.on_headers(429, &[]);
        assert_eq!((h.status, h.set_headers.len(), h.remove_headers.len()), (429, 0, 0));
        assert_eq!(p.on_body(b"{\"error\":{}}", true), b"{\"error\":{}}");
        assert_eq!(p.usage(), None);
    }
}
