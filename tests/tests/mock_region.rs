//! Behaviour of the `mock-region` upstream (no Envoy needed).

use std::time::{Duration, Instant};

use llm_router_e2e::mock::{MockConfig, MockServer};
use llm_router_e2e::{get, load_loop, poll_until, post_json, post_json_stream, post_raw, Load, MockRegion, Req};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_mock-region");

fn mock(region: &str) -> MockRegion {
    MockRegion::start_bin(BIN, region, &[])
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn err_message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn chat_completion_ok_on_both_paths() {
    let m = mock("us-east");
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let r = post_json(&format!("{}{path}", m.url()), &chat("gpt-4o"), &[("x-test", "1")]);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-mock-region").as_deref(), Some("us-east"));
        assert!(r.header("content-type").unwrap().starts_with("application/json"));
        let b = r.json();
        assert_eq!(b["object"], "chat.completion");
        assert_eq!(b["model"], "gpt-4o");
        assert!(b["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert!(b["created"].as_u64().unwrap() > 0);
        assert_eq!(b["choices"][0]["message"]["role"], "assistant");
        assert_eq!(b["choices"][0]["message"]["content"], "hello from us-east");
        assert_eq!(b["choices"][0]["finish_reason"], "stop");
        let u = &b["usage"];
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
        );
    }
    let s = m.stats();
    assert_eq!(s["region"], "us-east");
    assert_eq!(s["requests"], 2);
    assert_eq!(s["served_ok"], 2);
    assert_eq!(s["by_path"]["/v1/chat/completions"], 1);
    assert_eq!(s["by_path"]["/chat/completions"], 1);
    assert_eq!(s["last_path"], "/chat/completions");
    assert_eq!(s["last_headers"]["x-test"], "1");
    assert_eq!(s["last_body"], chat("gpt-4o"));
}

#[test]
fn strict_validation_like_openai() {
    let m = mock("eu-west");
    let url = format!("{}/v1/chat/completions", m.url());

    let r = post_json(&url, &json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "foo": 1}), &[]);
    assert_eq!(r.status, 400);
    let b = r.json();
    assert_eq!(err_message(&b), "Unrecognized request argument supplied: foo");
    assert_eq!(b["error"]["type"], "invalid_request_error");
    assert!(b["error"].as_object().unwrap().contains_key("param"));
    assert!(b["error"].as_object().unwrap().contains_key("code"));

    let r = post_raw(&url, b"{\"model\": \"m\", \"messages\": [", &[("content-type", b"application/json")]);
    assert_eq!(r.status, 400);
    assert!(err_message(&r.json()).contains("could not parse the JSON body"));

    let cases = [
        (json!({"messages": [{"role": "user", "content": "x"}]}), "model"),
        (json!({"model": 5, "messages": [{"role": "user", "content": "x"}]}), "Invalid type for 'model'"),
        (json!({"model": "m"}), "Missing required parameter: 'messages'"),
        (json!({"model": "m", "messages": []}), "empty array"),
        (json!({"model": "m", "messages": "hi"}), "Invalid type for 'messages'"),
        (json!({"model": "m", "messages": [{"content": "x"}]}), "'messages[0].role'"),
        (json!({"model": "m", "messages": [{"role": "user"}]}), "'messages[0].content'"),
        (json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}), "Invalid value: 'wizard'"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}),
            "only allowed when 'stream' is enabled",
        ),
        (json!([1, 2]), "Invalid type for 'body'"),
    ];
    for (body, needle) in cases {
        let r = post_json(&url, &body, &[]);
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(err_message(&r.json()).contains(needle), "{body}: {}", r.text());
    }

    // Every documented OpenAI parameter is accepted.
    let full = json!({
        "model": "m", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "x"}]},
            {"role": "assistant", "content": null, "tool_calls": []}, {"role": "tool", "content": "t", "tool_call_id": "1"}],
        "temperature": 0.5, "top_p": 1, "n": 1, "stop": ["x"], "max_tokens": 5, "max_completion_tokens": 5,
        "presence_penalty": 0, "frequency_penalty": 0, "logit_bias": {}, "logprobs": false, "top_logprobs": null,
        "user": "u", "tools": [], "tool_choice": "auto", "parallel_tool_calls": true, "response_format": {"type": "text"},
        "seed": 1, "service_tier": "auto", "store": false, "metadata": {}, "modalities": ["text"], "audio": null,
        "prediction": null, "reasoning_effort": "low", "functions": [], "function_call": "auto", "web_search_options": {}
    });
    let r = post_json(&url, &full, &[]);
    assert_eq!(r.status, 200, "{}", r.text());

    let s = m.stats();
    assert_eq!(s["requests"], 13);
    assert_eq!(s["served_ok"], 1);
}

#[test]
fn expect_model_rejects_other_models() {
    let m = MockRegion::start_with("ap-south", Some("azure/gpt-4o-eu"));
    let url = format!("{}/v1/chat/completions", m.url());
    let r = post_json(&url, &chat("gpt-4o"), &[]);
    assert_eq!(r.status, 400);
    let b = r.json();
    assert_eq!(b["error"]["code"], "model_not_found");
    assert!(err_message(&b).contains("gpt-4o"));
    let r = post_json(&url, &chat("azure/gpt-4o-eu"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["model"], "azure/gpt-4o-eu");
    assert_eq!(m.stats()["served_ok"], 1);
}

#[test]
fn completions_embeddings_models_and_health() {
    let m = MockRegion::start_args("us-west", &["--name", "west-1"]);
    for prefix in ["/v1", ""] {
        let r = post_json(&format!("{}{prefix}/completions", m.url()), &json!({"model": "m", "prompt": "p"}), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        let b = r.json();
        assert_eq!(b["object"], "text_completion");
        assert_eq!(b["choices"][0]["text"], "hello from us-west");

        let r = post_json(&format!("{}{prefix}/embeddings", m.url()), &json!({"model": "e", "input": ["a", "b"]}), &[]);
        assert_eq!(r.status, 200, "{}", r.text());
        let b = r.json();
        assert_eq!(b["object"], "list");
        assert_eq!(b["data"].as_array().unwrap().len(), 2);
        assert_eq!(b["data"][1]["object"], "embedding");
        assert_eq!(b["model"], "e");
    }
    let r = post_json(&format!("{}/v1/embeddings", m.url()), &json!({"model": "e", "input": "a", "x": 1}), &[]);
    assert_eq!(r.status, 400);
    let r = get(&format!("{}/v1/models", m.url()));
    assert_eq!(r.status, 200);
    let r = post_json(&format!("{}/v1/nope", m.url()), &json!({}), &[]);
    assert_eq!(r.status, 404);
    assert!(err_message(&r.json()).contains("Invalid URL"));

    for path in ["/", "/health"] {
        let r = get(&format!("{}{path}", m.url()));
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"status": "ok", "region": "us-west", "name": "west-1"}));
        assert_eq!(r.header("x-mock-name").as_deref(), Some("west-1"));
    }
    let s = m.stats();
    assert_eq!(s["requests"], 7, "health and control are not counted: {s}");
    assert_eq!(s["health_checks"], 2);
    assert_eq!(s["name"], "west-1");
}

#[test]
fn error_and_rate_limit_modes() {
    let m = mock("eu-central");
    let url = format!("{}/v1/chat/completions", m.url());

    let mode = m.set_mode(json!({"mode": "error"}));
    assert_eq!(mode["status"], 503);
    let r = post_json(&url, &chat("m"), &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-mock-region").as_deref(), Some("eu-central"));
    assert!(r.json()["error"]["message"].is_string());
    assert_eq!(get(&format!("{}/health", m.url())).status, 503);

    m.set_mode(json!({"mode": "error", "status": 500}));
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 500);
    assert_eq!(get(&format!("{}/", m.url())).status, 500);

    m.set_mode(json!({"mode": "error", "status": 400}));
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 400);
    assert_eq!(get(&format!("{}/health", m.url())).status, 503);

    m.set_mode(json!({"mode": "rate_limit"}));
    let r = post_json(&url, &chat("m"), &[]);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(get(&format!("{}/health", m.url())).status, 200);

    m.set_mode(json!({"mode": "ok"}));
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 200);

    let s = m.stats();
    assert_eq!(s["requests"], 5);
    assert_eq!(s["served_ok"], 1);

    // Bad control requests are rejected.
    let r = post_json(&format!("{}/_mock/mode", m.url()), &json!({"mode": "explode"}), &[]);
    assert_eq!(r.status, 400);
}

#[test]
fn count_limits_a_fault_to_the_next_requests() {
    let m = mock("us-east-2");
    let url = format!("{}/v1/chat/completions", m.url());
    m.set_mode(json!({"mode": "error", "status": 502, "count": 2}));
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 502);
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 502);
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 200);
    assert_eq!(m.stats()["mode"]["mode"], "ok");
}

#[test]
fn hang_holds_the_request_without_blocking_others() {
    let m = mock("sa-east");
    let url = format!("{}/v1/chat/completions", m.url());
    m.set_mode(json!({"mode": "hang"}));
    let t = Instant::now();
    let err = Req::post(&url).json(&chat("m")).timeout(Duration::from_millis(400)).send().unwrap_err();
    assert!(err.is_timeout(), "expected a timeout, got {err}");
    assert!(t.elapsed() >= Duration::from_millis(350));

    // A hung request in the background does not block health checks' timeout or the control API.
    let bg_url = url.clone();
    let bg = std::thread::spawn(move || Req::post(&bg_url).json(&chat("m")).timeout(Duration::from_secs(2)).send());
    poll_until(Duration::from_secs(2), "background request counted", || (m.requests() == 2).then_some(()));
    let health = Req::get(&format!("{}/health", m.url())).timeout(Duration::from_millis(200)).send();
    assert!(health.unwrap_err().is_timeout());
    m.set_mode(json!({"mode": "ok"}));
    // The mode applies to requests arriving after the change; the held one stays held.
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 200);
    assert!(bg.join().unwrap().unwrap_err().is_timeout());
    assert_eq!(m.stats()["served_ok"], 1);
}

#[test]
fn reset_drops_the_connection_without_a_response() {
    let m = mock("me-central");
    let url = format!("{}/v1/chat/completions", m.url());
    m.set_mode(json!({"mode": "reset"}));
    let t = Instant::now();
    let err = Req::post(&url).json(&chat("m")).timeout(Duration::from_secs(5)).send().unwrap_err();
    assert!(!err.is_timeout(), "reset must not look like a timeout: {err}");
    assert!(t.elapsed() < Duration::from_secs(2));
    let err = Req::get(&format!("{}/health", m.url())).timeout(Duration::from_secs(5)).send().unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert_eq!(m.requests(), 1);
    m.reset();
    assert_eq!(m.requests(), 0);
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 200);
}

#[test]
fn latency_delays_time_to_first_byte() {
    let m = mock("eu-north");
    let url = format!("{}/v1/chat/completions", m.url());
    m.set_mode(json!({"latency_ms": 300}));
    let t = Instant::now();
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300), "{:?}", t.elapsed());
    m.set_mode(json!({"mode": "error", "latency_ms": 200}));
    let t = Instant::now();
    assert_eq!(post_json(&url, &chat("m"), &[]).status, 503);
    assert!(t.elapsed() >= Duration::from_millis(200));
    // Health is not delayed.
    m.set_mode(json!({"latency_ms": 5000}));
    let r = Req::get(&format!("{}/health", m.url())).timeout(Duration::from_secs(1)).send().unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn sse_stream_chunks_are_flushed_as_written() {
    let m = mock("ca-central");
    let url = format!("{}/v1/chat/completions", m.url());
    m.set_mode(json!({"chunk_delay_ms": 100, "chunks": 4}));
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hi"}]});
    let s = post_json_stream(&url, &body, &[]);
    assert_eq!(s.status, 200);
    assert!(s.header("content-type").unwrap().starts_with("text/event-stream"));
    assert_eq!(s.header("x-mock-region").as_deref(), Some("ca-central"));
    assert!(s.error.is_none());
    // role + 4 content + finish + usage = 7 chunks, 6 gaps of 100 ms, plus [DONE] after one more.
    let first = s.first_chunk_at.expect("a first chunk");
    assert!(s.end_at >= Duration::from_millis(650), "end {:?}", s.end_at);
    assert!(s.end_at - first >= Duration::from_millis(600), "first {first:?} end {:?}", s.end_at);
    assert!(s.chunks.len() >= 5, "chunks arrived separately: {:?}", s.chunks);

    let events = s.sse_json();
    assert_eq!(events.len(), 7, "{}", s.text());
    assert!(s.done());
    assert!(events.iter().all(|e| e["object"] == "chat.completion.chunk"));
    assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(events[5]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[6]["choices"].as_array().unwrap().len(), 0);
    assert!(events[6]["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(s.sse_content(), "hello from ca-central");

    // Without include_usage: no usage chunk; default 5 content chunks after reset.
    m.reset();
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let s = post_json_stream(&url, &body, &[]);
    let events = s.sse_json();
    assert_eq!(events.len(), 7, "{}", s.text());
    assert!(events.iter().all(|e| e.get("usage").is_none()));
    assert!(s.done());
    assert_eq!(m.served_ok(), 1);
}

#[test]
fn non_utf8_headers_are_recorded_and_reset_clears_stats() {
    let m = mock("af-south");
    let url = format!("{}/v1/chat/completions", m.url());
    let body = serde_json::to_vec(&chat("m")).unwrap();
    let r = post_raw(&url, &body, &[("x-weird", b"\xff\xfe"), ("authorization", b"Bearer sk-1")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let h = m.last_headers();
    assert_eq!(h["x-weird"], "\u{fffd}\u{fffd}");
    assert_eq!(h["authorization"], "Bearer sk-1");
    let r = post_raw(&url, b"not json", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(m.last_body(), Value::Null);
    m.set_mode(json!({"mode": "error"}));
    m.reset();
    let s = m.stats();
    assert_eq!(s["requests"], 0);
    assert_eq!(s["served_ok"], 0);
    assert_eq!(s["mode"]["mode"], "ok");
    assert_eq!(s["by_path"], json!({}));
}

#[test]
fn kill_refuses_connections_and_restart_reuses_the_port() {
    let mut m = MockRegion::start("ap-northeast");
    let port = m.port();
    post_json(&format!("{}/v1/chat/completions", m.url()), &chat("m"), &[]);
    m.kill();
    let err = Req::get(&format!("{}/health", m.url())).timeout(Duration::from_secs(2)).send().unwrap_err();
    assert!(err.is_connect(), "{err}");
    m.restart();
    assert_eq!(m.port(), port);
    assert_eq!(get(&format!("{}/health", m.url())).status, 200);
    assert_eq!(m.requests(), 0);
}

#[test]
fn load_loop_is_bounded_and_counts_regions() {
    let m = mock("eu-south");
    let url = format!("{}/v1/chat/completions", m.url());
    let mut load = Load::new(&url, &chat("m"));
    load.max_requests = 40;
    load.concurrency = 4;
    load.region_header = "x-mock-region".into();
    let r = load.run();
    assert_eq!(r.sent, 40);
    assert_eq!(r.ok, 40);
    assert_eq!(r.by_region.get("eu-south"), Some(&40));
    assert_eq!(m.requests(), 40);

    m.set_mode(json!({"mode": "rate_limit"}));
    let r = load_loop(&url, &chat("m"), 10, Duration::from_secs(5), 2);
    assert_eq!(r.failed, 10);
    assert_eq!(r.statuses.get(&429), Some(&10));
    assert!(r.by_region.is_empty(), "no x-llm-region without the gateway");
    assert!(!r.errors.is_empty() && r.errors.len() <= 10);

    // Time-bounded: hanging upstream, short timeout.
    m.set_mode(json!({"mode": "hang"}));
    let mut load = Load::new(&url, &chat("m"));
    load.max_requests = 1_000_000;
    load.max_duration = Duration::from_millis(300);
    load.timeout = Duration::from_millis(200);
    load.concurrency = 2;
    let t = Instant::now();
    let r = load.run();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(r.transport_errors, r.sent);
}

#[test]
fn in_process_server() {
    let mut cfg = MockConfig::new("local");
    cfg.expect_model = Some("x".into());
    let mut s = MockServer::start(cfg, 0).unwrap();
    let r = post_json(&format!("{}/chat/completions", s.url()), &chat("x"), &[]);
    assert_eq!(r.status, 200);
    assert_eq!(s.state().stats_json()["served_ok"], 1);
    let url = s.url();
    s.stop();
    assert!(Req::get(&url).timeout(Duration::from_secs(2)).send().unwrap_err().is_connect());
}

#[test]
fn streaming_faults_on_requests_that_do_not_stream() {
    let m = mock("sa-east");
    let url = format!("{}/v1/chat/completions", m.url());

    // error_before_content: the provider's HTTP error for `status`.
    m.set_mode(json!({"mode": "error_before_content", "status": 503, "count": 1}));
    let r = post_json(&url, &chat("m"), &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "server_error");

    // stall_after_headers: the JSON headers at once, the body after stall_ms.
    m.set_mode(json!({"mode": "stall_after_headers", "stall_ms": 1000, "count": 1}));
    let s = Req::post(&url).json(&chat("m")).send_stream().unwrap();
    assert_eq!(s.status, 200);
    assert!(s.headers_at < Duration::from_millis(700), "{:?}", s.headers_at);
    assert!(s.first_chunk_at.unwrap() >= Duration::from_millis(1000), "{:?}", s.first_chunk_at);
    let b: Value = serde_json::from_slice(&s.body).unwrap();
    assert_eq!(b["choices"][0]["message"]["content"], "hello from sa-east");

    // slow_stream: the body at total_ms.
    m.set_mode(json!({"mode": "slow_stream", "first_token_ms": 50, "total_ms": 300, "count": 1}));
    let s = Req::post(&url).json(&chat("m")).send_stream().unwrap();
    assert!(s.first_chunk_at.unwrap() >= Duration::from_millis(300), "{:?}", s.first_chunk_at);
    assert_eq!(serde_json::from_slice::<Value>(&s.body).unwrap()["object"], "chat.completion");

    // Health stays up under the streaming faults.
    m.set_mode(json!({"mode": "stall_after_content"}));
    assert_eq!(get(&format!("{}/health", m.url())).status, 200);

    // The log shows each attempt with its fault and arrival time; served_ok counts good answers.
    let s = m.stats();
    let recent = s["recent"].as_array().unwrap();
    let faults: Vec<&str> = recent.iter().map(|e| e["fault"].as_str().unwrap()).collect();
    assert_eq!(faults, ["error_before_content", "stall_after_headers", "slow_stream"]);
    let statuses: Vec<u64> = recent.iter().map(|e| e["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [503, 200, 200]);
    let at: Vec<u64> = recent.iter().map(|e| e["at_ms"].as_u64().unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]) && at[0] > 1_600_000_000_000, "{at:?}");
    assert_eq!(s["served_ok"], 1, "only slow_stream served a good answer: {s}");

    // The current mode reads back with its stream fields, and can be posted again as is.
    let mode = m.set_mode(json!({"mode": "stall_after_content", "stall_ms": 250}));
    assert_eq!(mode["stall_ms"], 250);
    assert_eq!((mode["first_token_ms"].as_u64(), mode["total_ms"].as_u64()), (Some(100), Some(4000)));
    assert_eq!(m.set_mode(mode.clone()), mode);
    let r = post_json(&format!("{}/_mock/mode", m.url()), &json!({"mode": "slow_stream", "total_ms": 10}), &[]);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("first_token_ms"), "{}", r.text());
}
