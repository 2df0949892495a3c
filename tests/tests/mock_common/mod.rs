//! Helpers shared by the provider mock tests (`mock_bedrock.rs`, `mock_anthropic.rs`, ...,
//! `mock_harness.rs`), defined once: starting a `mock-region` binary, Bedrock requests signed
//! with AWS's own signer, the Anthropic Messages request, an Anthropic SSE reader (Claude
//! on Vertex streams the same events), and timing checks for the streaming faults. Each test file uses a different subset, hence the allow.
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use llm_router_e2e::mock::AwsCredentials;
use llm_router_e2e::{MockRegion, Req, Response, StreamResponse};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_mock-region");
/// The Bedrock model the tests call, plain and URL-encoded (as it appears in Converse paths).
pub const MODEL_ID: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
pub const MODEL_ID_ENC: &str = "anthropic.claude-3-5-sonnet-20241022-v2%3A0";

/// The AWS identity the Bedrock mocks in these tests accept.
pub fn creds() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIAMOCKREGION000001".into(),
        secret_access_key: "mock/secret+key/for/tests0000000000000000".into(),
        session_token: None,
    }
}

/// Starts this crate's `mock-region` binary for `region` with extra CLI `args`.
pub fn start(region: &str, args: &[&str]) -> MockRegion {
    MockRegion::start_bin(BIN, region, args)
}

// ---------------------------------------------------------------- Bedrock (SigV4-signed requests)

/// A request signed with `aws-sigv4` as an AWS SDK signs it (payload hash header included).
pub struct Signed {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Signed {
    pub fn new(url: &str, body: &[u8], c: &AwsCredentials, region: &str) -> Signed {
        Self::with(url, body, c, region, "bedrock", SystemTime::now(), &[])
    }

    pub fn with(
        url: &str,
        body: &[u8],
        c: &AwsCredentials,
        region: &str,
        service: &str,
        time: SystemTime,
        extra: &[(&str, &str)],
    ) -> Signed {
        let host = url.strip_prefix("http://").unwrap().split('/').next().unwrap().to_string();
        let mut headers: Vec<(String, String)> =
            vec![("host".into(), host), ("content-type".into(), "application/json".into())];
        for (k, v) in extra {
            headers.push((k.to_string(), v.to_string()));
        }
        let identity =
            Credentials::new(&c.access_key_id, &c.secret_access_key, c.session_token.clone(), None, "test").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_string(), v.to_string()));
        }
        Signed { url: url.to_string(), headers, body: body.to_vec() }
    }

    pub fn req(&self) -> Req {
        let mut r = Req::post(&self.url).body(self.body.clone());
        for (k, v) in &self.headers {
            if k != "host" {
                r = r.header(k, v);
            }
        }
        r
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.into(), value.into()));
    }

    pub fn send(&self) -> Response {
        self.req().send().expect("send")
    }
}

pub fn converse_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    }))
    .unwrap()
}

pub fn converse_url(m: &MockRegion, stream: bool) -> String {
    format!("{}/model/{MODEL_ID_ENC}/{}", m.url(), if stream { "converse-stream" } else { "converse" })
}

// ---------------------------------------------------------------- Anthropic Messages

pub fn messages_body() -> Value {
    json!({"model": "claude-3-5-sonnet-20241022", "max_tokens": 100, "system": "Be brief.",
           "messages": [{"role": "user", "content": "Hello"}]})
}

pub fn anthropic_post(m: &MockRegion, headers: &[(&str, &str)], body: &Value) -> Response {
    Req::post(&format!("{}/v1/messages", m.url())).headers(headers).json(body).send().unwrap()
}

/// Anthropic SSE events `(event name, data)`, checking that each event's name and `type` agree.
pub fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let mut ev = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(e) = line.strip_prefix("event: ") {
                    ev = e.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data.push_str(d);
                }
            }
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["type"], ev.as_str(), "event name and type agree");
            (ev, v)
        })
        .collect()
}

// ---------------------------------------------------------------- Streaming faults

/// When the byte at `offset` of a streamed body arrived (relative to the request's start).
pub fn arrival_of(r: &StreamResponse, offset: usize) -> Duration {
    let mut seen = 0;
    for (at, n) in &r.chunks {
        seen += n;
        if seen > offset {
            return *at;
        }
    }
    panic!("byte {offset} never arrived ({seen} bytes in {} reads)", r.chunks.len())
}

/// When the first occurrence of `needle` in the body (text or binary) started to arrive.
pub fn arrival_of_text(r: &StreamResponse, needle: &str) -> Duration {
    let at = r
        .body
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in the body: {}", r.text()));
    arrival_of(r, at)
}

/// How long the client waits on a stream that stalls until it goes away.
pub const CLIENT_GIVES_UP: Duration = Duration::from_millis(1500);

/// Sends `req` with a short timeout to a stream that stalls forever: the 200 headers come at
/// once, the body (checked by the caller) stops, and the client gives up waiting.
pub fn read_until_client_gives_up(req: Req) -> StreamResponse {
    let r = req.timeout(CLIENT_GIVES_UP).send_stream().expect("the headers arrive");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.headers_at < Duration::from_millis(1000), "headers took {:?}", r.headers_at);
    let e = r.error.as_ref().unwrap_or_else(|| panic!("the body never ends, yet it did: {}", r.text()));
    // A body read that times out reports it in the error's source chain.
    assert!(e.is_timeout() || e.message.contains("timed out"), "{e}");
    assert!(r.end_at >= CLIENT_GIVES_UP - Duration::from_millis(50), "ended at {:?}", r.end_at);
    r
}

/// The `stall_ms` of the tests' finite stalls.
pub const STALL_MS: u64 = 1000;

/// Checks a stream that stalled for [`STALL_MS`] between `before` and `after` (two pieces
/// of its body): `before` well before the stall ended, `after` not before it did. Arrival
/// times are when the test read the bytes, so the bounds are measured from the request's
/// start, generously.
pub fn assert_stalled_between(r: &StreamResponse, before: &str, after: &str) {
    let (b, a) = (arrival_of_text(r, before), arrival_of_text(r, after));
    assert!(b < Duration::from_millis(STALL_MS * 7 / 10), "{before:?} came at {b:?}");
    assert!(a >= Duration::from_millis(STALL_MS), "{after:?} came at {a:?}, before the stall ended");
}

/// Checks a `slow_stream` at `first_token_ms` 150 and `total_ms` 900: what comes before the
/// content at once, the first content (`first_needle`) after 150 ms, the end at 900 ms, and
/// no gap long enough to look like a stall.
pub fn assert_slow_stream_timing(r: &StreamResponse, first_needle: &str) {
    assert_eq!(r.status, 200);
    assert!(r.error.is_none(), "{:?}", r.error);
    let first = arrival_of_text(r, first_needle);
    assert!(first >= Duration::from_millis(150), "first content at {first:?}");
    assert!(first < Duration::from_millis(700), "first content at {first:?}");
    assert!(r.end_at >= Duration::from_millis(900), "ended at {:?}", r.end_at);
    assert!(r.end_at < Duration::from_millis(2500), "ended at {:?}", r.end_at);
    let gaps: Vec<Duration> = r.chunks.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|g| *g < Duration::from_millis(700)), "gaps {gaps:?}");
    assert!(r.chunks.len() >= 4, "content spread over several reads: {:?}", r.chunks);
}

/// The slow_stream mode the tests use.
pub fn slow_stream_mode() -> Value {
    json!({"mode": "slow_stream", "first_token_ms": 150, "total_ms": 900})
}

/// The fault recorded for each request in the mock's log (`recent`), oldest first.
pub fn faults_logged(m: &MockRegion) -> Vec<String> {
    m.recent().iter().map(|e| e["fault"].as_str().unwrap_or("?").to_string()).collect()
}
