//! The provider mocks check requests as the real services do (no Envoy needed).
//!
//! Bedrock requests are signed here with the `aws-sigv4` crate (AWS's signer, called
//! directly), event streams are decoded with `aws-smithy-eventstream` and with a small
//! reader written here; neither shares code with the mock's encoder.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::BytesMut;
use llm_router_e2e::mock::{AwsCredentials, Provider};
use llm_router_e2e::{MockRegion, Req, Response, StreamResponse};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_mock-region");
const MODEL_ID: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
const MODEL_ID_ENC: &str = "anthropic.claude-3-5-sonnet-20241022-v2%3A0";

fn creds() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIAMOCKREGION000001".into(),
        secret_access_key: "mock/secret+key/for/tests0000000000000000".into(),
        session_token: None,
    }
}

fn start(region: &str, args: &[&str]) -> MockRegion {
    MockRegion::start_bin(BIN, region, args)
}

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

/// A request signed with `aws-sigv4` as an AWS SDK signs it (payload hash header included).
struct Signed {
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Signed {
    fn new(url: &str, body: &[u8], c: &AwsCredentials, region: &str) -> Signed {
        Self::with(url, body, c, region, "bedrock", SystemTime::now(), &[])
    }

    fn with(
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

    fn req(&self) -> Req {
        let mut r = Req::post(&self.url).body(self.body.clone());
        for (k, v) in &self.headers {
            if k != "host" {
                r = r.header(k, v);
            }
        }
        r
    }

    fn set(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.into(), value.into()));
    }

    fn send(&self) -> Response {
        self.req().send().expect("send")
    }
}

fn converse_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
    }))
    .unwrap()
}

fn converse_url(m: &MockRegion, stream: bool) -> String {
    format!("{}/model/{MODEL_ID_ENC}/{}", m.url(), if stream { "converse-stream" } else { "converse" })
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

// ---------------------------------------------------------------- Azure OpenAI

fn chat() -> Value {
    json!({"messages": [{"role": "user", "content": "hi"}]})
}

fn azure_mock() -> MockRegion {
    start(
        "swedencentral",
        &[
            "--provider",
            "azure",
            "--api-key",
            "azkey-123",
            "--azure-deployment",
            "gpt4o-prod",
            "--expect-model",
            "gpt-4o-2024-08-06",
        ],
    )
}

#[test]
fn azure_checks_key_version_and_deployment() {
    let m = azure_mock();
    let url = |dep: &str, q: &str| format!("{}/openai/deployments/{dep}/chat/completions{q}", m.url());
    let ok_url = url("gpt4o-prod", "?api-version=2024-10-21");

    let r = Req::post(&ok_url).json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Access denied due to invalid subscription key"));
    let r = Req::post(&ok_url).header("api-key", "nope").json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    // A bearer key is not an api-key.
    let r = Req::post(&ok_url).header("authorization", "Bearer azkey-123").json(&chat()).send().unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(m.last_auth()["verified"], false);

    let key = [("api-key", "azkey-123")];
    let r = Req::post(&url("gpt4o-prod", "")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["message"], "Resource not found");
    let r = Req::post(&url("gpt4o-prod", "?api-version=2031-01-01")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "API version not supported");
    let r = Req::post(&url("gpt35", "?api-version=2024-10-21")).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "DeploymentNotFound");
    // OpenAI's own paths are not Azure's.
    let r = Req::post(&format!("{}/v1/chat/completions", m.url())).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 404);

    let r = Req::post(&ok_url).headers(&key).json(&chat()).send().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["model"], "gpt-4o-2024-08-06");
    assert_eq!(b["choices"][0]["message"]["content"], "hello from swedencentral");
    assert!(b["prompt_filter_results"].is_array());
    let s = m.stats();
    assert_eq!(s["last_op"], "azure.chat.completions");
    assert_eq!(s["last_model"], "gpt4o-prod");
    assert_eq!(s["last_auth"]["scheme"], "api-key");
    assert_eq!(s["last_auth"]["verified"], true);

    // Body still validated as OpenAI does.
    let r = Req::post(&ok_url).headers(&key).json(&json!({"messages": [], "foo": 1})).send().unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn azure_streams_with_a_prompt_filter_chunk_first() {
    let m = azure_mock();
    let r = Req::post(&format!("{}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01", m.url()))
        .header("api-key", "azkey-123")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send_stream()
        .unwrap();
    assert_eq!(r.status, 200);
    let chunks = r.sse_json();
    assert_eq!(chunks[0]["choices"], json!([]));
    assert!(chunks[0]["prompt_filter_results"].is_array());
    assert!(r.done());
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, "hello from swedencentral");
}

// ---------------------------------------------------------------- OpenAI-compatible

#[test]
fn openai_requires_the_bearer_key_when_configured() {
    let m = start("us-east", &["--api-key", "sk-mock-0123456789"]);
    let url = format!("{}/v1/chat/completions", m.url());
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let r = Req::post(&url).json(&body).send().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"].as_str().unwrap().starts_with("You didn't provide an API key"));
    let r = Req::post(&url).header("authorization", "Bearer sk-wrong-0123456789").json(&body).send().unwrap();
    assert_eq!(r.status, 401);
    let e = r.json();
    assert_eq!(e["error"]["code"], "invalid_api_key");
    assert!(!e["error"]["message"].as_str().unwrap().contains("sk-wrong-0123456789"));
    let r = Req::post(&url).header("authorization", "Bearer sk-mock-0123456789").json(&body).send().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(m.last_auth()["scheme"], "bearer");
    assert_eq!(m.last_auth()["verified"], true);

    // Without --api-key nothing is required (the default mock).
    let open = start("us-east", &[]);
    let r = Req::post(&format!("{}/v1/chat/completions", open.url())).json(&body).send().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(open.last_auth()["scheme"], "none");
}

#[test]
fn openai_tool_calls() {
    let m = start("us-east", &[]);
    let url = format!("{}/v1/chat/completions", m.url());
    let tools = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]);
    let r = Req::post(&url)
        .json(&json!({"model": "m", "tools": tools, "messages": [{"role": "user", "content": "find"}]}))
        .send()
        .unwrap();
    let b = r.json();
    assert_eq!(b["choices"][0]["finish_reason"], "tool_calls");
    let call = &b["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "lookup");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"q": "mock-q"}));
    // After the tool answered: text.
    let r = Req::post(&url)
        .json(&json!({"model": "m", "tools": tools, "messages": [
            {"role": "user", "content": "find"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "found"}]}))
        .send()
        .unwrap();
    assert_eq!(r.json()["choices"][0]["finish_reason"], "stop");
    // Streamed: the arguments arrive in pieces.
    let r = Req::post(&url)
        .json(&json!({"model": "m", "stream": true, "tools": tools, "messages": [{"role": "user", "content": "find"}]}))
        .send_stream()
        .unwrap();
    let chunks = r.sse_json();
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"q": "mock-q"}));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
}

// ---------------------------------------------------------------- Anthropic

fn anthropic_mock() -> MockRegion {
    start("us-east-1", &["--provider", "anthropic", "--api-key", "sk-ant-mock"])
}

fn messages_body() -> Value {
    json!({"model": "claude-3-5-sonnet-20241022", "max_tokens": 100, "system": "Be brief.",
           "messages": [{"role": "user", "content": "Hello"}]})
}

fn anthropic_post(m: &MockRegion, headers: &[(&str, &str)], body: &Value) -> Response {
    Req::post(&format!("{}/v1/messages", m.url())).headers(headers).json(body).send().unwrap()
}

const ANT: [(&str, &str); 2] = [("x-api-key", "sk-ant-mock"), ("anthropic-version", "2023-06-01")];

#[test]
fn anthropic_checks_key_version_and_body() {
    let m = anthropic_mock();
    let r = anthropic_post(&m, &[("anthropic-version", "2023-06-01")], &messages_body());
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = anthropic_post(&m, &[("x-api-key", "sk-ant-other"), ("anthropic-version", "2023-06-01")], &messages_body());
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["message"], "invalid x-api-key");
    // A bearer token is not the API key.
    let r = anthropic_post(
        &m,
        &[("authorization", "Bearer sk-ant-mock"), ("anthropic-version", "2023-06-01")],
        &messages_body(),
    );
    assert_eq!(r.status, 401);

    let r = anthropic_post(&m, &[("x-api-key", "sk-ant-mock")], &messages_body());
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "anthropic-version: header is required");

    let cases = [
        ("n", json!(1), "n: Extra inputs are not permitted"),
        ("stream_options", json!({}), "stream_options: Extra inputs are not permitted"),
        ("max_tokens", Value::Null, "max_tokens: Field required"),
        ("model", Value::Null, "model: Field required"),
        ("messages", json!([{"role": "system", "content": "x"}]), "top-level `system` parameter"),
        (
            "messages",
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
            "Input tag 'image_url'",
        ),
        ("messages", json!([{"role": "user", "content": ""}]), "must have non-empty content"),
        ("temperature", json!(1.5), "temperature: Input should be less than or equal to 1"),
    ];
    for (key, val, want) in cases {
        let mut b = messages_body();
        if val.is_null() {
            b.as_object_mut().unwrap().remove(key);
        } else {
            b[key] = val;
        }
        let r = anthropic_post(&m, &ANT, &b);
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert!(e["error"]["message"].as_str().unwrap().contains(want), "{b}: {e}");
    }

    let r = anthropic_post(&m, &ANT, &messages_body());
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("request-id").is_some());
    let b = r.json();
    assert_eq!(b["type"], "message");
    assert_eq!(b["role"], "assistant");
    assert_eq!(b["model"], "claude-3-5-sonnet-20241022");
    assert_eq!(b["content"], json!([{"type": "text", "text": "hello from us-east-1"}]));
    assert_eq!(b["stop_reason"], "end_turn");
    assert!(b["id"].as_str().unwrap().starts_with("msg_"));
    assert!(b["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(b["usage"]["output_tokens"], 5);
    let s = m.stats();
    assert_eq!(s["last_op"], "anthropic.messages");
    assert_eq!(s["last_model"], "claude-3-5-sonnet-20241022");
    assert_eq!(s["last_auth"]["scheme"], "x-api-key");
}

fn sse_events(text: &str) -> Vec<(String, Value)> {
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

#[test]
fn anthropic_sse_shape() {
    let m = anthropic_mock();
    let mut b = messages_body();
    b["stream"] = json!(true);
    let r = Req::post(&format!("{}/v1/messages", m.url())).headers(&ANT).json(&b).send_stream().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    let ev = sse_events(&r.text());
    let names: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[1..3], ["content_block_start", "ping"]);
    assert_eq!(&names[names.len() - 3..], ["content_block_stop", "message_delta", "message_stop"]);
    let start = &ev[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert!(start["usage"]["input_tokens"].as_u64().unwrap() > 0);
    let text: String = ev
        .iter()
        .filter(|e| e.0 == "content_block_delta")
        .map(|e| {
            assert_eq!(e.1["delta"]["type"], "text_delta");
            e.1["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "hello from us-east-1");
    let delta = &ev[ev.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[test]
fn anthropic_tool_use_and_faults() {
    let m = anthropic_mock();
    let mut b = messages_body();
    b["tools"] = json!([{"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let r = anthropic_post(&m, &ANT, &b);
    let v = r.json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["type"], "tool_use");
    assert_eq!(v["content"][0]["input"], json!({"city": "mock-city"}));
    let id = v["content"][0]["id"].as_str().unwrap().to_string();
    // tool_choice none → text.
    let mut none = b.clone();
    none["tool_choice"] = json!({"type": "none"});
    assert_eq!(anthropic_post(&m, &ANT, &none).json()["stop_reason"], "end_turn");
    // The tool_result must answer the tool_use.
    let mut turn = b.clone();
    turn["messages"] = json!([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_other", "content": "5C"}]}
    ]);
    let r = anthropic_post(&m, &ANT, &turn);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("unexpected `tool_use_id`"));
    turn["messages"][2]["content"][0]["tool_use_id"] = json!(id);
    let r = anthropic_post(&m, &ANT, &turn);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stop_reason"], "end_turn");
    // Streamed tool use.
    let mut s = b.clone();
    s["stream"] = json!(true);
    let r = Req::post(&format!("{}/v1/messages", m.url())).headers(&ANT).json(&s).send_stream().unwrap();
    let ev = sse_events(&r.text());
    assert_eq!(ev[1].1["content_block"]["type"], "tool_use");
    let args: String = ev
        .iter()
        .filter(|e| e.0 == "content_block_delta")
        .map(|e| e.1["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "mock-city"}));
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");

    m.set_mode(json!({"mode": "error", "status": 529}));
    let r = anthropic_post(&m, &ANT, &messages_body());
    assert_eq!(r.status, 529);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    m.set_mode(json!({"mode": "rate_limit"}));
    let r = anthropic_post(&m, &ANT, &messages_body());
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
}

// ---------------------------------------------------------------- Vertex

fn vertex_mock() -> MockRegion {
    start(
        "europe-west1",
        &["--provider", "vertex", "--bearer-token", "ya29.static-token", "--vertex-project", "proj-1"],
    )
}

fn vertex_url(m: &MockRegion, location: &str, publisher: &str, model: &str, method: &str) -> String {
    format!("{}/v1/projects/proj-1/locations/{location}/publishers/{publisher}/models/{model}:{method}", m.url())
}

fn claude_vertex_body() -> Value {
    json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 50,
           "messages": [{"role": "user", "content": "Hello"}]})
}

#[test]
fn vertex_claude_tokens_and_bodies() {
    let m = vertex_mock();
    let url = vertex_url(&m, "europe-west1", "anthropic", "claude-3-5-sonnet-v2@20241022", "rawPredict");
    let bearer = |t: &str| format!("Bearer {t}");

    let r = Req::post(&url).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 401);
    let e = r.json();
    assert_eq!(e["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(e["error"]["details"][0]["reason"], "CREDENTIALS_MISSING");
    let r =
        Req::post(&url).header("authorization", &bearer("ya29.foreign")).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 401);

    // Tokens added at run time, with an expiry.
    m.add_token("ya29.short", Some(0));
    m.add_token("ya29.long", Some(3600));
    let r = Req::post(&url).header("authorization", &bearer("ya29.short")).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["details"][0]["reason"], "ACCESS_TOKEN_EXPIRED");
    assert_eq!(m.last_auth()["verified"], false);
    for t in ["ya29.long", "ya29.static-token"] {
        let r = Req::post(&url).header("authorization", &bearer(t)).json(&claude_vertex_body()).send().unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let auth = [("authorization", "Bearer ya29.static-token")];
    let b = Req::post(&url).headers(&auth).json(&claude_vertex_body()).send().unwrap().json();
    assert_eq!(b["type"], "message");
    assert_eq!(b["model"], "claude-3-5-sonnet-v2@20241022");
    assert_eq!(b["content"][0]["text"], "hello from europe-west1");
    let s = m.stats();
    assert_eq!(s["last_op"], "vertex.rawPredict");
    assert_eq!(s["last_model"], "claude-3-5-sonnet-v2@20241022");
    assert_eq!(s["last_auth"]["scheme"], "bearer");

    // Vertex's body rules: no model, anthropic_version required.
    let mut with_model = claude_vertex_body();
    with_model["model"] = json!("claude-3-5-sonnet");
    let r = Req::post(&url).headers(&auth).json(&with_model).send().unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["message"], "model: Extra inputs are not permitted");
    let mut no_version = claude_vertex_body();
    no_version.as_object_mut().unwrap().remove("anthropic_version");
    let r = Req::post(&url).headers(&auth).json(&no_version).send().unwrap();
    assert_eq!(r.status, 400);

    // Another location at this regional endpoint, another project.
    let r = Req::post(&vertex_url(&m, "us-east5", "anthropic", "claude-3-5-sonnet-v2@20241022", "rawPredict"))
        .headers(&auth)
        .json(&claude_vertex_body())
        .send()
        .unwrap();
    assert_eq!(r.status, 400);
    let r = Req::post(&url.replace("proj-1", "proj-2")).headers(&auth).json(&claude_vertex_body()).send().unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");

    // Streaming.
    let mut s = claude_vertex_body();
    s["stream"] = json!(true);
    let r = Req::post(&url.replace(":rawPredict", ":streamRawPredict")).headers(&auth).json(&s).send_stream().unwrap();
    assert_eq!(r.status, 200);
    let ev = sse_events(&r.text());
    assert_eq!(ev.last().unwrap().0, "message_stop");
    assert_eq!(m.last_op().as_deref(), Some("vertex.streamRawPredict"));
}

#[test]
fn vertex_gemini() {
    let m = vertex_mock();
    let auth = [("authorization", "Bearer ya29.static-token")];
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2}
    });
    let url = vertex_url(&m, "europe-west1", "google", "gemini-2.0-flash-001", "generateContent");
    let r = Req::post(&url).headers(&auth).json(&body).send().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let b = r.json();
    assert_eq!(b["candidates"][0]["content"]["role"], "model");
    assert_eq!(b["candidates"][0]["content"]["parts"][0]["text"], "hello from europe-west1");
    assert_eq!(b["candidates"][0]["finishReason"], "STOP");
    let u = &b["usageMetadata"];
    assert_eq!(
        u["totalTokenCount"].as_u64().unwrap(),
        u["promptTokenCount"].as_u64().unwrap() + u["candidatesTokenCount"].as_u64().unwrap()
    );

    // OpenAI-shaped keys are unknown fields.
    let r =
        Req::post(&url).headers(&auth).json(&json!({"messages": [{"role": "user", "content": "x"}]})).send().unwrap();
    assert_eq!(r.status, 400);
    let e = r.json();
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert!(e["error"]["message"].as_str().unwrap().contains("Unknown name \"messages\""));
    let r = Req::post(&url)
        .headers(&auth)
        .json(&json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}))
        .send()
        .unwrap();
    assert_eq!(r.status, 400);

    // SSE streaming.
    let r = Req::post(&format!("{}?alt=sse", url.replace(":generateContent", ":streamGenerateContent")))
        .headers(&auth)
        .json(&body)
        .send_stream()
        .unwrap();
    assert_eq!(r.status, 200);
    let chunks = r.sse_json();
    let text: String =
        chunks.iter().map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(text, "hello from europe-west1");
    assert_eq!(chunks.last().unwrap()["candidates"][0]["finishReason"], "STOP");
    assert!(chunks.last().unwrap()["usageMetadata"].is_object());
    // Without alt=sse: one JSON array.
    let r = Req::post(&url.replace(":generateContent", ":streamGenerateContent"))
        .headers(&auth)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.json().as_array().unwrap().len(), 5);

    // Function calling.
    let mut tools = body.clone();
    tools["tools"] = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]);
    let b = Req::post(&url).headers(&auth).json(&tools).send().unwrap().json();
    assert_eq!(
        b["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "mock-city"}})
    );

    m.set_mode(json!({"mode": "rate_limit"}));
    let r = Req::post(&url).headers(&auth).json(&body).send().unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["status"], "RESOURCE_EXHAUSTED");
}

// ---------------------------------------------------------------- harness helpers

#[test]
fn harness_starts_provider_mocks() {
    let c = creds();
    let m = MockRegion::start_bedrock("us-east-2", &c, &[]);
    let r = Signed::new(&converse_url(&m, false), &converse_body(), &c, "us-east-2").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let recent = m.recent();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["op"], "bedrock.converse");
    assert_eq!(recent[0]["auth"]["verified"], true);

    let a = MockRegion::start_provider("us-east-1", Provider::Anthropic, &["--api-key", "k"]);
    let r = anthropic_post(&a, &[("x-api-key", "k"), ("anthropic-version", "2023-06-01")], &messages_body());
    assert_eq!(r.status, 200);
    assert_eq!(a.stats()["provider"], "anthropic");

    // The library's signer helper produces signatures the mock accepts.
    let url = converse_url(&m, false);
    let host = m.addr();
    let body = converse_body();
    let hdrs = llm_router_e2e::mock::sigv4::sign_request(
        "POST",
        &url,
        &[("host", &host), ("content-type", "application/json")],
        &body,
        &c,
        "us-east-2",
        "bedrock",
        SystemTime::now(),
    );
    let mut req = Req::post(&url).header("content-type", "application/json").body(body);
    for (k, v) in &hdrs {
        req = req.header(k, v);
    }
    assert_eq!(req.send().unwrap().status, 200);
}
