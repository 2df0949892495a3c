//! Building responses, shared by every provider: the body type, JSON answers, and streamed
//! answers written piece by piece (with the benchmarks' per-write timing switch).

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::Value;

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

/// A streamed 200 response: `pieces` written one by one, `delay` between them (not before
/// the first), with `content-type` and `cache-control: no-cache`.
pub(crate) fn stream_resp(pieces: Vec<Bytes>, delay: Duration, content_type: &'static str) -> Response<Body> {
    let record = RECORD_STREAM_TIMES.load(Ordering::Relaxed);
    let stream = futures_util::stream::unfold((pieces.into_iter(), true), move |(mut it, first)| async move {
        let next = it.next()?;
        if !first && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if record {
            let mut times = LAST_STREAM_TIMES.lock().unwrap();
            if first {
                times.clear();
            }
            times.push(unix_nanos());
        }
        Some((Ok::<_, Infallible>(Frame::data(next)), (it, false)))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}
