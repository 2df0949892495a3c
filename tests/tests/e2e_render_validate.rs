//! Every example config renders to a static Envoy config that Envoy 1.40 accepts.

use std::process::Command;

use llm_router_e2e::{filter_wasm, llm_router_bin, repo_root, Envoy};

#[test]
fn every_rendered_example_passes_envoy_validate() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_root().join("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let out = Command::new(llm_router_bin())
            .args(["render", "--config"])
            .arg(&path)
            .arg("--filter-wasm")
            .arg(filter_wasm())
            .output()
            .expect("run render");
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        let yaml = String::from_utf8(out.stdout).expect("utf-8");
        if let Err(e) = Envoy::validate_config(&yaml) {
            panic!("{} rendered a config Envoy rejects: {e}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 8, "checked {checked} examples");
}

#[test]
fn the_shipped_xds_bootstrap_is_what_bootstrap_prints_and_envoy_accepts_it() {
    let shipped =
        std::fs::read_to_string(repo_root().join("envoy/bootstrap-xds.yaml")).expect("envoy/bootstrap-xds.yaml");
    let out = Command::new(llm_router_bin()).arg("bootstrap").output().expect("run bootstrap");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        shipped,
        "envoy/bootstrap-xds.yaml is stale: llm-router bootstrap > envoy/bootstrap-xds.yaml"
    );
    if let Err(e) = Envoy::validate_config(&shipped) {
        panic!("Envoy rejects envoy/bootstrap-xds.yaml: {e}");
    }
}
