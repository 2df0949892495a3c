//! Seed pattern 3 (data residency): a request with `x-llm-residency` is never served outside
//! its zone, whatever fails; `allowed_regions` violations are rejected by `validate`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bedrock_region, chat_body, deployment, Gateway};
use llm_router_e2e::{llm_router_bin, Load, TempDir};

#[test]
fn residency_requests_stay_in_their_zone_and_fail_closed() {
    let mut eu_west = bedrock_region("eu-west-1");
    let mut eu_central = bedrock_region("eu-central-1");
    let us_west = bedrock_region("us-west-2");
    let model = "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0";
    let yaml = format!(
        "model_list:\n{}{}{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 2\n  cooldown_time: 30\n",
        deployment("claude", model, &us_west, "    priority: 1\n"),
        deployment("claude", model, &eu_west, "    priority: 2\n"),
        deployment("claude", model, &eu_central, "    priority: 3\n"),
    );
    let gw = Gateway::start(&yaml);

    // Without the header the US primary serves; with it, only the EU.
    assert_eq!(gw.chat("claude", &[]).header("x-llm-region").as_deref(), Some("us-west-2"));
    let mut eu_load = Load::new(&gw.chat_url(), &chat_body("claude")).header("x-llm-residency", "eu");
    eu_load.max_requests = 100;
    eu_load.concurrency = 4;
    let r = eu_load.run();
    assert_eq!(r.failed, 0, "{:?}", r.errors);
    assert_eq!(r.by_region.get("eu-west-1"), Some(&100), "{:?}", r.by_region);

    // The EU primary fails: the other EU region serves, never the US.
    eu_west.kill();
    let us_before = us_west.requests();
    let r = eu_load.run();
    assert_eq!(r.failed, 0, "{:?}", r.errors);
    assert_eq!(r.by_region.keys().collect::<Vec<_>>(), ["eu-central-1"], "{:?}", r.by_region);

    // Every EU region down: an error (503 while the last attempts fail, then 429 with
    // Retry-After once both cool down), and still nothing leaves the zone.
    eu_central.kill();
    for _ in 0..20 {
        let r = gw.chat("claude", &[("x-llm-residency", "eu")]);
        assert!(matches!(r.status, 503 | 429), "{}", r.text());
        if r.status == 429 {
            assert!(r.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)), "{}", r.text());
        }
        assert!(r.header("x-llm-region").is_none());
        let body = r.json();
        assert!(body["error"]["message"].is_string(), "OpenAI error shape: {body}");
    }
    assert_eq!(us_west.requests(), us_before, "no EU-resident request reached the US region");
    // Other traffic is unaffected.
    assert_eq!(gw.chat("claude", &[]).status, 200);
    assert!(gw.metric_sum("llm_router_residency_unavailable_total", &["zone=\"eu\""]) >= 1.0);

    // Zones are lower case: `EU` is the eu zone, in the error and in the metric.
    let r = gw.chat("claude", &[("x-llm-residency", "EU")]);
    assert_eq!(r.status, 429, "every EU deployment is cooling down: {}", r.text());
    assert!(r.text().contains("zone 'eu'"), "{}", r.text());
    assert_eq!(gw.metric_sum("llm_router_residency_unavailable_total", &["zone=\"EU\""]), 0.0);

    // Two residency headers (a client's beside a front proxy's): refused, neither one wins.
    let us_before = us_west.requests();
    for pair in [["us", "eu"], ["eu", "us"]] {
        let r = gw.chat("claude", &[("x-llm-residency", pair[0]), ("x-llm-residency", pair[1])]);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "duplicate_header");
    }
    assert_eq!(us_west.requests(), us_before);

    // Unknown zone: the client's error.
    let r = gw.chat("claude", &[("x-llm-residency", "mars")]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "invalid_residency");

    // x-llm-region is a soft preference: honoured when healthy, ignored when not.
    let r = gw.chat("claude", &[("x-llm-region", "eu-central-1")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-llm-region").as_deref(), Some("us-west-2"), "preferred region is down");
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn validate_rejects_deployments_outside_allowed_regions() {
    let dir = TempDir::new("residency-validate");
    let path = dir.path().join("eu-gateway.yaml");
    std::fs::write(
        &path,
        "model_list:\n  - model_name: claude-eu\n    litellm_params:\n      model: vertex_ai/claude-3-5-sonnet@20241022\n      vertex_project: company-eu-project\n      vertex_location: us-central1\nrouter_settings:\n  allowed_regions: [\"europe-west1\", \"europe-west3\"]\n",
    )
    .expect("write");
    let out = Command::new(llm_router_bin()).args(["validate", "--config"]).arg(&path).output().expect("run validate");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:6:7:", path.display());
    assert!(stderr.contains(&expected), "FILE:LINE:COL at the region key: {stderr}");
    assert!(stderr.contains("allowed_regions"), "{stderr}");
}

/// Residency follows the endpoint called: a Bedrock `global.` inference profile sent to
/// eu-west-1 (and labelled so) may run anywhere, so EU-pinned requests never use it.
#[test]
fn a_global_profile_in_an_eu_region_never_serves_eu_pinned_requests() {
    let eu_west = bedrock_region("eu-west-1");
    let eu_central = bedrock_region("eu-central-1");
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: priority-routing\n",
        deployment(
            "claude",
            "bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            &eu_west,
            "      metadata: {region: eu-west-1}\n    priority: 1\n"
        ),
        deployment("claude", "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", &eu_central, "    priority: 2\n"),
    );
    let gw = Gateway::start(&yaml);
    // Unpinned requests may use it: it is the first priority.
    assert_eq!(gw.chat("claude", &[]).header("x-llm-region").as_deref(), Some("eu-west-1"));
    let global_before = eu_west.requests();
    for _ in 0..20 {
        let r = gw.chat("claude", &[("x-llm-residency", "eu")]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-llm-region").as_deref(), Some("eu-central-1"));
    }
    assert_eq!(eu_west.requests(), global_before, "no EU-pinned request went to the global profile");
}

/// `validate` names a label that disagrees with the region called, and an EU profile whose
/// destinations the zone does not list, at their keys.
#[test]
fn validate_rejects_labels_and_profiles_that_leave_their_zone() {
    let dir = TempDir::new("residency-validate-endpoint");
    let path = dir.path().join("eu.yaml");
    std::fs::write(
        &path,
        "model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: us-east-1
      metadata: {region: eu-west-1}
  - model_name: claude
    litellm_params:
      model: bedrock/eu.anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: eu-west-1
router_settings:
  residency_zones: {eu: [eu-west-1, eu-central-1], us: [us-east-1]}
",
    )
    .expect("write");
    let out = Command::new(llm_router_bin()).args(["validate", "--config"]).arg(&path).output().expect("run validate");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    assert!(
        stderr.contains(&format!("{p}:6:18: model_list[0] ('claude'): metadata.region 'eu-west-1' disagrees with where its requests go, aws_region_name 'us-east-1'")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{p}:9:7: deployment 'claude-eu-west-1-2' calls Bedrock cross-region inference profile 'eu.anthropic.claude-3-5-sonnet-20241022-v2:0' from 'eu-west-1' (zone 'eu'), but AWS may route it to eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-2, eu-west-3, which router_settings.residency_zones.eu does not list")),
        "{stderr}"
    );
}
