//! The behaviour switches of a mock (`POST /_mock/mode`): [`Fault`] (ok, error, rate_limit,
//! hang, reset, and the streaming faults stall_after_headers, error_before_content,
//! stall_after_content, slow_stream) and the whole [`Mode`] (status, latency, chunking,
//! stream timings, how many requests). Parsed and printed here; applied by the server
//! (`server.rs`), the provider dispatch and, for streamed answers, `response::shape_stream`.
//!
//! The streaming faults shape a streamed answer (OpenAI/Azure `stream: true`, Bedrock
//! ConverseStream, Vertex `:streamGenerateContent` / `:streamRawPredict`, Anthropic
//! `stream: true`); each answers 200 with the provider's streaming headers:
//!
//! * `stall_after_headers`: no body for `stall_ms` (absent or `null`: until the client goes
//!   away), then the whole normal stream.
//! * `error_before_content`: the events the provider sends before any content (OpenAI's role
//!   chunk, Azure's prompt-filter chunk and role chunk, Anthropic's `message_start`,
//!   `content_block_start` and `ping`, Bedrock's `messageStart`; Gemini has none), then the
//!   provider's in-stream error, then the end of the body: Anthropic (and Claude on Vertex)
//!   `event: error` (`overloaded_error` "Overloaded" for `status` 503/529, `rate_limit_error`
//!   for 429, `api_error` for 500); Bedrock an event-stream frame `:message-type: exception`
//!   whose `:exception-type` is `error` when given (see [`super::bedrock::STREAM_EXCEPTIONS`])
//!   else follows `status` (503 `serviceUnavailableException`, 429 `throttlingException`, 500
//!   `internalServerException`, 424 `modelStreamErrorException`, 400 `validationException`);
//!   OpenAI and Azure `data: {"error": {..., "type": "server_error", ...}}` (no `[DONE]`);
//!   Gemini `data: {"error": {"code": 503, "message": ..., "status": "UNAVAILABLE"}}` (the
//!   error `status` names, as for the `error` fault).
//! * `stall_after_content`: the events up to and including the first one with content (a
//!   non-empty text delta; for a tool call OpenAI's chunk naming it, Anthropic's and
//!   Bedrock's first input delta), then nothing for `stall_ms` (absent or `null`: until the
//!   client goes away), then the rest of the stream.
//! * `slow_stream`: the whole stream, the events before the content at once, the first
//!   content event `first_token_ms` after the headers and the following ones spread evenly so
//!   that the last (`[DONE]`, `message_stop`, Bedrock's `metadata`, Gemini's last chunk) goes
//!   at `total_ms`; usage at the end as the provider sends it. The gap is
//!   `(total_ms - first_token_ms) / (events after the first content)`; `chunks` sets how many
//!   content events there are.
//!
//! A request that does not stream gets, under these modes: `error_before_content` the
//! provider's HTTP error for `status` (as the `error` fault); `stall_after_headers` and
//! `stall_after_content` the JSON headers, then the body after `stall_ms` (never when
//! absent); `slow_stream` the body at `total_ms`.

use std::time::Duration;

use serde_json::{json, Value};

use super::config::MockConfig;

/// The behaviour selected by `POST /_mock/mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Ok,
    Error,
    RateLimit,
    Hang,
    Reset,
    StallAfterHeaders,
    ErrorBeforeContent,
    StallAfterContent,
    /// The first content, then the provider's in-stream error event (as `error_before_content`).
    ErrorAfterContent,
    SlowStream,
}

/// Every fault's name, for error messages.
const FAULT_NAMES: &str =
    "ok, error, rate_limit, hang, reset, stall_after_headers, error_before_content, stall_after_content, error_after_content, slow_stream";

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Error => "error",
            Fault::RateLimit => "rate_limit",
            Fault::Hang => "hang",
            Fault::Reset => "reset",
            Fault::StallAfterHeaders => "stall_after_headers",
            Fault::ErrorBeforeContent => "error_before_content",
            Fault::StallAfterContent => "stall_after_content",
            Fault::ErrorAfterContent => "error_after_content",
            Fault::SlowStream => "slow_stream",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "ok" => Fault::Ok,
            "error" => Fault::Error,
            "rate_limit" => Fault::RateLimit,
            "hang" => Fault::Hang,
            "reset" => Fault::Reset,
            "stall_after_headers" => Fault::StallAfterHeaders,
            "error_before_content" => Fault::ErrorBeforeContent,
            "stall_after_content" => Fault::StallAfterContent,
            "error_after_content" => Fault::ErrorAfterContent,
            "slow_stream" => Fault::SlowStream,
            _ => return None,
        })
    }

    /// Whether this fault shapes a 200 answer's body (the provider answers, then misbehaves
    /// while streaming) rather than replacing the answer.
    pub fn shapes_body(self) -> bool {
        matches!(
            self,
            Fault::StallAfterHeaders
                | Fault::ErrorBeforeContent
                | Fault::StallAfterContent
                | Fault::ErrorAfterContent
                | Fault::SlowStream
        )
    }

    /// Whether a 200 answer under this fault is a complete, good answer (`served_ok`).
    pub fn serves_ok(self) -> bool {
        matches!(self, Fault::Ok | Fault::SlowStream)
    }
}

#[derive(Debug, Clone)]
pub struct Mode {
    pub fault: Fault,
    pub status: u16,
    pub latency_ms: u64,
    pub chunk_delay_ms: u64,
    pub chunks: u32,
    /// Remaining LLM requests this mode applies to (`None` = until changed).
    pub count: Option<u64>,
    /// Bedrock only: the exception an `error` fault at 403 names (`AccessDeniedException`,
    /// the default; `UnrecognizedClientException`, `ExpiredTokenException`), or the
    /// in-stream exception of `error_before_content` (`throttlingException`, ...).
    pub error: Option<String>,
    /// `stall_after_headers` / `stall_after_content`: how long the stream stalls
    /// (`None` = until the client goes away).
    pub stall_ms: Option<u64>,
    /// `slow_stream`: when the first content event goes, after the response headers.
    pub first_token_ms: u64,
    /// `slow_stream`: when the last event goes, after the response headers.
    pub total_ms: u64,
    /// `rate_limit` / `error`: the `retry-after` header of the error answer (seconds or an HTTP
    /// date), instead of the provider's usual one (`1` for OpenAI, Azure and Anthropic).
    pub retry_after: Option<String>,
    /// OpenAI-compatible API: answer every chat request whole (one JSON body), whatever its
    /// `stream` says, as a canned server (nginx returning a fixed completion) does.
    pub whole_answers: bool,
}

impl Mode {
    pub fn default_for(cfg: &MockConfig) -> Mode {
        Mode {
            fault: Fault::Ok,
            status: 503,
            latency_ms: 0,
            chunk_delay_ms: cfg.chunk_delay_ms,
            chunks: cfg.chunks,
            count: None,
            error: None,
            stall_ms: None,
            first_token_ms: 100,
            total_ms: 4000,
            retry_after: None,
            whole_answers: false,
        }
    }

    /// Parses a `/_mock/mode` body; omitted fields take the defaults.
    pub fn from_json(v: &Value, cfg: &MockConfig) -> Result<Mode, String> {
        let obj = v.as_object().ok_or("mode body must be a JSON object")?;
        let mut m = Mode::default_for(cfg);
        for (k, val) in obj {
            let num = || val.as_u64().ok_or_else(|| format!("'{k}' must be a non-negative integer"));
            match k.as_str() {
                "mode" => {
                    let s = val.as_str().ok_or("'mode' must be a string")?;
                    m.fault = Fault::parse(s).ok_or_else(|| format!("unknown mode '{s}' ({FAULT_NAMES})"))?;
                }
                "status" => {
                    let s = num()?;
                    if !(100..=599).contains(&s) {
                        return Err(format!("status {s} out of range"));
                    }
                    m.status = s as u16;
                }
                "latency_ms" => m.latency_ms = num()?,
                "chunk_delay_ms" => m.chunk_delay_ms = num()?,
                "chunks" => m.chunks = num()?.min(100_000) as u32,
                "count" => m.count = if val.is_null() { None } else { Some(num()?) },
                "error" if val.is_null() => m.error = None,
                "error" => m.error = Some(val.as_str().ok_or("'error' must be a string")?.to_string()),
                "stall_ms" => m.stall_ms = if val.is_null() { None } else { Some(num()?) },
                "first_token_ms" => m.first_token_ms = num()?,
                "total_ms" => m.total_ms = num()?,
                "whole_answers" => m.whole_answers = val.as_bool().ok_or("'whole_answers' must be a boolean")?,
                "retry_after" if val.is_null() => m.retry_after = None,
                "retry_after" => {
                    m.retry_after = Some(match val {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        _ => return Err("'retry_after' must be a string or a number".into()),
                    })
                }
                other => return Err(format!("unknown mode field '{other}'")),
            }
        }
        // `error` names a Bedrock exception: an in-stream one for `error_before_content`, else
        // one of the 403s (checked after the loop: the fields come in any order).
        if let Some(e) = &m.error {
            let known = if matches!(m.fault, Fault::ErrorBeforeContent | Fault::ErrorAfterContent) {
                super::bedrock::STREAM_EXCEPTIONS
            } else {
                super::bedrock::AUTH_FAULTS
            };
            if !known.contains(&e.as_str()) {
                return Err(format!("unknown error '{e}' for mode '{}' ({})", m.fault.as_str(), known.join(", ")));
            }
        }
        if m.total_ms < m.first_token_ms {
            return Err(format!(
                "total_ms ({}) must be at least first_token_ms ({}): the last event cannot come before the first",
                m.total_ms, m.first_token_ms
            ));
        }
        Ok(m)
    }

    /// How long a stall lasts (`None`: until the client goes away).
    pub fn stall(&self) -> Option<Duration> {
        self.stall_ms.map(Duration::from_millis)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "mode": self.fault.as_str(),
            "status": self.status,
            "latency_ms": self.latency_ms,
            "chunk_delay_ms": self.chunk_delay_ms,
            "chunks": self.chunks,
            "count": self.count,
            "error": self.error,
            "stall_ms": self.stall_ms,
            "first_token_ms": self.first_token_ms,
            "total_ms": self.total_ms,
            "retry_after": self.retry_after,
            "whole_answers": self.whole_answers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Mode, String> {
        Mode::from_json(&v, &MockConfig::new("r"))
    }

    #[test]
    fn streaming_fault_fields() {
        let m = parse(json!({"mode": "stall_after_headers"})).unwrap();
        assert_eq!((m.fault, m.stall_ms), (Fault::StallAfterHeaders, None));
        let m = parse(json!({"mode": "stall_after_content", "stall_ms": 250, "count": 1})).unwrap();
        assert_eq!((m.stall_ms, m.count), (Some(250), Some(1)));
        assert_eq!(parse(json!({"mode": "stall_after_content", "stall_ms": null})).unwrap().stall_ms, None);
        let m = parse(json!({"mode": "slow_stream"})).unwrap();
        assert_eq!((m.first_token_ms, m.total_ms), (100, 4000));
        let e = parse(json!({"mode": "slow_stream", "first_token_ms": 500, "total_ms": 400})).unwrap_err();
        assert!(e.contains("total_ms (400) must be at least first_token_ms (500)"), "{e}");
        // The round trip through JSON keeps every field.
        let m = parse(json!({"mode": "slow_stream", "first_token_ms": 50, "total_ms": 900, "stall_ms": 7})).unwrap();
        let again = parse(m.to_json()).unwrap();
        assert_eq!(again.to_json(), m.to_json());
    }

    #[test]
    fn error_names_depend_on_the_mode() {
        // In the stream: Bedrock's event-stream exception names, in either field order.
        let m = parse(json!({"error": "throttlingException", "mode": "error_before_content"})).unwrap();
        assert_eq!(m.error.as_deref(), Some("throttlingException"));
        let e = parse(json!({"mode": "error_before_content", "error": "ThrottlingException"})).unwrap_err();
        assert!(e.contains("serviceUnavailableException"), "{e}");
        // An HTTP 403 names one of the auth faults, never a stream exception.
        assert!(parse(json!({"mode": "error", "status": 403, "error": "ExpiredTokenException"})).is_ok());
        assert!(parse(json!({"mode": "error", "status": 403, "error": "throttlingException"})).is_err());
        let e = parse(json!({"mode": "explode"})).unwrap_err();
        assert!(e.contains("slow_stream"), "{e}");
    }
}
