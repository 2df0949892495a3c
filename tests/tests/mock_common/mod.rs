//! Helpers shared by the provider mock tests (`mock_bedrock.rs`, `mock_anthropic.rs`, ...,
//! `mock_harness.rs`), defined once: starting a `mock-region` binary, Bedrock requests signed
//! with AWS's own signer, the Anthropic Messages request, and an Anthropic SSE reader (Claude
//! on Vertex streams the same events). Each test file uses a different subset, hence the allow.
#![allow(dead_code)]

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use llm_router_e2e::mock::AwsCredentials;
use llm_router_e2e::{MockRegion, Req, Response};
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
