//! Vertex AI with a service account: `serve` signs a JWT with the account's key, trades it at
//! the key's `token_uri` (a mock Google token endpoint that verifies the RS256 signature and
//! the claims), and hands the access token to Envoy as an SDS secret; the mock Vertex region
//! accepts only tokens that endpoint granted, until they expire. Pattern 1 fails over from
//! Bedrock us-west-2 to us-east-1 to Vertex europe-west1 within one request.

mod xds_common;

use std::time::{Duration, Instant};

use llm_router_e2e::mock::google_oauth::{MockTokenEndpoint, TestServiceAccount};
use llm_router_e2e::mock::{AwsCredentials, Provider};
use llm_router_e2e::{free_port, poll_until, repo_root, MockRegion, Req, TempDir};
use serde_json::{json, Value};
use xds_common::{chat_body, stream_body, XdsGateway};

const BEDROCK_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";
const VERTEX_PROJECT: &str = "company-eu-project";
const MASTER_KEY: &str = "sk-gateway-vertex-test-key";
const ACCOUNT: &str = "llm-gateway@company-eu-project.iam.gserviceaccount.com";

/// A mock Vertex region that accepts only tokens it is told about (the foreign token it
/// starts with is never the gateway's).
fn vertex_region(location: &str) -> MockRegion {
    MockRegion::start_provider(
        location,
        Provider::Vertex,
        &["--vertex-project", VERTEX_PROJECT, "--bearer-token", "ya29.someone-elses-token"],
    )
}

/// A service account whose key file (written to `dir`) names a mock token endpoint that
/// grants tokens of `lifetime`, registered with `vertex`.
struct Google {
    endpoint: MockTokenEndpoint,
    key_file: std::path::PathBuf,
    account: TestServiceAccount,
}

fn google(dir: &TempDir, lifetime: Duration, vertex: &[&MockRegion]) -> Google {
    let port = free_port();
    let account = TestServiceAccount::generate(ACCOUNT, &format!("http://127.0.0.1:{port}/token"));
    let urls: Vec<String> = vertex.iter().map(|v| v.url()).collect();
    let endpoint = MockTokenEndpoint::start(port, ACCOUNT, &account.public_key_pem, lifetime, &urls);
    let key_file = dir.path().join("vertex-sa.json");
    std::fs::write(&key_file, &account.key_json).expect("write the key file");
    Google { endpoint, key_file, account }
}

fn vertex_deployment(group: &str, region: &MockRegion, key_file: &std::path::Path, priority: u32) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: vertex_ai/claude-3-5-sonnet@20241022\n      vertex_project: {VERTEX_PROJECT}\n      vertex_location: {}\n      api_base: {}\n      vertex_credentials: {}\n    priority: {priority}\n",
        region.region(),
        region.url(),
        key_file.display()
    )
}

fn bedrock_deployment(group: &str, region: &MockRegion, priority: u32) -> String {
    format!(
        "  - model_name: {group}\n    litellm_params:\n      model: bedrock/{BEDROCK_MODEL}\n      aws_region_name: {}\n      api_base: {}\n      aws_access_key_id: os.environ/VERTEX_TEST_AWS_KEY_ID\n      aws_secret_access_key: os.environ/VERTEX_TEST_AWS_SECRET\n    priority: {priority}\n",
        region.region(),
        region.url()
    )
}

fn aws() -> AwsCredentials {
    let creds = AwsCredentials {
        access_key_id: "AKIDVERTEXTEST0001".into(),
        secret_access_key: "vertex-test-aws-secret-do-not-show".into(),
        session_token: None,
    };
    // The control plane (a child process) reads them; Envoy gets them over xDS.
    std::env::set_var("VERTEX_TEST_AWS_KEY_ID", &creds.access_key_id);
    std::env::set_var("VERTEX_TEST_AWS_SECRET", &creds.secret_access_key);
    creds
}

/// Every place a secret could leak to: Envoy's config dump and stats, the control plane's
/// log, metrics and status.
fn assert_nowhere(gw: &XdsGateway, secrets: &[&str]) {
    let places = [
        ("/config_dump", gw.envoy.admin_get("/config_dump?include_eds")),
        ("Envoy stats", gw.envoy.stats_prometheus()),
        ("serve log", gw.cp.log_text()),
        ("serve /metrics", gw.cp.metrics()),
        ("serve /status", gw.cp.status().to_string()),
    ];
    for secret in secrets {
        for (place, text) in &places {
            assert!(!text.contains(secret), "a secret ({}...) is in {place}", &secret[..secret.len().min(12)]);
        }
    }
}

fn private_key_body(key_json: &str) -> String {
    let v: Value = serde_json::from_str(key_json).expect("key json");
    // A line from the middle of the PEM body: enough to recognise the key anywhere.
    v["private_key"].as_str().unwrap_or_default().lines().nth(5).unwrap_or_default().to_string()
}

#[test]
fn pattern_1_fails_over_from_bedrock_to_vertex_in_one_request() {
    let creds = aws();
    let west = MockRegion::start_bedrock("us-west-2", &creds, &[]);
    let east = MockRegion::start_bedrock("us-east-1", &creds, &[]);
    let eu = vertex_region("europe-west1");
    let dir = TempDir::new("llm-vertex-sa");
    let g = google(&dir, Duration::from_secs(3600), &[&eu]);
    std::env::set_var("VERTEX_TEST_MASTER_KEY", MASTER_KEY);
    let yaml = format!(
        "model_list:\n{}{}{}{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n  allowed_fails: 100\ngeneral_settings:\n  master_key: os.environ/VERTEX_TEST_MASTER_KEY\n",
        bedrock_deployment("claude-global", &west, 1),
        bedrock_deployment("claude-global", &east, 2),
        vertex_deployment("claude-global", &eu, &g.key_file, 3),
        // Gemini on the same account: the deployments share one token.
        vertex_deployment("gemini-eu", &eu, &g.key_file, 1).replace("claude-3-5-sonnet@20241022", "gemini-2.0-flash"),
    );
    let gw = XdsGateway::start(&yaml);
    let auth_header = format!("Bearer {MASTER_KEY}");
    let chat = |body: &Value| Req::post(&gw.chat_url()).header("authorization", &auth_header).json(body);
    poll_until(Duration::from_secs(20), "served by us-west-2", || {
        let r = chat(&chat_body("claude-global")).send().ok()?;
        (r.header("x-llm-region").as_deref() == Some("us-west-2")).then_some(())
    });
    assert_eq!(g.endpoint.stats().granted.len(), 1, "one token for the account: {:?}", g.endpoint.stats().refused);

    // Both Bedrock regions fail: one request, three attempts, three APIs and signatures.
    west.set_mode(json!({"mode": "error", "status": 503}));
    east.set_mode(json!({"mode": "rate_limit"}));
    let (west_before, east_before) = (west.requests(), east.requests());
    let r = chat(&chat_body("claude-global")).send().expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-llm-region").as_deref(), Some("europe-west1"));
    assert_eq!(r.header("x-envoy-attempt-count").as_deref(), Some("3"));
    let body = r.json();
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "hello from europe-west1");
    assert_eq!((west.requests() - west_before, east.requests() - east_before), (1, 1));
    assert_eq!(west.last_auth()["region"], "us-west-2");
    assert_eq!(east.last_auth()["region"], "us-east-1");
    assert_eq!(east.last_auth()["verified"], true, "{}", east.last_auth());
    // Only the provider's headers are signed (Envoy's and the gateway's may change between
    // attempts), and the translated body goes with its length, not chunked.
    let signed = east.last_auth()["signed_headers"].to_string();
    assert!(signed.contains("x-amz-date") && !signed.contains("x-llm-") && !signed.contains("x-envoy-"), "{signed}");
    let headers = east.last_headers();
    assert!(headers.get("content-length").is_some() && headers.get("transfer-encoding").is_none(), "{headers}");
    let auth = eu.last_auth();
    assert_eq!((auth["scheme"].as_str(), auth["verified"].as_bool()), (Some("bearer"), Some(true)), "{auth}");
    // Every attempt streams upstream (issue 14), whole answers assembled.
    assert_eq!(eu.last_op().as_deref(), Some("vertex.streamRawPredict"));
    let sent = eu.last_body();
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16", "{sent}");
    assert!(sent.get("model").is_none(), "Vertex takes the model from the URL: {sent}");

    // Streaming, across the same three attempts.
    let s = chat(&stream_body("claude-global")).send_stream().expect("stream");
    assert_eq!(s.status, 200, "{}", s.text());
    assert_eq!(s.header("x-llm-region").as_deref(), Some("europe-west1"));
    assert!(s.done(), "ends with [DONE]: {}", s.text());
    assert_eq!(s.sse_content(), "hello from europe-west1");
    assert_eq!(eu.last_op().as_deref(), Some("vertex.streamRawPredict"));

    // The client's credential (the gateway key, here in x-api-key next to a bearer token it
    // made up) never reaches Vertex: the account's token replaces it.
    let r = Req::post(&gw.chat_url())
        .header("x-api-key", MASTER_KEY)
        .header("authorization", "Bearer ya29.someone-elses-token")
        .json(&chat_body("claude-global"))
        .send()
        .expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(eu.last_auth()["verified"], true, "{}", eu.last_auth());
    let sent = eu.last_headers().to_string();
    assert!(!sent.contains(MASTER_KEY) && !sent.contains("someone-elses"), "{sent}");
    let granted = g.endpoint.stats().granted;
    assert_eq!(granted.len(), 1, "one account, one hour-long token, shared by its deployments");
    let token = granted[0].0.clone();
    let seen = eu.recent().iter().filter(|c| c["auth"]["verified"] == true).count();
    assert!(seen >= 3, "{:?}", eu.recent());

    // Gemini: generateContent and the SSE stream, with the same token.
    let r = chat(&chat_body("gemini-eu")).send().expect("answer");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "hello from europe-west1");
    assert_eq!(eu.last_op().as_deref(), Some("vertex.streamGenerateContent"));
    assert_eq!(eu.last_auth()["verified"], true, "{}", eu.last_auth());
    let s = chat(&stream_body("gemini-eu")).send_stream().expect("stream");
    assert!(s.done() && s.sse_content() == "hello from europe-west1", "{}", s.text());
    assert_eq!(eu.last_op().as_deref(), Some("vertex.streamGenerateContent"));

    // The official SDKs, streaming included, against Vertex Claude and Gemini.
    for (script, group) in [
        ("openai_client_check.py", "claude-global"),
        ("anthropic_client_check.py", "claude-global"),
        ("openai_client_check.py", "gemini-eu"),
        ("anthropic_client_check.py", "gemini-eu"),
    ] {
        let out = std::process::Command::new(repo_root().join(".tools/venv/bin/python"))
            .arg(repo_root().join("tests/python").join(script))
            .args([&gw.url(""), group, "europe-west1", MASTER_KEY])
            .output()
            .unwrap_or_else(|e| panic!("run {script} (run ./scripts/setup.sh for .tools/venv): {e}"));
        assert!(
            out.status.success(),
            "{script} on {group} rejected the gateway's answers:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    assert_nowhere(&gw, &[&token, &private_key_body(&g.account.key_json), &creds.secret_access_key, MASTER_KEY]);
    assert!(gw.cp.metric("llm_router_vertex_token_available") >= 1.0, "{}", gw.cp.metrics());
}

/// Requests per second for `secs`, every one answered by Vertex; returns (ok, failures).
fn steady_traffic(gw: &XdsGateway, secs: u64, mut each: impl FnMut(Duration)) -> (u64, Vec<String>) {
    let start = Instant::now();
    let (mut ok, mut failures) = (0, Vec::new());
    while start.elapsed() < Duration::from_secs(secs) {
        let stream = ok % 4 == 3;
        let body = if stream { stream_body("claude-eu") } else { chat_body("claude-eu") };
        match Req::post(&gw.chat_url()).json(&body).timeout(Duration::from_secs(10)).send() {
            Ok(r) if r.status == 200 && r.header("x-llm-region").as_deref() == Some("europe-west1") => ok += 1,
            Ok(r) => failures.push(format!("{:?}: {} {}", start.elapsed(), r.status, r.text())),
            Err(e) => failures.push(format!("{:?}: {e}", start.elapsed())),
        }
        each(start.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    (ok, failures)
}

#[test]
fn short_lived_tokens_are_refreshed_under_a_minute_of_traffic() {
    let eu = vertex_region("europe-west1");
    let dir = TempDir::new("llm-vertex-sa");
    // Tokens live 12 s: the control plane renews each after 6 s.
    let g = google(&dir, Duration::from_secs(12), &[&eu]);
    let yaml = format!("model_list:\n{}", vertex_deployment("claude-eu", &eu, &g.key_file, 1));
    let gw = XdsGateway::start(&yaml);
    gw.wait_routed_to("claude-eu", "europe-west1");

    // 62 s of steady traffic. After 20 s, right after a token is granted, the token endpoint
    // goes down until it has refused the refresh (due 6 s later) and its first retry: about
    // 7 s of a token's 12, so the held token carries the traffic through and nothing notices
    // but the logs and metrics.
    #[derive(PartialEq)]
    enum Outage {
        Before(usize),
        Down,
        Over,
    }
    let mut outage = Outage::Before(0);
    let (ok, failures) = steady_traffic(&gw, 62, |t| {
        let stats = g.endpoint.stats();
        match outage {
            Outage::Before(grants) if t >= Duration::from_secs(20) && grants > 0 && stats.granted.len() > grants => {
                g.endpoint.fail_with(Some(503));
                outage = Outage::Down;
            }
            Outage::Before(_) => outage = Outage::Before(stats.granted.len()),
            Outage::Down if stats.failed >= 2 => {
                g.endpoint.fail_with(None);
                outage = Outage::Over;
            }
            _ => {}
        }
    });
    assert!(outage == Outage::Over, "the outage began and ended within the traffic");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        ok as usize + failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 300, "steady traffic: {ok} requests");

    let stats = g.endpoint.stats();
    assert!(stats.refused.is_empty(), "every assertion verified: {:?}", stats.refused);
    assert!(stats.failed >= 2, "the outage was seen by the control plane");
    // 62 s / 6 s is about 11 grants (plus the retries after the outage); a client hammering
    // the endpoint would ask hundreds of times.
    let grants = stats.granted.len();
    assert!(
        (9..=16).contains(&grants),
        "{grants} tokens granted in ~65 s: {:?}",
        stats.granted.iter().map(|g| g.1).collect::<Vec<_>>()
    );
    // Every token was used: requests carried several distinct tokens, none expired.
    let recent = eu.recent();
    assert!(recent.iter().all(|c| c["auth"]["verified"] == true), "{recent:?}");

    let log = gw.cp.log_text();
    assert!(log.contains("Vertex token refresh failed; the current token stays in use"), "the outage is logged");
    let metrics = gw.cp.metrics();
    assert!(metrics.contains("llm_router_vertex_token_refreshes_total{account=\"llm-gateway@company-eu-project.iam.gserviceaccount.com\",outcome=\"failure\"}"), "{metrics}");
    assert_eq!(gw.cp.metric("llm_router_vertex_token_available"), 1.0);
    let tokens: Vec<&str> = stats.granted.iter().map(|(t, _)| t.as_str()).collect();
    assert_nowhere(&gw, &tokens);
}

#[test]
fn without_a_token_vertex_takes_no_traffic_and_comes_back_with_one() {
    let eu = vertex_region("europe-west1");
    let backup = MockRegion::start_provider("europe-west4", Provider::OpenAi, &[]);
    let dir = TempDir::new("llm-vertex-sa");
    let g = google(&dir, Duration::from_secs(6), &[&eu]);
    let yaml = format!(
        "model_list:\n{}  - model_name: claude-eu\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: europe-west4\n    priority: 2\nrouter_settings:\n  num_retries: 1\n",
        vertex_deployment("claude-eu", &eu, &g.key_file, 1),
        backup.url()
    );
    let gw = XdsGateway::start(&yaml);
    gw.wait_routed_to("claude-eu", "europe-west1");

    // The token endpoint goes down for good: the held token runs out within 6 s, then
    // Vertex leaves the plans (no 401s sent to clients) and /health says why.
    g.endpoint.fail_with(Some(500));
    let health = || Req::get(&gw.url("/health")).send().expect("health").json();
    let vertex_entry =
        |h: &Value| h["deployments"].as_array().and_then(|d| d.iter().find(|d| d["region"] == "europe-west1").cloned());
    poll_until(Duration::from_secs(20), "Vertex marked unavailable", || {
        vertex_entry(&health()).filter(|d| d["healthy"] == false && d["unavailable"].is_string())
    });
    let entry = vertex_entry(&health()).expect("vertex in /health");
    // /health carries a code; the endpoint's answer goes to serve's log only.
    assert_eq!(entry["unavailable"], "vertex_token_refresh_failed", "{entry}");
    assert!(gw.cp.log_text().contains("token endpoint answered 500"), "the log says why");
    let eu_before = eu.requests();
    for _ in 0..20 {
        let r = Req::post(&gw.chat_url()).json(&chat_body("claude-eu")).send().expect("answer");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-llm-region").as_deref(), Some("europe-west4"));
    }
    assert_eq!(eu.requests(), eu_before, "no attempt goes to Vertex without a token");
    assert_eq!(gw.cp.metric("llm_router_vertex_token_available"), 0.0);
    poll_until(Duration::from_secs(5), "the healthy gauge says 0", || {
        gw.envoy
            .stats_prometheus()
            .lines()
            .any(|l| l.starts_with("llm_router_deployment_healthy{") && l.contains("europe-west1") && l.ends_with(" 0"))
            .then_some(())
    });
    assert!(gw.cp.log_text().contains("no valid token is held"), "the log says why");

    // The endpoint recovers: within the retry back-off Vertex is back.
    g.endpoint.fail_with(None);
    poll_until(Duration::from_secs(90), "Vertex back after the token endpoint recovered", || {
        (gw.served_by("claude-eu").as_deref() == Some("europe-west1")).then_some(())
    });
}

#[test]
fn validate_reports_vertex_deployments_without_usable_credentials() {
    let dir = TempDir::new("llm-vertex-validate");
    let bad_key = dir.path().join("not-a-key.json");
    std::fs::write(&bad_key, r#"{"type": "authorized_user", "refresh_token": "secret-refresh-token"}"#).expect("write");
    let config = dir.path().join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: claude-eu\n    litellm_params:\n      model: vertex_ai/claude-3-5-sonnet@20241022\n      vertex_project: p\n      vertex_location: europe-west1\n      vertex_credentials: {}\n  - model_name: gemini\n    litellm_params:\n      model: vertex_ai/gemini-2.0-flash\n      vertex_project: p\n      vertex_location: europe-west1\n      vertex_credentials: {}/missing.json\n",
            bad_key.display(),
            dir.path().display()
        ),
    )
    .expect("write");
    let out = std::process::Command::new(llm_router_e2e::llm_router_bin())
        .args(["validate", "--config"])
        .arg(&config)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .expect("run validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let file = config.display().to_string();
    assert!(stderr.contains(&format!("{file}:7:")) && stderr.contains("'authorized_user' credentials"), "{stderr}");
    assert!(stderr.contains(&format!("{file}:13:")) && stderr.contains("cannot read the key file"), "{stderr}");
    assert!(stderr.contains("takes no traffic"), "{stderr}");
    assert!(!stderr.contains("secret-refresh-token"), "{stderr}");
}

/// Every string of a config dump, and the text inside each base64 value (the filter's
/// configuration travels as protobuf in a BytesValue there): wherever a secret could hide.
fn dump_text(dump: &str) -> String {
    use base64::Engine as _;
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    out.push('\n');
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = dump.to_string();
    walk(&serde_json::from_str(dump).unwrap_or(Value::Null), &mut out);
    out
}

#[test]
fn a_malformed_key_is_never_echoed_anywhere_and_a_base64_key_works() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let eu = vertex_region("europe-west1");
    let dir = TempDir::new("llm-vertex-leak");
    let g = google(&dir, Duration::from_secs(3600), &[&eu]);
    // Recognisable secrets, each mangled the way operators mangle keys.
    let quoted = r#"'{"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----LEAKMARKERQUOTED"}'"#;
    let no_email = b64(r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----LEAKMARKERB64"}"#);
    let not_json = b64("LEAKMARKERNOTJSON -----BEGIN PRIVATE KEY----- LEAKMARKERNOTJSON LEAKMARKERNOTJSON");
    let inline = r#"'{"private_key": "LEAKMARKERINLINE"}'"#;
    std::env::set_var("VERTEX_LEAK_QUOTED", quoted);
    std::env::set_var("VERTEX_LEAK_NO_EMAIL", &no_email);
    std::env::set_var("VERTEX_LEAK_NOT_JSON", &not_json);
    // The working key, base64-encoded as operators store it in secret managers.
    std::env::set_var("VERTEX_GOOD_B64", b64(&g.account.key_json));
    let deployment = |group: &str, creds: &str| {
        format!(
            "  - model_name: {group}\n    litellm_params:\n      model: vertex_ai/gemini-2.0-flash\n      vertex_project: {VERTEX_PROJECT}\n      vertex_location: europe-west1\n      api_base: {}\n      vertex_credentials: {creds}\n",
            eu.url()
        )
    };
    let yaml = format!(
        "model_list:\n{}{}{}{}{}",
        deployment("quoted", "os.environ/VERTEX_LEAK_QUOTED"),
        deployment("no-email", "os.environ/VERTEX_LEAK_NO_EMAIL"),
        deployment("not-json", "os.environ/VERTEX_LEAK_NOT_JSON"),
        deployment("inline", &format!("'{}'", inline.replace('\'', "''"))),
        deployment("good", "os.environ/VERTEX_GOOD_B64"),
    );
    let secrets =
        ["LEAKMARKER", quoted, no_email.as_str(), &no_email[..24], not_json.as_str(), &not_json[..24], inline];
    let assert_clean = |place: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "{place} shows a secret ({}...):\n{text}", &s[..s.len().min(10)]);
        }
    };

    // validate and render: each problem names its source and position, never the value.
    let config = dir.path().join("litellm.yaml");
    std::fs::write(&config, &yaml).expect("write config");
    let file = config.display().to_string();
    for cmd in ["validate", "render"] {
        let mut c = std::process::Command::new(llm_router_e2e::llm_router_bin());
        c.arg(cmd).arg("--config").arg(&config);
        if cmd == "render" {
            c.arg("--filter-wasm").arg(llm_router_e2e::filter_wasm());
        }
        let out = c.output().expect("run llm-router");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_clean(cmd, &dump_text(&text));
        for (line, says) in [
            (8, "vertex_credentials (os.environ/VERTEX_LEAK_QUOTED) is not a service-account key"),
            (15, "vertex_credentials (os.environ/VERTEX_LEAK_NO_EMAIL) (base64-encoded JSON) is not a usable"),
            (22, "(os.environ/VERTEX_LEAK_NOT_JSON) is not a service-account key"),
            (29, "vertex_credentials (the value written in the YAML) is not a service-account key"),
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{file}:{line}:")) && l.contains(says)),
                "{cmd}: line {line}: {says}\n{text}"
            );
        }
    }

    // serve and a real Envoy: the good key works; the others are a code on /health.
    let gw = XdsGateway::start(&yaml);
    gw.wait_routed_to("good", "europe-west1");
    assert_eq!(eu.last_auth()["verified"], true, "{}", eu.last_auth());
    let health = Req::get(&gw.url("/health")).send().expect("health").json();
    for group in ["quoted", "no-email", "not-json", "inline"] {
        let entry = health["deployments"].as_array().and_then(|d| d.iter().find(|d| d["model_name"] == group).cloned());
        let entry = entry.unwrap_or_else(|| panic!("{group} in /health: {health}"));
        assert_eq!(
            (entry["unavailable"].as_str(), entry["healthy"].as_bool()),
            (Some("vertex_credentials_invalid"), Some(false)),
            "{entry}"
        );
    }
    let places = [
        ("/health", health.to_string()),
        ("/config_dump", dump_text(&gw.envoy.admin_get("/config_dump?include_eds"))),
        ("serve log", gw.cp.log_text()),
        ("serve /metrics", gw.cp.metrics()),
        ("serve /status", gw.cp.status().to_string()),
    ];
    for (place, text) in &places {
        assert_clean(place, text);
    }
    assert!(gw.cp.log_text().contains("VERTEX_LEAK_QUOTED"), "the log names the source of the bad key");
}
