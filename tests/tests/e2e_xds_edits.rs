//! Operators edit the YAML of a running gateway under load: every edit reaches Envoy by ECDS,
//! RDS and CDS, the listener is never replaced, and no request or SSE stream is cut.

mod xds_common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use llm_router_e2e::{poll_until, MockRegion, Req};
use serde_json::json;
use xds_common::{chat_body, deployment, envoy_ecds_version, stream_body, XdsGateway, ECDS_TYPE};

/// Edit `i` of the sequence: the primary region flips every edit (ECDS), retries and the
/// timeout change now and then (RDS), a third deployment comes and goes (CDS, make before
/// break), and some edits change nothing Envoy sees.
fn config(i: usize, us: &MockRegion, east: &MockRegion, eu: &MockRegion, slow: &MockRegion) -> String {
    let (p_us, p_east) = if i.is_multiple_of(2) { (1, 2) } else { (2, 1) };
    let mut y = String::from("model_list:\n");
    y += &deployment("slow", slow, 1, "");
    y += &deployment("claude", us, p_us, "");
    y += &deployment("claude", east, p_east, "");
    if (i / 10) % 2 == 1 {
        y += &deployment("claude", eu, 3, "");
    }
    y += &format!(
        "router_settings:\n  routing_strategy: priority-routing\n  num_retries: {}\n  timeout: {}\n",
        2 + (i / 5) % 2,
        30 + (i / 7) % 3
    );
    if i.is_multiple_of(9) {
        y += &format!("# a comment-only change {i}\n");
    }
    y
}

#[test]
fn a_hundred_yaml_edits_under_streaming_load_break_no_stream_and_fail_no_request() {
    let us = MockRegion::start("us-west-2");
    let east = MockRegion::start("us-east-1");
    let eu = MockRegion::start("eu-west-1");
    for m in [&us, &east, &eu] {
        // Streams last about 200 ms: many are in flight across every edit.
        m.set_mode(json!({"mode": "ok", "chunk_delay_ms": 40, "chunks": 5}));
    }
    // Long streams (3 s, 30 chunks) that each live through about 30 edits.
    let slow = MockRegion::start("ap-southeast-1");
    slow.set_mode(json!({"mode": "ok", "chunk_delay_ms": 100, "chunks": 30}));
    let gw = XdsGateway::start(&config(0, &us, &east, &eu, &slow));
    gw.wait_routed_to("claude", "us-west-2");

    let stop = AtomicBool::new(false);
    let streams_ok = AtomicU64::new(0);
    let long_streams_ok = AtomicU64::new(0);
    let requests_ok = AtomicU64::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let deadline = Instant::now() + Duration::from_secs(90);
    let edits = 100;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let r = Req::post(&gw.chat_url())
                        .json(&stream_body("claude"))
                        .timeout(Duration::from_secs(20))
                        .send_stream();
                    match r {
                        Ok(r)
                            if r.status == 200
                                && r.error.is_none()
                                && r.done()
                                && r.sse_content().starts_with("hello from ") =>
                        {
                            streams_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.lock().unwrap().push(format!(
                            "stream: status {} error {:?} done {} body {:?}",
                            r.status,
                            r.error.as_ref().map(|e| e.to_string()),
                            r.done(),
                            r.text().chars().take(200).collect::<String>()
                        )),
                        Err(e) => failures.lock().unwrap().push(format!("stream transport: {e}")),
                    }
                }
            });
        }
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let r =
                    Req::post(&gw.chat_url()).json(&stream_body("slow")).timeout(Duration::from_secs(20)).send_stream();
                match r {
                    Ok(r) if r.status == 200 && r.error.is_none() && r.done() && r.sse_json().len() >= 30 => {
                        long_streams_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.lock().unwrap().push(format!(
                        "long stream: status {} error {:?} done {} chunks {}",
                        r.status,
                        r.error.as_ref().map(|e| e.to_string()),
                        r.done(),
                        r.sse_data().len()
                    )),
                    Err(e) => failures.lock().unwrap().push(format!("long stream transport: {e}")),
                }
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match Req::post(&gw.chat_url()).json(&chat_body("claude")).timeout(Duration::from_secs(20)).send() {
                        Ok(r) if r.status == 200 => {
                            requests_ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => failures.lock().unwrap().push(format!("request: status {}: {}", r.status, r.text())),
                        Err(e) => failures.lock().unwrap().push(format!("request transport: {e}")),
                    }
                }
            });
        }
        for i in 1..=edits {
            gw.edit(&config(i, &us, &east, &eu, &slow));
            std::thread::sleep(Duration::from_millis(80));
        }
        // Let the last edit land with traffic still running.
        gw.cp.wait_converged(1, "the Envoy ACKed the last edit");
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = t0.elapsed();
    let failures = failures.into_inner().unwrap();
    let streams = streams_ok.load(Ordering::Relaxed);
    let requests = requests_ok.load(Ordering::Relaxed);
    let long_streams = long_streams_ok.load(Ordering::Relaxed);
    eprintln!(
        "{edits} edits in {elapsed:?}: {streams} streams, {long_streams} 3-second streams and {requests} requests completed, {} failures",
        failures.len()
    );
    assert!(long_streams >= 2, "{long_streams} long streams completed");
    assert!(failures.is_empty(), "{} failures, first ones: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(
        streams >= 50 && requests >= 50,
        "too little traffic to mean anything: {streams} streams, {requests} requests"
    );

    // The last edit (100: us-west-2 first, no third deployment) is what serves now.
    gw.wait_routed_to("claude", "us-west-2");
    assert_eq!(envoy_ecds_version(&gw.envoy), gw.cp.served(ECDS_TYPE), "Envoy runs the served filter config");
    // The listener was never replaced: nothing drained.
    assert_eq!(gw.envoy.stat("listener_manager.listener_modified"), Some(0));
    assert_eq!(gw.envoy.stat("listener_manager.listener_added"), Some(1));
    assert_eq!(gw.envoy.stat("listener_manager.total_listeners_draining"), Some(0));
    assert_eq!(gw.envoy.stat("listener_manager.lds.update_rejected").unwrap_or(0), 0);
    let ecds_updates = gw.envoy.stat("extension_config_discovery.http_filter.llm_router.update_success").unwrap_or(0);
    let cds_updates = gw.envoy.stat("cluster_manager.cds.update_success").unwrap_or(0);
    let rds_updates = gw.envoy.stat("http.llm_gateway.rds.llm_routes.update_success").unwrap_or(0);
    eprintln!(
        "Envoy applied {ecds_updates} filter (ECDS), {rds_updates} route (RDS) and {cds_updates} cluster (CDS) updates"
    );
    assert!(ecds_updates >= 30, "the filter config was updated {ecds_updates} times over {edits} edits");
    assert!(cds_updates >= 5, "clusters were updated {cds_updates} times");
    assert_eq!(gw.cp.metric("llm_router_xds_nacks_total"), 0.0, "{}", gw.cp.metrics());
    assert_eq!(gw.cp.metric("llm_router_config_reload_errors_total"), 0.0);
    // The third deployment came and went; its cluster is gone again.
    assert!(eu.requests() > 0 || ecds_updates > 0);
    assert!(
        !gw.envoy.admin_get("/clusters").contains("llm-claude-eu-west-1@eu-west-1::"),
        "eu-west-1 cluster removed at the end"
    );
}

/// The deployment `claude-moving` (same `model_info.id` throughout) in eu-west-1 or, after
/// the edit, in us-east-1; eu-central-1 keeps serving the eu zone either way.
fn moving_config(in_eu: bool, eu_west: &MockRegion, us_east: &MockRegion, eu_central: &MockRegion) -> String {
    let moving = if in_eu { eu_west } else { us_east };
    let mut y = String::from("model_list:\n");
    y += &deployment("claude", moving, 1, "    model_info: {id: claude-moving}\n");
    y += &deployment("claude", eu_central, 2, "");
    y + "router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n"
}

#[test]
fn moving_a_deployment_out_of_the_eu_never_sends_an_eu_request_to_its_new_region() {
    let eu_west = MockRegion::start("eu-west-1");
    let us_east = MockRegion::start("us-east-1");
    let eu_central = MockRegion::start("eu-central-1");
    let gw = XdsGateway::start(&moving_config(true, &eu_west, &us_east, &eu_central));
    gw.wait_routed_to("claude", "eu-west-1");

    let stop = AtomicBool::new(false);
    let ok = AtomicU64::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let edits = 30;
    std::thread::scope(|s| {
        // EU-pinned load only: the US mock must never see a request.
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let r = Req::post(&gw.chat_url())
                        .header("x-llm-residency", "eu")
                        .json(&chat_body("claude"))
                        .timeout(Duration::from_secs(20))
                        .send();
                    match r {
                        Ok(r) if r.status == 200 => match r.header("x-llm-region").as_deref() {
                            Some("eu-west-1" | "eu-central-1") => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            other => failures.lock().unwrap().push(format!("served by {other:?}")),
                        },
                        Ok(r) => failures.lock().unwrap().push(format!("status {}: {}", r.status, r.text())),
                        Err(e) => failures.lock().unwrap().push(format!("transport: {e}")),
                    }
                }
            });
        }
        // Out of the EU and back, again and again, while the load runs.
        for i in 1..=edits {
            gw.edit(&moving_config(i % 2 == 0, &eu_west, &us_east, &eu_central));
            std::thread::sleep(Duration::from_millis(150));
        }
        gw.cp.wait_converged(1, "the Envoy ACKed the last edit");
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    let failures = failures.into_inner().unwrap();
    let ok = ok.load(Ordering::Relaxed);
    eprintln!("{edits} moves: {ok} EU-pinned requests served in the EU, {} failures", failures.len());
    assert_eq!(us_east.requests(), 0, "an EU-pinned request reached us-east-1 while the deployment moved");
    assert!(failures.is_empty(), "{} failures, first ones: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert!(ok >= 200, "too little traffic to mean anything: {ok} requests");
    assert!(eu_west.requests() > 0 && eu_central.requests() > 0, "both EU regions served while it moved");

    // The moves took effect: the last edit (30) left it in the EU; one more takes it out, and
    // then it serves unpinned requests from the US under its new cluster.
    gw.edit(&moving_config(false, &eu_west, &us_east, &eu_central));
    gw.wait_routed_to("claude", "us-east-1");
    poll_until(Duration::from_secs(20), "the eu-west-1 cluster removed after the switch", || {
        let clusters = gw.envoy.admin_get("/clusters");
        (clusters.contains("llm-claude-moving@us-east-1::") && !clusters.contains("llm-claude-moving@eu-west-1::"))
            .then_some(())
    });
}
