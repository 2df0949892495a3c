//! What an operator breaks: a broken edit, a control plane that dies under load, a config
//! Envoy rejects, and several Envoys following one control plane.

mod xds_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llm_router_e2e::{poll_until, Load, MockRegion, TempDir};
use xds_common::{
    chat_body, deployment, envoy_ecds_filter, envoy_ecds_version, start_envoy, ControlPlane, XdsGateway, ECDS_TYPE,
};

fn two_regions(primary_us: bool, us: &MockRegion, east: &MockRegion) -> String {
    let (a, b) = if primary_us { (1, 2) } else { (2, 1) };
    format!(
        "model_list:\n{}{}router_settings:\n  routing_strategy: priority-routing\n  num_retries: 2\n",
        deployment("claude", us, a, ""),
        deployment("claude", east, b, "")
    )
}

/// Runs `load` on a thread while `f` runs; returns the load's report.
fn under_load<T>(load: &Load, f: impl FnOnce() -> T) -> (T, llm_router_e2e::LoadReport) {
    std::thread::scope(|s| {
        let h = s.spawn(|| load.run());
        let t = f();
        (t, h.join().expect("load thread"))
    })
}

#[test]
fn a_broken_edit_keeps_the_last_good_config_serving_and_is_reported_then_the_fix_is_taken() {
    let us = MockRegion::start("us-west-2");
    let east = MockRegion::start("us-east-1");
    let gw = XdsGateway::start(&two_regions(true, &us, &east));
    gw.wait_routed_to("claude", "us-west-2");
    let good_version = gw.cp.status()["config"]["version"].clone();

    // A typo and a value of the wrong type: both refused with their positions.
    let broken = two_regions(false, &us, &east).replace("num_retries: 2", "num_retries: two\n  routing_stratgy: x");
    gw.edit(&broken);
    poll_until(Duration::from_secs(10), "the reload error is counted", || {
        (gw.cp.metric("llm_router_config_reload_errors_total") >= 1.0).then_some(())
    });
    assert_eq!(gw.cp.metric("llm_router_config_last_reload_success"), 0.0);
    let status = gw.cp.status();
    assert_eq!(status["config"]["version"], good_version, "the last good config is still served");
    let errors: Vec<String> = status["config"]["last_errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let file = gw.config_path().display().to_string();
    assert!(!errors.is_empty() && errors.iter().all(|e| e.starts_with(&format!("{file}:"))), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("num_retries")), "{errors:?}");
    let line_col = regex_like_position(&errors[0], &file);
    assert!(line_col, "FILE:LINE:COL: {}", errors[0]);
    assert!(gw.cp.log_text().contains(&errors[0]), "the log carries the diagnostic");
    // Traffic still goes where the good config says.
    for _ in 0..20 {
        assert_eq!(gw.served_by("claude").as_deref(), Some("us-west-2"));
    }

    // The fix is picked up.
    gw.edit(&two_regions(false, &us, &east));
    gw.wait_routed_to("claude", "us-east-1");
    assert_eq!(gw.cp.metric("llm_router_config_last_reload_success"), 1.0);
    assert!(gw.cp.status()["config"]["last_errors"].as_array().is_some_and(|a| a.is_empty()));
}

/// `FILE:LINE:COL: ` with numbers.
fn regex_like_position(line: &str, file: &str) -> bool {
    let Some(rest) = line.strip_prefix(&format!("{file}:")) else { return false };
    let mut parts = rest.splitn(3, ':');
    let (Some(l), Some(c), Some(m)) = (parts.next(), parts.next(), parts.next()) else { return false };
    l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok() && m.starts_with(' ')
}

#[test]
fn killing_and_restarting_the_control_plane_under_load_fails_no_request() {
    let us = MockRegion::start("us-west-2");
    let east = MockRegion::start("us-east-1");
    let mut gw = XdsGateway::start(&two_regions(true, &us, &east));
    gw.wait_routed_to("claude", "us-west-2");
    let mut load = Load::new(&gw.chat_url(), &chat_body("claude"));
    load.max_requests = 1_000_000;
    load.max_duration = Duration::from_secs(8);
    load.concurrency = 4;
    let ((), report) = under_load(&load, || {
        std::thread::sleep(Duration::from_millis(500));
        gw.cp.kill();
        poll_until(Duration::from_secs(10), "Envoy notices the control plane is gone", || {
            (gw.envoy.stat("control_plane.connected_state") == Some(0)).then_some(())
        });
        // While it is away, the operator edits the config: the primary moves to us-east-1.
        gw.edit(&two_regions(false, &us, &east));
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(gw.served_by("claude").as_deref(), Some("us-west-2"), "Envoy keeps its last config");
        gw.cp.restart();
        gw.cp.wait_converged(1, "the Envoy reconnects and ACKs the current config");
        gw.wait_routed_to("claude", "us-east-1");
    });
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    assert!(report.ok > 100, "{report:?}");
    assert_eq!(gw.envoy.stat("control_plane.connected_state"), Some(1));
    assert_eq!(
        gw.envoy.stat("listener_manager.listener_modified"),
        Some(0),
        "the listener was kept across the restart"
    );
    assert_eq!(envoy_ecds_version(&gw.envoy), gw.cp.served(ECDS_TYPE));
    assert!(
        report.by_region.contains_key("us-west-2") && report.by_region.contains_key("us-east-1"),
        "{:?}",
        report.by_region
    );
}

#[test]
fn a_config_envoy_rejects_is_nacked_counted_and_the_last_good_one_keeps_serving() {
    let us = MockRegion::start("us-west-2");
    let east = MockRegion::start("us-east-1");
    // The filter is read from a copy the test can break, as a bad deploy of the .wasm would.
    let dir = TempDir::new("llm-xds-nack");
    let wasm = dir.path().join("llm_router_filter.wasm");
    std::fs::copy(llm_router_e2e::filter_wasm(), &wasm).expect("copy the filter");
    let config = dir.path().join("litellm.yaml");
    std::fs::write(&config, two_regions(true, &us, &east)).expect("write");
    let port = llm_router_e2e::free_port();
    let cp = ControlPlane::start(&config, &wasm, port, &[]);
    let envoy = start_envoy(&cp, "envoy-nack", &[]);
    let gw_url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let served_by = || {
        let r = llm_router_e2e::Req::post(&gw_url)
            .json(&chat_body("claude"))
            .timeout(Duration::from_secs(10))
            .send()
            .ok()?;
        r.header("x-llm-region")
    };
    poll_until(Duration::from_secs(10), "routed to us-west-2", || {
        (served_by().as_deref() == Some("us-west-2")).then_some(())
    });
    let good = envoy_ecds_version(&envoy);

    std::fs::write(&wasm, b"this is not wasm").expect("break the filter");
    std::fs::write(&config, two_regions(false, &us, &east)).expect("edit");
    poll_until(Duration::from_secs(15), "Envoy NACKs the new filter config", || {
        (cp.metric("llm_router_xds_nacks_total") >= 1.0).then_some(())
    });
    let status = cp.status();
    let nacked = &status["proxies"][0]["nacked"][ECDS_TYPE];
    let detail = nacked[1].as_str().unwrap_or_default();
    assert!(!detail.is_empty(), "Envoy's error detail is kept: {status:#}");
    assert!(cp.log_text().contains("NACK"), "the NACK is logged");
    // Envoy 1.40's /config_dump shows the rejected version's number for the ECDS filter
    // (without an error state), so the proof that it kept the last good config is traffic:
    let _ = good;
    for _ in 0..20 {
        assert_eq!(served_by().as_deref(), Some("us-west-2"), "still routed by the last good config");
    }

    // A good filter and the next edit are accepted again.
    std::fs::copy(llm_router_e2e::filter_wasm(), &wasm).expect("restore the filter");
    std::fs::write(&config, two_regions(false, &us, &east).replace("num_retries: 2", "num_retries: 3")).expect("edit");
    cp.wait_converged(1, "the next good config is ACKed");
    poll_until(Duration::from_secs(10), "routed to us-east-1", || {
        (served_by().as_deref() == Some("us-east-1")).then_some(())
    });
    assert!(cp.status()["proxies"][0]["nacked"].as_object().is_some_and(|m| m.is_empty()));
}

#[test]
fn several_envoys_sotw_and_delta_follow_one_control_plane_and_leave_cleanly() {
    let us = MockRegion::start("us-west-2");
    let east = MockRegion::start("us-east-1");
    let gw = XdsGateway::start(&two_regions(true, &us, &east));
    // Two more Envoys on the same gateway port (SO_REUSEPORT), one of them on delta xDS.
    let e2 = start_envoy(&gw.cp, "envoy-2", &["--delta"]);
    let mut e3 = start_envoy(&gw.cp, "envoy-3", &[]);
    gw.cp.wait_converged(3, "three Envoys ACKed the config");
    assert_eq!(gw.cp.metric("llm_router_xds_connected_proxies"), 3.0);
    assert_eq!(gw.cp.metric("llm_router_xds_connected_proxies{protocol=\"delta\""), 1.0);

    let stop = AtomicBool::new(false);
    let mut load = Load::new(&gw.chat_url(), &chat_body("claude"));
    load.max_requests = 1_000_000;
    load.max_duration = Duration::from_secs(6);
    load.concurrency = 4;
    let ((), report) = under_load(&load, || {
        gw.edit(&two_regions(false, &us, &east));
        gw.cp.wait_converged(3, "all three Envoys ACKed the edit");
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(report.failed, 0, "{:?}", report.errors);
    // SotW Envoys report the type's version; the delta one reports the resource's own.
    assert_eq!(envoy_ecds_version(&gw.envoy), gw.cp.served(ECDS_TYPE));
    assert_eq!(envoy_ecds_version(&e3), gw.cp.served(ECDS_TYPE));
    let filter = envoy_ecds_filter(&gw.envoy);
    assert!(filter.is_object());
    for e in [&e2, &e3] {
        assert_eq!(envoy_ecds_filter(e), filter, "every Envoy runs the same filter config");
    }
    gw.wait_routed_to("claude", "us-east-1");
    let nodes: Vec<String> = gw.cp.status()["proxies"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["node_id"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    for n in ["envoy-1", "envoy-2", "envoy-3"] {
        assert!(nodes.iter().any(|x| x == n), "{n} in /status: {nodes:?}");
    }
    e3.kill();
    poll_until(Duration::from_secs(10), "the control plane sees envoy-3 leave", || {
        (gw.cp.metric("llm_router_xds_connected_proxies") == 2.0).then_some(())
    });
    drop(e2);
    poll_until(Duration::from_secs(10), "the delta Envoy leaves", || {
        (gw.cp.metric("llm_router_xds_connected_proxies{protocol=\"delta\"") == 0.0).then_some(())
    });
}
