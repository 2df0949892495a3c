//! `llm-router serve` watching its config file (no Envoy needed: what serve serves is read
//! from its `/status`, the versions it hands to every proxy over xDS):
//! - a file written in place (`cat >`, scp) and read half-written is never served when the half
//!   drops the master key or a model group; a deliberate removal is applied once the file has
//!   stayed the same for a second debounce window;
//! - hostile files (alias bombs, a 2 GiB file) are refused within a fixed memory budget and the
//!   last good config keeps serving.

mod xds_common;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use llm_router_e2e::{filter_wasm, free_port, poll_until, TempDir};
use serde_json::Value;
use xds_common::ControlPlane;

const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// One deployment per group, then (when `master_key`) `general_settings` at the end of the
/// file, where a write cut short loses it.
fn config(groups: &[&str], master_key: bool) -> String {
    let mut y = String::from("model_list:\n");
    for (i, g) in groups.iter().enumerate() {
        y += &format!(
            "  - model_name: {g}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:{}/v1\n      region_name: us-west-2\n",
            9000 + i
        );
    }
    if master_key {
        y += "general_settings:\n  master_key: sk-e2e-config-watch-0123456789\n";
    }
    y
}

/// What `serve` serves now: the config version and the cluster (CDS) version.
fn served(cp: &ControlPlane) -> (String, String) {
    let s = cp.status();
    (s["config"]["version"].as_str().unwrap_or_default().to_string(), cp_cluster_version(&s))
}

fn cp_cluster_version(status: &Value) -> String {
    status["served"][CLUSTER_TYPE].as_str().unwrap_or_default().to_string()
}

fn generation(cp: &ControlPlane) -> f64 {
    cp.metric("llm_router_config_generation")
}

/// Rewrites the file in place, as `cat > file` does: truncate, then write.
fn write_in_place(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).expect("open the config for writing");
    f.write_all(text.as_bytes()).expect("write the config");
}

#[test]
fn a_half_written_config_missing_a_group_is_never_served_and_a_deliberate_removal_is() {
    let debounce = Duration::from_millis(2000);
    let dir = TempDir::new("llm-config-watch");
    let path = dir.path().join("litellm.yaml");
    std::fs::write(&path, config(&["alpha", "beta"], true)).expect("write config");
    let debounce_ms = debounce.as_millis().to_string();
    let cp = ControlPlane::start(&path, &filter_wasm(), free_port(), &["--debounce-ms", &debounce_ms]);
    let first = served(&cp);
    assert_eq!(generation(&cp), 1.0);

    // Record every config and cluster version serve hands out while the file is rewritten.
    let seen: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());
    let stop = AtomicBool::new(false);
    let full = config(&["alpha", "beta", "gamma"], true);
    let half = config(&["alpha"], false);
    assert!(full.starts_with(&half), "the first half of the new file is a valid config of its own");
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                seen.lock().unwrap().insert(served(&cp));
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        // `cat > file` with the writer stalled for 1.5 windows between the two halves: serve
        // reads the first half, valid but without beta and the master key.
        let mut f = std::fs::File::create(&path).expect("open the config for writing");
        f.write_all(half.as_bytes()).expect("first half");
        std::thread::sleep(debounce * 3 / 2);
        f.write_all(&full.as_bytes()[half.len()..]).expect("second half");
        drop(f);
        poll_until(Duration::from_secs(20), "the whole new file served", || (generation(&cp) >= 2.0).then_some(()));
        std::thread::sleep(debounce); // a window more: nothing else may be served
        stop.store(true, Ordering::Relaxed);
    });
    let whole = served(&cp);
    assert_ne!(whole, first, "the whole file is served");
    assert_eq!(generation(&cp), 2.0, "only the whole file was applied after the first config");
    let log = cp.log_text();
    assert!(
        log.contains("config edit removes the master key (general_settings.master_key) and model group 'beta'"),
        "the half file was held back:\n{log}"
    );
    let seen = seen.into_inner().unwrap();

    // A deliberate removal (the same smaller config, written in place in one go) is applied,
    // but only after the file stayed the same for a second window.
    let t0 = Instant::now();
    write_in_place(&path, &half);
    let smaller = poll_until(Duration::from_secs(30), "the deliberate removal served", || {
        let now = served(&cp);
        (now != whole).then_some(now)
    });
    let took = t0.elapsed();
    assert!(took >= debounce * 2, "applied {took:?} after the write: before the second stable window");
    assert_eq!(generation(&cp), 3.0);
    assert!(cp.log_text().contains("the file is unchanged, applying it"), "{}", cp.log_text());
    // ...and that smaller config (its config and cluster versions) was never served before.
    assert!(
        !seen.iter().any(|(config, clusters)| *config == smaller.0 || *clusters == smaller.1),
        "the half-written file was served: {smaller:?} among {seen:?}"
    );
    assert!(seen.contains(&first) && seen.contains(&whole), "{seen:?}");
    eprintln!("half-written file held back; a deliberate removal applied after {took:?} (window {debounce:?})");
}

/// Peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM");
    kb * 1024
}

/// The pid of the `serve` process whose command line names `config`.
fn serve_pid(config: &Path) -> u32 {
    let needle = config.display().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.contains(&b"serve".as_slice()) && args.contains(&needle.as_bytes())
        })
        .expect("the serve process")
}

const MIB: u64 = 1 << 20;

/// A file written over the config.
enum Hostile {
    Text(String),
    /// The config grown to this length.
    Sparse(u64),
}

/// What serve may hold at its peak, whatever the file it watches.
const SERVE_MEMORY_BUDGET: u64 = 200 * MIB;

#[test]
fn hostile_files_are_refused_within_a_memory_budget_and_the_last_good_config_keeps_serving() {
    let dir = TempDir::new("llm-config-watch");
    let path = dir.path().join("litellm.yaml");
    std::fs::write(&path, config(&["alpha"], false)).expect("write config");
    let cp = ControlPlane::start(&path, &filter_wasm(), free_port(), &[]);
    let pid = serve_pid(&path);
    let good = served(&cp);
    eprintln!("serve peak RSS after the first load: {} MiB", peak_rss(pid) / MIB);

    // 1 MiB of text, 1,500 aliases of it: 1.5 GB once expanded.
    let mut aliases = format!("big: &s \"{}\"\n", "x".repeat(MIB as usize)) + &config(&["alpha"], false);
    aliases += "  - model_name: copies\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: http://127.0.0.1:9/v1\n    tags:\n";
    for _ in 0..1500 {
        aliases += "      - *s\n";
    }
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs += &format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n");
    }
    laughs += &config(&["alpha"], false);

    let cases = [
        ("1,500 aliases of 1 MiB", Hostile::Text(aliases), "aliases expand the config past"),
        ("billion laughs", Hostile::Text(laughs), "aliases expand the config past 1.0 MiB"),
        (
            "a 2 GiB file",
            Hostile::Sparse(2 << 30),
            "the config file is 2048.0 MiB, more than the 16.0 MiB a config may be",
        ),
    ];
    for (i, (name, write, expected)) in cases.iter().enumerate() {
        let t0 = Instant::now();
        match write {
            Hostile::Text(text) => write_in_place(&path, text),
            // Sparse: 2 GiB long, nothing on disk.
            Hostile::Sparse(len) => {
                let f = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
                f.set_len(*len).expect("grow the file");
            }
        }
        // A write in place can be read half-done first (a syntax error): wait for the refusal
        // of the whole file.
        poll_until(Duration::from_secs(20), &format!("{name} refused"), || {
            let refused = cp.metric("llm_router_config_reload_errors_total") >= (i + 1) as f64;
            (refused && cp.status()["config"]["last_errors"].to_string().contains(expected)).then_some(())
        });
        let errors = cp.status()["config"]["last_errors"].to_string();
        assert!(errors.contains(expected), "{name}: {errors}");
        assert!(errors.contains("litellm.yaml:"), "{name}: FILE:LINE:COL: {errors}");
        assert_eq!(served(&cp), good, "{name}: the last good config keeps serving");
        let rss = peak_rss(pid);
        eprintln!("{name}: refused in {:?}; serve peak RSS {} MiB", t0.elapsed(), rss / MIB);
        assert!(rss < SERVE_MEMORY_BUDGET, "{name}: serve peaked at {} MiB", rss / MIB);
    }

    // Still watching: the next good edit is served.
    std::fs::write(&path, config(&["alpha", "beta"], false)).expect("write config");
    poll_until(Duration::from_secs(20), "the next good edit served", || (served(&cp) != good).then_some(()));
    assert_eq!(cp.metric("llm_router_config_last_reload_success"), 1.0);
}
