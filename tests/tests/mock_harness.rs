//! The harness's provider-mock helpers work end to end (no Envoy needed):
//! `MockRegion::start_bedrock` / `start_provider` and the library's SigV4 signer
//! (`mock::sigv4::sign_request`), whose signatures the mock accepts.

mod mock_common;

use std::time::SystemTime;

use llm_router_e2e::mock::Provider;
use llm_router_e2e::{MockRegion, Req};
use mock_common::{anthropic_post, converse_body, converse_url, creds, messages_body, Signed};

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
