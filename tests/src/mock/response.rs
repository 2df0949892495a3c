//! Building responses, shared by every provider: the body type, JSON answers, and streamed
//! answers written piece by piece (with the benchmarks' per-write timing switch).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::fault_mode::{Fault, Mode};

pub(crate) type Body = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

pub(crate) fn json_resp(status: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Benchmarks only (`--bench-record-stream-times`): streamed responses are written one whole
/// event per write, and the wall-clock time each write is handed to the connection is kept
/// for the last stream (`GET /_mock/stream_times`), so a client on the same machine can
/// measure what each chunk spends in the gateway.
pub static RECORD_STREAM_TIMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
pub(super) static LAST_STREAM_TIMES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// One step of a streamed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Write these bytes (one write to the connection).
    Write(Bytes),
    /// Send nothing for this long.
    Pause(Duration),
    /// Send nothing until the client goes away (the body never ends).
    Forever,
}

/// Marks a response whose body is streamed (set by [`stream_resp`] and [`steps_resp`]), so
/// the server can tell a streamed answer from a JSON one when a streaming fault applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Streamed;

/// A streamed 200 response: `pieces` written one by one, `delay` between them (not before
/// the first), with `content-type` and `cache-control: no-cache`.
pub(crate) fn stream_resp(pieces: Vec<Bytes>, delay: Duration, content_type: &'static str) -> Response<Body> {
    steps_resp(with_gaps(pieces, delay), content_type)
}

/// `pieces` as write steps with a `delay` pause between two writes (none when zero).
fn with_gaps(pieces: impl IntoIterator<Item = Bytes>, delay: Duration) -> Vec<Step> {
    let mut steps = Vec::new();
    for p in pieces {
        if !steps.is_empty() && !delay.is_zero() {
            steps.push(Step::Pause(delay));
        }
        steps.push(Step::Write(p));
    }
    steps
}

/// A streamed 200 response that runs `steps` in order, with `content-type` and
/// `cache-control: no-cache`. The headers go out before the first step.
pub(crate) fn steps_resp(steps: Vec<Step>, content_type: &'static str) -> Response<Body> {
    let record = RECORD_STREAM_TIMES.load(Ordering::Relaxed);
    let stream = futures_util::stream::unfold((steps.into_iter(), true), move |(mut it, mut first)| async move {
        loop {
            match it.next()? {
                Step::Pause(d) => tokio::time::sleep(d).await,
                Step::Forever => futures_util::future::pending::<()>().await,
                Step::Write(bytes) => {
                    if record {
                        let mut times = LAST_STREAM_TIMES.lock().unwrap();
                        if first {
                            times.clear();
                        }
                        times.push(unix_nanos());
                    }
                    first = false;
                    return Some((Ok::<_, Infallible>(Frame::data(bytes)), (it, first)));
                }
            }
        }
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r.extensions_mut().insert(Streamed);
    r
}

/// A provider's streamed answer before a fault shapes it: its events in order (one SSE
/// event, one event-stream frame or one piece of a JSON array each), which one is the first
/// with content, and the provider's in-stream error event.
#[derive(Debug, Clone)]
pub(crate) struct StreamPlan {
    pub events: Vec<Bytes>,
    /// Index in `events` of the first event with content (a text delta, a tool call's start).
    pub first_content: usize,
    /// What the provider sends instead of content when it fails inside the stream.
    pub error_event: Bytes,
}

/// The steps of `plan` under `mode` (see `fault_mode.rs` for what each fault does).
/// `chunk_delay_ms` separates events, except in `slow_stream`, which sets its own times.
pub(crate) fn shape_stream(plan: StreamPlan, mode: &Mode) -> Vec<Step> {
    let delay = Duration::from_millis(mode.chunk_delay_ms);
    let stall = match mode.stall() {
        Some(d) => Step::Pause(d),
        None => Step::Forever,
    };
    let n = plan.events.len();
    let first = plan.first_content.min(n.saturating_sub(1));
    let mut events = plan.events;
    match mode.fault {
        Fault::StallAfterHeaders => {
            let mut steps = vec![stall];
            steps.extend(with_gaps(events, delay));
            steps
        }
        Fault::StallAfterContent => {
            let rest = events.split_off((first + 1).min(n));
            let mut steps = with_gaps(events, delay);
            steps.push(stall);
            steps.extend(with_gaps(rest, delay));
            steps
        }
        Fault::ErrorBeforeContent => {
            events.truncate(first);
            events.push(plan.error_event);
            with_gaps(events, delay)
        }
        Fault::ErrorAfterContent => {
            events.truncate((first + 1).min(n));
            events.push(plan.error_event);
            with_gaps(events, delay)
        }
        Fault::SlowStream => {
            // Event k (k >= first) goes at first_token + (total - first_token) * (k - first) / last,
            // where last = n - 1 - first: evenly spread, the last one at total_ms.
            let last = n.saturating_sub(first + 1) as u64;
            let at = |k: usize| {
                let k = (k - first) as u64;
                let span = mode.total_ms - mode.first_token_ms;
                mode.first_token_ms + (span * k).checked_div(last).unwrap_or(0)
            };
            let mut steps = Vec::new();
            let mut now = 0;
            for (k, e) in events.into_iter().enumerate() {
                if k >= first {
                    steps.push(Step::Pause(Duration::from_millis(at(k) - now)));
                    now = at(k);
                }
                steps.push(Step::Write(e));
            }
            steps
        }
        Fault::Ok | Fault::Error | Fault::RateLimit | Fault::Hang | Fault::Reset => with_gaps(events, delay),
    }
}

/// The streamed 200 response of `plan` under `mode`.
pub(crate) fn plan_resp(plan: StreamPlan, mode: &Mode, content_type: &'static str) -> Response<Body> {
    steps_resp(shape_stream(plan, mode), content_type)
}

/// `resp` with its body held back for `pause` (`None`: until the client goes away): the
/// headers go out at once, the body after the pause (for JSON answers under a streaming fault).
pub(crate) fn hold_body(resp: Response<Body>, pause: Option<Duration>) -> Response<Body> {
    resp.map(|body| {
        let wait = futures_util::stream::once(async move {
            match pause {
                Some(d) => tokio::time::sleep(d).await,
                None => futures_util::future::pending::<()>().await,
            }
            None
        });
        let frames = http_body_util::BodyStream::new(body).map(Some);
        BodyExt::boxed(StreamBody::new(wait.chain(frames).filter_map(futures_util::future::ready)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::config::MockConfig;

    fn plan() -> StreamPlan {
        let events = ["start", "c1", "c2", "c3", "end"].iter().map(|s| Bytes::from(*s)).collect();
        StreamPlan { events, first_content: 1, error_event: Bytes::from("err") }
    }

    fn mode(v: serde_json::Value) -> Mode {
        Mode::from_json(&v, &MockConfig::new("r")).unwrap()
    }

    fn w(s: &'static str) -> Step {
        Step::Write(Bytes::from(s))
    }

    fn ms(n: u64) -> Step {
        Step::Pause(Duration::from_millis(n))
    }

    #[test]
    fn ok_writes_every_event_with_the_chunk_delay_between() {
        let steps = shape_stream(plan(), &mode(serde_json::json!({"chunk_delay_ms": 5})));
        assert_eq!(steps, [w("start"), ms(5), w("c1"), ms(5), w("c2"), ms(5), w("c3"), ms(5), w("end")]);
    }

    #[test]
    fn stalls_before_the_body_or_after_the_first_content() {
        let steps = shape_stream(plan(), &mode(serde_json::json!({"mode": "stall_after_headers"})));
        assert_eq!(steps, [Step::Forever, w("start"), w("c1"), w("c2"), w("c3"), w("end")]);
        let steps = shape_stream(plan(), &mode(serde_json::json!({"mode": "stall_after_content", "stall_ms": 70})));
        assert_eq!(steps, [w("start"), w("c1"), ms(70), w("c2"), w("c3"), w("end")]);
    }

    #[test]
    fn error_replaces_the_content_and_ends_the_stream() {
        let steps = shape_stream(plan(), &mode(serde_json::json!({"mode": "error_before_content"})));
        assert_eq!(steps, [w("start"), w("err")]);
        let gemini = StreamPlan { first_content: 0, ..plan() };
        let steps = shape_stream(gemini, &mode(serde_json::json!({"mode": "error_before_content"})));
        assert_eq!(steps, [w("err")]);
    }

    #[test]
    fn slow_stream_spreads_content_from_first_token_to_total() {
        let m = mode(serde_json::json!({"mode": "slow_stream", "first_token_ms": 100, "total_ms": 400}));
        let steps = shape_stream(plan(), &m);
        assert_eq!(steps, [w("start"), ms(100), w("c1"), ms(100), w("c2"), ms(100), w("c3"), ms(100), w("end")]);
        // Uneven division: the pauses still add up to total_ms.
        let m = mode(serde_json::json!({"mode": "slow_stream", "first_token_ms": 10, "total_ms": 20}));
        let total: Duration =
            shape_stream(plan(), &m).iter().map(|s| if let Step::Pause(d) = s { *d } else { Duration::ZERO }).sum();
        assert_eq!(total, Duration::from_millis(20));
    }
}
