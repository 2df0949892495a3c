//! The Bedrock mock checks requests as Bedrock does (no Envoy needed): SigV4 signatures,
//! Converse bodies, the ConverseStream event stream, fault modes and streaming faults.
//!
//! Bedrock requests are signed here with the `aws-sigv4` crate (AWS's signer, called
//! directly), event streams are decoded with `aws-smithy-eventstream` and with a small
//! reader written here; neither shares code with the mock's encoder.

mod mock_common;

use std::time::{Duration, SystemTime};

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::BytesMut;
use llm_router_e2e::mock::AwsCredentials;
use llm_router_e2e::{MockRegion, Req, Response, StreamResponse};
use mock_common::{
    arrival_of_text, assert_slow_stream_timing, assert_stalled_between, converse_body, converse_url, creds,
    faults_logged, read_until_client_gives_up, slow_stream_mode, start, Signed, MODEL_ID, MODEL_ID_ENC, STALL_MS,
};
use serde_json::{json, Value};

fn bedrock(region: &str, c: &AwsCredentials, extra: &[&str]) -> MockRegion {
    let mut args = vec![
        "--provider",
        "bedrock",
        "--aws-access-key-id",
        &c.access_key_id,
        "--aws-secret-access-key",
        &c.secret_access_key,
    ];
    if let Some(t) = &c.session_token {
        args.extend_from_slice(&["--aws-session-token", t]);
    }
    args.extend_from_slice(extra);
    start(region, &args)
}

fn aws_error(r: &Response) -> (String, String) {
    let kind = r.header("x-amzn-errortype").unwrap_or_default().split(':').next().unwrap().to_string();
    let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
    (kind, msg)
}

// ---------------------------------------------------------------- Bedrock: SigV4

#[test]
fn bedrock_accepts_a_good_signature() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    let r = Signed::new(&converse_url(&m, false), &converse_body(), &c, "us-west-2").send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-amzn-requestid").is_some());
    let b = r.json();
    assert_eq!(b["output"]["message"]["role"], "assistant");
    assert_eq!(b["output"]["message"]["content"][0]["text"], "hello from us-west-2");
    assert_eq!(b["stopReason"], "end_turn");
    let u = &b["usage"];
    assert_eq!(
        u["totalTokens"].as_u64().unwrap(),
        u["inputTokens"].as_u64().unwrap() + u["outputTokens"].as_u64().unwrap()
    );
    assert!(b["metrics"]["latencyMs"].is_u64());

    let s = m.stats();
    assert_eq!(s["provider"], "bedrock");
    assert_eq!(s["last_op"], "bedrock.converse");
    assert_eq!(s["last_model"], MODEL_ID);
    assert_eq!(s["last_status"], 200);
    let a = &s["last_auth"];
    assert_eq!(a["scheme"], "sigv4");
    assert_eq!(a["verified"], true);
    assert_eq!(a["against_secret"], true);
    assert_eq!(a["region"], "us-west-2");
    assert_eq!(a["service"], "bedrock");
    assert_eq!(a["access_key_id"], c.access_key_id);
    assert_eq!(a["payload_hash_header"], true);
    assert_eq!(s["last_body"]["messages"][0]["content"][0]["text"], "Hello");
    assert_eq!(s["auth_ok"], 1);
    assert_eq!(s["recent"][0]["auth"]["region"], "us-west-2");
    assert_eq!(s["recent"][0]["status"], 200);
}

#[test]
fn bedrock_rejects_a_signature_for_another_region() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    let r = Signed::new(&converse_url(&m, false), &converse_body(), &c, "us-east-1").send();
    assert_eq!(r.status, 403, "{}", r.text());
    let (kind, msg) = aws_error(&r);
    assert_eq!(kind, "InvalidSignatureException");
    assert!(msg.contains("Credential should be scoped to a valid region"), "{msg}");
    let a = m.last_auth();
    assert_eq!(a["verified"], false);
    assert_eq!(a["region"], "us-east-1");
    assert_eq!(m.stats()["auth_failed"], 1);
    assert_eq!(m.served_ok(), 0);
}

#[test]
fn bedrock_rejects_a_wrong_secret_key_id_or_service() {
    let c = creds();
    let m = bedrock("eu-west-1", &c, &[]);
    let url = converse_url(&m, false);

    let mut wrong = c.clone();
    wrong.secret_access_key.push('x');
    let r = Signed::new(&url, &converse_body(), &wrong, "eu-west-1").send();
    assert_eq!(r.status, 403);
    let (kind, msg) = aws_error(&r);
    assert_eq!(kind, "InvalidSignatureException");
    assert!(msg.starts_with("The request signature we calculated does not match"), "{msg}");

    let mut other = c.clone();
    other.access_key_id = "AKIAOTHERKEY00000000".into();
    let r = Signed::new(&url, &converse_body(), &other, "eu-west-1").send();
    assert_eq!(r.status, 403);
    assert_eq!(
        aws_error(&r),
        ("UnrecognizedClientException".into(), "The security token included in the request is invalid.".into())
    );

    let r = Signed::with(&url, &converse_body(), &c, "eu-west-1", "execute-api", SystemTime::now(), &[]).send();
    assert_eq!(r.status, 403);
    let (kind, msg) = aws_error(&r);
    assert_eq!(kind, "InvalidSignatureException");
    assert!(msg.contains("correct service: 'bedrock'"), "{msg}");
}

#[test]
fn bedrock_rejects_a_tampered_body_or_signed_header() {
    let c = creds();
    let m = bedrock("us-east-1", &c, &[]);
    let url = converse_url(&m, false);

    // Body changed after signing, payload hash header left as signed.
    let mut s = Signed::new(&url, &converse_body(), &c, "us-east-1");
    s.body = serde_json::to_vec(&json!({"messages": [{"role": "user", "content": [{"text": "Hellp"}]}]})).unwrap();
    let r = s.send();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(aws_error(&r).0, "InvalidSignatureException");
    let a = m.last_auth();
    assert_eq!(a["payload_hash_header"], false);
    assert!(a["error"].as_str().unwrap().contains("x-amz-content-sha256"), "{a}");

    // Body and its hash header both changed: the signature no longer matches.
    let body2 = b"{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"other\"}]}]}".to_vec();
    let mut s = Signed::new(&url, &converse_body(), &c, "us-east-1");
    s.set("x-amz-content-sha256", &llm_router_e2e::mock::sigv4::sha256_hex(&body2));
    s.body = body2;
    let r = s.send();
    assert_eq!(r.status, 403);
    assert!(aws_error(&r).1.starts_with("The request signature we calculated does not match"));

    // Unsigned payload: the mock signs over the body it received, so this does not verify.
    let mut s = Signed::new(&url, &converse_body(), &c, "us-east-1");
    s.set("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    assert_eq!(s.send().status, 403);

    // A signed header changed after signing.
    let mut s = Signed::new(&url, &converse_body(), &c, "us-east-1");
    s.set("content-type", "application/x-amz-json-1.1");
    assert_eq!(s.send().status, 403);

    // An unsigned header added after signing is ignored, as AWS does.
    let mut s = Signed::new(&url, &converse_body(), &c, "us-east-1");
    s.set("x-added-by-proxy", "1");
    let r = s.send();
    assert_eq!(r.status, 200, "{}", r.text());

    // The path is signed (the model id too).
    let mut s = Signed::new(&url, &converse_body(), &c, "us-east-1");
    s.url = s.url.replace("v2%3A0", "v1%3A0");
    assert_eq!(s.send().status, 403);
}

#[test]
fn bedrock_rejects_stale_or_future_dates_and_missing_auth() {
    let c = creds();
    let m = bedrock("us-east-1", &c, &[]);
    let url = converse_url(&m, false);
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let r = Signed::with(&url, &converse_body(), &c, "us-east-1", "bedrock", old, &[]).send();
    assert_eq!(r.status, 403);
    let (kind, msg) = aws_error(&r);
    assert_eq!(kind, "InvalidSignatureException");
    assert!(msg.starts_with("Signature expired:"), "{msg}");

    let future = SystemTime::now() + Duration::from_secs(20 * 60);
    let r = Signed::with(&url, &converse_body(), &c, "us-east-1", "bedrock", future, &[]).send();
    assert_eq!(r.status, 403);
    assert!(aws_error(&r).1.starts_with("Signature not yet current:"));

    // Ten minutes of skew is within AWS's window.
    let skewed = SystemTime::now() - Duration::from_secs(10 * 60);
    let r = Signed::with(&url, &converse_body(), &c, "us-east-1", "bedrock", skewed, &[]).send();
    assert_eq!(r.status, 200, "{}", r.text());

    let r = Req::post(&url).header("content-type", "application/json").body(converse_body()).send().unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(aws_error(&r), ("MissingAuthenticationTokenException".into(), "Missing Authentication Token".into()));

    let r = Req::post(&url)
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKIAX/20250101/us-east-1/bedrock/aws4_request")
        .body(converse_body())
        .send()
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(aws_error(&r).0, "IncompleteSignatureException");
    assert_eq!(m.last_auth()["verified"], false);
}

#[test]
fn bedrock_session_tokens() {
    let mut c = creds();
    c.session_token = Some("FwoGZXIvYXdzEMockSessionToken//0000==".into());
    let m = bedrock("ap-northeast-1", &c, &[]);
    let url = converse_url(&m, false);
    let r = Signed::new(&url, &converse_body(), &c, "ap-northeast-1").send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(m.last_auth()["session_token"], true);

    let mut no_token = c.clone();
    no_token.session_token = None;
    let r = Signed::new(&url, &converse_body(), &no_token, "ap-northeast-1").send();
    assert_eq!(r.status, 403);
    assert_eq!(aws_error(&r).0, "UnrecognizedClientException");

    let mut wrong = c.clone();
    wrong.session_token = Some("another-token".into());
    let r = Signed::new(&url, &converse_body(), &wrong, "ap-northeast-1").send();
    assert_eq!(r.status, 403);
    assert_eq!(aws_error(&r).0, "UnrecognizedClientException");
}

// ---------------------------------------------------------------- Bedrock: bodies

#[test]
fn bedrock_validates_bodies_like_bedrock() {
    let c = creds();
    let m = bedrock("us-east-1", &c, &["--expect-model", MODEL_ID]);
    let url = converse_url(&m, false);
    let send = |body: Value| Signed::new(&url, &serde_json::to_vec(&body).unwrap(), &c, "us-east-1").send();

    let r = send(json!({"model": MODEL_ID, "messages": [{"role": "user", "content": [{"text": "hi"}]}]}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
    );
    assert!(aws_error(&r).1.starts_with("Malformed input request: extraneous key [model] is not permitted"));
    // A signed request with a bad body is still an authenticated one.
    assert_eq!(m.last_auth()["verified"], true);

    let cases = [
        (json!({}), "Value null at 'messages'"),
        (json!({"messages": []}), "must start with a user message"),
        (json!({"messages": [{"role": "user", "content": "hi"}]}), "expected type: JSONArray"),
        (json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}), "extraneous key [type]"),
        (json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}), "is blank"),
        (json!({"messages": [{"role": "system", "content": [{"text": "x"}]}]}), "enum value set: [user, assistant]"),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]}),
            "must alternate",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "inferenceConfig": {"max_tokens": 5}}),
            "extraneous key [max_tokens]",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "inferenceConfig": {"maxTokens": 0}}),
            "greater than or equal to 1",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "temperature": 0.2}),
            "extraneous key [temperature]",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "system": "be brief"}),
            "expected type: JSONArray",
        ),
        (
            // One OpenAI-shaped key only: with two, which one is named first depends on
            // serde_json's map order in the build (the workspace keeps insertion order).
            json!({"messages": [{"role": "user", "content": [{"text": "a"}]}], "toolConfig": {"tools": [{"function": {"name": "f"}}]}}),
            "extraneous key [function]",
        ),
    ];
    for (body, want) in cases {
        let r = send(body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let (kind, msg) = aws_error(&r);
        assert_eq!(kind, "ValidationException", "{body}");
        assert!(msg.contains(want), "{body}: {msg}");
    }

    let r = Signed::new(&url, b"{not json", &c, "us-east-1").send();
    assert_eq!(r.status, 400);
    assert_eq!(aws_error(&r).0, "SerializationException");

    // A model this deployment does not serve.
    let other = format!("{}/model/amazon.titan-text-express-v1/converse", m.url());
    let r = Signed::new(&other, &converse_body(), &c, "us-east-1").send();
    assert_eq!(r.status, 400);
    assert_eq!(aws_error(&r).1, "The provided model identifier is invalid.");

    // Not an operation of the service.
    let invoke = format!("{}/model/{MODEL_ID_ENC}/invoke-foo", m.url());
    let r = Signed::new(&invoke, &converse_body(), &c, "us-east-1").send();
    assert_eq!(r.status, 404);
    assert_eq!(aws_error(&r).0, "UnknownOperationException");
}

fn tool_converse(turns: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "messages": turns,
        "toolConfig": {
            "tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city", "unit"]}}}}],
            "toolChoice": {"auto": {}}
        }
    }))
    .unwrap()
}

#[test]
fn bedrock_tool_use_round_trip() {
    let c = creds();
    let m = bedrock("us-east-1", &c, &[]);
    let url = converse_url(&m, false);
    let ask = json!([{"role": "user", "content": [{"text": "Weather in Paris?"}]}]);
    let r = Signed::new(&url, &tool_converse(ask), &c, "us-east-1").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["stopReason"], "tool_use");
    let tu = &b["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(tu["name"], "get_weather");
    assert_eq!(tu["input"], json!({"city": "mock-city", "unit": "c"}));
    let id = tu["toolUseId"].as_str().unwrap().to_string();

    let answer = json!([
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": id, "name": "get_weather", "input": {"city": "Paris", "unit": "c"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": id, "content": [{"json": {"temp": 21}}], "status": "success"}}]}
    ]);
    let r = Signed::new(&url, &tool_converse(answer.clone()), &c, "us-east-1").send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stopReason"], "end_turn");

    // A tool result for an id the assistant never used.
    let mut bad = answer.clone();
    bad[2]["content"][0]["toolResult"]["toolUseId"] = json!("tooluse_other");
    let r = Signed::new(&url, &tool_converse(bad), &c, "us-east-1").send();
    assert_eq!(r.status, 400);
    // Tool blocks without toolConfig.
    let no_cfg = serde_json::to_vec(&json!({"messages": answer})).unwrap();
    let r = Signed::new(&url, &no_cfg, &c, "us-east-1").send();
    assert_eq!(r.status, 400);
    assert!(aws_error(&r).1.contains("toolConfig field must be defined"));
}

// ---------------------------------------------------------------- Bedrock: event stream

/// One decoded event: (`:message-type`, `:event-type` or `:exception-type`, JSON payload).
type Event = (String, String, Value);

/// Decodes with `aws-smithy-eventstream`, feeding the bytes as they were read (CRCs checked
/// by the decoder).
fn decode_smithy(body: &[u8], reads: &[usize]) -> Vec<Event> {
    let mut dec = MessageFrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    for &n in reads {
        buf.extend_from_slice(&body[pos..pos + n]);
        pos += n;
        loop {
            match dec.decode_frame(&mut buf).expect("valid frame (CRCs)") {
                DecodedFrame::Incomplete => break,
                DecodedFrame::Complete(msg) => {
                    let h = |name: &str| {
                        msg.headers()
                            .iter()
                            .find(|h| h.name().as_str() == name)
                            .map(|h| h.value().as_string().expect("string header").as_str().to_string())
                            .unwrap_or_default()
                    };
                    assert_eq!(h(":content-type"), "application/json");
                    let kind = h(":message-type");
                    let name = if kind == "event" { h(":event-type") } else { h(":exception-type") };
                    out.push((kind, name, serde_json::from_slice(msg.payload()).unwrap()));
                }
            }
        }
    }
    assert_eq!(pos, body.len());
    assert!(buf.is_empty(), "trailing bytes after the last frame");
    out
}

/// A frame as the independent reader sees it: (start, total length, headers).
type Frame = (usize, usize, Vec<(String, String)>);

/// An independent reader: checks both CRCs with `crc32fast` and returns each frame.
fn read_frames(body: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let be = |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().unwrap());
        let total = be(at) as usize;
        let hlen = be(at + 4) as usize;
        assert_eq!(be(at + 8), crc32fast::hash(&body[at..at + 8]), "prelude CRC");
        assert_eq!(be(at + total - 4), crc32fast::hash(&body[at..at + total - 4]), "message CRC");
        let mut headers = Vec::new();
        let mut p = at + 12;
        while p < at + 12 + hlen {
            let nl = body[p] as usize;
            let name = String::from_utf8(body[p + 1..p + 1 + nl].to_vec()).unwrap();
            p += 1 + nl;
            assert_eq!(body[p], 7, "string header");
            let vl = u16::from_be_bytes([body[p + 1], body[p + 2]]) as usize;
            let value = String::from_utf8(body[p + 3..p + 3 + vl].to_vec()).unwrap();
            p += 3 + vl;
            headers.push((name, value));
        }
        frames.push((at, total, headers));
        at += total;
    }
    assert_eq!(at, body.len());
    frames
}

fn stream_signed(m: &MockRegion, body: &[u8], c: &AwsCredentials) -> StreamResponse {
    let s = Signed::new(&converse_url(m, true), body, c, m.region());
    s.req().send_stream().expect("stream")
}

#[test]
fn bedrock_converse_stream_frames() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &["--chunk-delay-ms", "15", "--chunks", "4"]);
    let r = stream_signed(&m, &converse_body(), &c);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some("application/vnd.amazon.eventstream"));
    let reads: Vec<usize> = r.chunks.iter().map(|c| c.1).collect();
    let events = decode_smithy(&r.body, &reads);
    let names: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert!(events.iter().all(|e| e.0 == "event"));
    assert_eq!(events[0].2["role"], "assistant");
    let text: String =
        events.iter().filter(|e| e.1 == "contentBlockDelta").map(|e| e.2["delta"]["text"].as_str().unwrap()).collect();
    assert_eq!(text, "hello from us-west-2");
    assert_eq!(events[6].2["stopReason"], "end_turn");
    let u = &events[7].2["usage"];
    assert_eq!(u["outputTokens"], 4);
    assert_eq!(u["totalTokens"].as_u64().unwrap(), u["inputTokens"].as_u64().unwrap() + 4);
    assert!(events[7].2["metrics"]["latencyMs"].is_u64());

    // Independent reader: CRCs, headers, and frames split across reads.
    let frames = read_frames(&r.body);
    assert_eq!(frames.len(), 8);
    for (_, _, h) in &frames {
        assert_eq!(h.iter().find(|x| x.0 == ":message-type").unwrap().1, "event");
    }
    let mut boundaries = Vec::new();
    let mut acc = 0;
    for n in &reads {
        acc += n;
        boundaries.push(acc);
    }
    let inside = boundaries.iter().filter(|&&b| frames.iter().any(|(s, t, _)| b > *s && b < s + t)).count();
    assert!(reads.len() >= 4, "expected several reads, got {reads:?}");
    assert!(inside >= 2, "no read ended inside a frame: reads {reads:?}");
    // The delay applies between writes.
    assert!(r.end_at >= Duration::from_millis(15 * 6), "{:?}", r.end_at);

    let s = m.stats();
    assert_eq!(s["last_op"], "bedrock.converse-stream");
    assert_eq!(s["last_auth"]["verified"], true);
    assert_eq!(s["served_ok"], 1);
}

#[test]
fn bedrock_converse_stream_tool_use() {
    let c = creds();
    let m = bedrock("us-east-1", &c, &["--chunks", "3"]);
    let ask = json!([{"role": "user", "content": [{"text": "Weather?"}]}]);
    let r = stream_signed(&m, &tool_converse(ask), &c);
    assert_eq!(r.status, 200);
    let events = decode_smithy(&r.body, &[r.body.len()]);
    assert_eq!(events[1].1, "contentBlockStart");
    assert_eq!(events[1].2["start"]["toolUse"]["name"], "get_weather");
    let args: String = events
        .iter()
        .filter(|e| e.1 == "contentBlockDelta")
        .map(|e| e.2["delta"]["toolUse"]["input"].as_str().unwrap())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "mock-city", "unit": "c"}));
    let stop = events.iter().find(|e| e.1 == "messageStop").unwrap();
    assert_eq!(stop.2["stopReason"], "tool_use");
}

#[test]
fn bedrock_fault_modes_answer_like_bedrock() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    let url = converse_url(&m, false);
    m.set_mode(json!({"mode": "rate_limit"}));
    let r = Signed::new(&url, &converse_body(), &c, "us-west-2").send();
    assert_eq!(r.status, 429);
    assert_eq!(aws_error(&r).0, "ThrottlingException");
    m.set_mode(json!({"mode": "error", "status": 503}));
    let r = Signed::new(&url, &converse_body(), &c, "us-west-2").send();
    assert_eq!(r.status, 503);
    assert_eq!(aws_error(&r).0, "ServiceUnavailableException");
    m.set_mode(json!({"mode": "error", "status": 500}));
    let r = Signed::new(&url, &converse_body(), &c, "us-west-2").send();
    assert_eq!(aws_error(&r).0, "InternalServerException");
    // Credentials are checked before the service is (un)available.
    let r = Signed::new(&url, &converse_body(), &c, "eu-west-1").send();
    assert_eq!(r.status, 403);
    m.set_mode(json!({"mode": "ok"}));
    let r = Signed::new(&url, &converse_body(), &c, "us-west-2").send();
    assert_eq!(r.status, 200);
    // Health stays open.
    assert_eq!(Req::get(&format!("{}/health", m.url())).send().unwrap().status, 200);
}

// ---------------------------------------------------------------- Bedrock: streaming faults

fn stream_req(m: &MockRegion, c: &AwsCredentials) -> Req {
    Signed::new(&converse_url(m, true), &converse_body(), c, m.region()).req()
}

fn decoded(r: &StreamResponse) -> Vec<Event> {
    decode_smithy(&r.body, &r.chunks.iter().map(|c| c.1).collect::<Vec<_>>())
}

#[test]
fn bedrock_stall_after_headers() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    m.set_mode(json!({"mode": "stall_after_headers", "count": 1}));
    let r = read_until_client_gives_up(stream_req(&m, &c));
    assert_eq!(r.header("content-type").as_deref(), Some("application/vnd.amazon.eventstream"));
    assert!(r.header("x-amzn-requestid").is_some());
    assert!(r.body.is_empty());
    let r = stream_req(&m, &c).send_stream().unwrap();
    assert_eq!(decoded(&r).last().unwrap().1, "metadata");
    assert_eq!(faults_logged(&m), ["stall_after_headers", "ok"]);
    assert_eq!(m.recent()[0]["op"], "bedrock.converse-stream");
}

#[test]
fn bedrock_error_before_content() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    m.set_mode(json!({"mode": "error_before_content"}));
    let r = stream_req(&m, &c).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/vnd.amazon.eventstream"));
    assert!(r.error.is_none());
    let events = decoded(&r);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!((events[0].0.as_str(), events[0].1.as_str()), ("event", "messageStart"));
    assert_eq!(
        events[1],
        (
            "exception".to_string(),
            "serviceUnavailableException".to_string(),
            json!({"message": "Bedrock is unable to process your request."})
        )
    );
    // The independent reader sees an exception frame's three headers.
    let frames = read_frames(&r.body);
    let names: Vec<(&str, &str)> = frames[1].2.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        names,
        [
            (":exception-type", "serviceUnavailableException"),
            (":content-type", "application/json"),
            (":message-type", "exception")
        ]
    );

    // `error` names the exception.
    m.set_mode(json!({"mode": "error_before_content", "error": "throttlingException"}));
    let events = decoded(&stream_req(&m, &c).send_stream().unwrap());
    assert_eq!(events[1].0, "exception");
    assert_eq!(events[1].1, "throttlingException");
    assert_eq!(events[1].2, json!({"message": "Too many requests, please wait before trying again."}));
    // An unknown name is refused when the mode is set.
    let r = Req::post(&format!("{}/_mock/mode", m.url()))
        .json(&json!({"mode": "error_before_content", "error": "ThrottlingException"}))
        .send()
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("throttlingException"), "{}", r.text());
    assert_eq!(m.stats()["served_ok"], 0);
}

#[test]
fn bedrock_stall_after_content() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    m.set_mode(json!({"mode": "stall_after_content"}));
    let r = read_until_client_gives_up(stream_req(&m, &c));
    let events = decoded(&r);
    let names: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(names, ["messageStart", "contentBlockDelta"]);
    assert_eq!(events[1].2["delta"]["text"], "hell");

    m.set_mode(json!({"mode": "stall_after_content", "stall_ms": STALL_MS}));
    let r = stream_req(&m, &c).send_stream().unwrap();
    assert_stalled_between(&r, "\"hell\"", "\"o fr\"");
    let events = decoded(&r);
    assert_eq!(events.len(), 9);
    assert_eq!(events[8].1, "metadata");
}

#[test]
fn bedrock_slow_stream() {
    let c = creds();
    let m = bedrock("us-west-2", &c, &[]);
    m.set_mode(slow_stream_mode());
    let r = stream_req(&m, &c).send_stream().unwrap();
    assert_slow_stream_timing(&r, "\"hell\"");
    assert!(arrival_of_text(&r, "messageStart") < Duration::from_millis(150));
    let events = decoded(&r);
    let text: String =
        events.iter().filter(|e| e.1 == "contentBlockDelta").map(|e| e.2["delta"]["text"].as_str().unwrap()).collect();
    assert_eq!(text, "hello from us-west-2");
    let last = events.last().unwrap();
    assert_eq!(last.1, "metadata");
    assert_eq!(last.2["usage"]["outputTokens"], 5);
    // The usage comes last, at total_ms.
    assert!(arrival_of_text(&r, "metadata") >= Duration::from_millis(900));
}
