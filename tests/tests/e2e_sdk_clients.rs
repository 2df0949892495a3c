//! The official OpenAI Python SDK as a real client of the gateway (installed into
//! .tools/venv by scripts/setup.sh).

mod common;

use std::process::Command;

use common::Gateway;
use llm_router_e2e::{repo_root, MockRegion};

fn python() -> std::path::PathBuf {
    let p = repo_root().join(".tools/venv/bin/python");
    assert!(
        p.is_file(),
        "{} not found: run `./scripts/test.sh` or `./scripts/setup.sh` (they install the pinned openai and anthropic SDKs into .tools/venv)",
        p.display()
    );
    p
}

#[test]
fn the_openai_python_sdk_accepts_responses_streams_and_errors() {
    let region = MockRegion::start_with("eu-west-1", Some("gpt-4o"));
    let gw = Gateway::start(&format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {}/v1\n      region_name: eu-west-1\n",
        region.url()
    ));
    let out = Command::new(python())
        .arg(repo_root().join("tests/python/openai_client_check.py"))
        .args([&gw.url(""), "claude", "eu-west-1"])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "the OpenAI SDK rejected the gateway's answers:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
