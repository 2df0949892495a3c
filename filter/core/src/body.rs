//! Reading and rewriting the client's JSON body: only the top-level `model` and `stream`
//! fields matter; everything else passes through byte for byte.

use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::RequestError;

/// What routing needs from the body.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyFacts {
    pub model: String,
    /// Byte range of the `model` value (with its quotes) in the body.
    pub model_span: Range<usize>,
    pub stream: bool,
}

#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
}

/// Parses the body as a JSON object and finds `model`. Never panics, whatever the bytes.
pub fn read_body(body: &[u8]) -> Result<BodyFacts, RequestError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| RequestError::bad_request("invalid_json", "request body is not valid UTF-8 JSON"))?;
    let first = text.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        return Err(RequestError::bad_request(
            "invalid_json",
            "request body must be a JSON object, for example {\"model\": \"...\", \"messages\": [...]}",
        ));
    }
    let top: TopLevel<'_> = serde_json::from_str(text)
        .map_err(|e| RequestError::bad_request("invalid_json", format!("request body is not valid JSON: {e}")))?;
    let raw = top.model.ok_or_else(|| {
        RequestError::bad_request("missing_model", "request body has no 'model' field").with_param("model")
    })?;
    let model: String = match serde_json::from_str::<String>(raw.get()) {
        Ok(m) if !m.is_empty() => m,
        _ => {
            return Err(
                RequestError::bad_request("invalid_model", "'model' must be a non-empty string").with_param("model")
            )
        }
    };
    let stream = match top.stream {
        None => false,
        Some(raw) => match raw.get() {
            "true" => true,
            "false" | "null" => false,
            _ => {
                return Err(
                    RequestError::bad_request("invalid_stream", "'stream' must be true or false").with_param("stream")
                )
            }
        },
    };
    // RawValue borrows from `text`, so its offset in the body is a pointer difference.
    let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
    Ok(BodyFacts { model, model_span: start..start + raw.get().len(), stream })
}

/// The body with `model` replaced by `new_model`; every other byte is kept.
pub fn rewrite_model(body: &[u8], span: &Range<usize>, new_model: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + new_model.len() + 2);
    out.extend_from_slice(body.get(..span.start).unwrap_or_default());
    crate::providers::json::string(&mut out, new_model);
    out.extend_from_slice(body.get(span.end..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_model_and_stream() {
        let b = br#"{"messages":[{"role":"user","content":"hi"}], "model" : "claude", "stream":true}"#;
        let f = read_body(b).unwrap();
        assert_eq!(f.model, "claude");
        assert!(f.stream);
        assert_eq!(&b[f.model_span.clone()], br#""claude""#);
    }

    #[test]
    fn rewrite_keeps_everything_else() {
        let b = br#"{"model":"claude","temperature":0.10000,"messages":[]}"#;
        let f = read_body(b).unwrap();
        let out = rewrite_model(b, &f.model_span, "anthropic.claude-3-5\"x");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"model":"anthropic.claude-3-5\"x","temperature":0.10000,"messages":[]}"#
        );
    }

    #[test]
    fn escaped_model_is_decoded() {
        let f = read_body(br#"{"model":"cl\u0061ude"}"#).unwrap();
        assert_eq!(f.model, "claude");
    }

    #[test]
    fn malformed_json_is_rejected() {
        for b in [&b"{"[..], b"not json", b"", b"[1,2]", b"\xff\xfe", b"{\"model\": \"a\",}"] {
            let e = read_body(b).unwrap_err();
            assert_eq!(e.status, 400, "{:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn missing_or_bad_model_is_rejected() {
        assert_eq!(read_body(br#"{"messages":[]}"#).unwrap_err().code, "missing_model");
        assert_eq!(read_body(br#"{"model":7}"#).unwrap_err().code, "invalid_model");
        assert_eq!(read_body(br#"{"model":""}"#).unwrap_err().code, "invalid_model");
        assert_eq!(read_body(br#"{"model":"a","stream":"yes"}"#).unwrap_err().code, "invalid_stream");
    }

    #[test]
    fn deep_nesting_does_not_crash() {
        let mut b = String::from(r#"{"model":"m","x":"#);
        b.push_str(&"[".repeat(100_000));
        assert_eq!(read_body(b.as_bytes()).unwrap_err().status, 400);
    }
}
