//! Real LiteLLM configs (`../shared/compat/litellm-configs/`, beside the repository, with
//! `SOURCES.md`): `llm-router validate --json` of each is compared with
//! `tests/compat/<file>.json`, reviewed by hand against LiteLLM's semantics (endpoints, weights,
//! retries, timeouts, fallbacks; the broken files refused at `FILE:LINE:COL`).
//!
//! The binary runs with an empty environment, so no variable of the machine leaks into the
//! result (unset `os.environ/` references show as warnings and `unresolved`). After an intended
//! change, regenerate with `UPDATE_GOLDEN=1 cargo test -p llm-router --test compat_corpus` and
//! review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus() -> PathBuf {
    let dir = repo().join("../shared/compat/litellm-configs");
    assert!(
        dir.is_dir(),
        "the LiteLLM config corpus is missing: expected {} (a copy of shared/ beside the repository)",
        dir.display()
    );
    dir
}

/// `validate --json` of `file` (run in its folder, so messages name the file alone): the JSON
/// and the exit code.
fn validate_json(dir: &Path, file: &str) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-router"))
        .args(["validate", "--config", file, "--json"])
        .current_dir(dir)
        .env_clear()
        .output()
        .expect("run llm-router");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn every_corpus_file_validates_as_its_golden_json() {
    let dir = corpus();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the corpus")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 60, "expected the corpus's files, found {}", files.len());
    let golden_dir = repo().join("control-plane/tests/compat");
    let mut mismatches = Vec::new();
    for file in &files {
        let (json, code) = validate_json(&dir, file);
        let value: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{file}: not one JSON object ({e}): {json}"));
        // The exit code is validate's: 0 valid, 1 not.
        assert_eq!(code, if value["valid"] == true { 0 } else { 1 }, "{file}: exit code {code} for {json}");
        let golden = golden_dir.join(format!("{file}.json"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&golden_dir).expect("create tests/compat");
            std::fs::write(&golden, &json).expect("write golden");
            continue;
        }
        if std::fs::read_to_string(&golden).unwrap_or_default() != json {
            mismatches.push(file.clone());
        }
    }
    assert!(
        mismatches.is_empty(),
        "validate --json differs from tests/compat/ for {mismatches:?}; if intended, run UPDATE_GOLDEN=1 cargo test -p llm-router --test compat_corpus and review the diff"
    );
}

/// The semantics the goldens hold, asserted directly for a few files so that a regenerated
/// golden cannot quietly change them.
#[test]
fn corpus_semantics_as_litellm_reads_them() {
    let dir = corpus();
    let json = |file: &str| -> serde_json::Value {
        let (json, _) = validate_json(&dir, file);
        serde_json::from_str(&json).expect("json")
    };
    let deployment = |v: &serde_json::Value, group: &str, i: usize| -> serde_json::Value {
        let groups = v["model_groups"].as_array().cloned().unwrap_or_default();
        let g = groups.iter().find(|g| g["model_name"] == group).unwrap_or_else(|| panic!("no group {group}: {v}"));
        g["deployments"][i].clone()
    };

    // Provider defaults: groq without api_base goes to LiteLLM's default endpoint.
    let v = json("036-Flowm-llm-stack.yaml");
    assert_eq!(v["valid"], true, "{v}");
    let d = deployment(&v, "groq-llama-3.3-70b", 0);
    assert_eq!((d["provider"].as_str(), d["url"].as_str()), (Some("groq"), Some("https://api.groq.com/openai/v1")));

    // Ollama without api_base: localhost:11434, spoken to through its OpenAI-compatible /v1.
    let v = json("030-BerriAI-docs-ollama-chat.yaml");
    assert_eq!(deployment(&v, "llama3.1", 0)["url"], "http://localhost:11434/v1");

    // Empty model_list (models in LiteLLM's database) and broken YAML are refused with a position.
    let v = json("067-PaplyAI-paply-empty-list.yaml");
    assert_eq!(v["valid"], false);
    assert!(v["problems"][0]["message"].as_str().unwrap_or("").contains("LiteLLM's database"), "{v}");
    let v = json("064-zanbei-multillmgateway.yaml");
    assert_eq!((v["valid"].as_bool(), v["problems"][0]["line"].as_u64()), (Some(false), Some(8)));

    // A prefix the gateway does not speak is refused by name, with what to write instead.
    let v = json("007-BerriAI-otel-test.yaml");
    let messages: Vec<&str> =
        v["problems"].as_array().into_iter().flatten().filter_map(|p| p["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("provider 'cohere'") && m.contains("openai/MODEL")), "{messages:?}");

    // Azure without api_version gets LiteLLM's default; an unset api_base is a warning and
    // the deployment is unresolved (render and serve refuse it until it is set).
    let v = json("048-Decent-Solution-azure-minimal.yaml");
    assert_eq!(v["valid"], true, "{v}");
    let d = &v["model_groups"][0]["deployments"][0];
    assert_eq!(d["url"], serde_json::Value::Null);
    assert!(d["unresolved"][0].as_str().unwrap_or("").contains("AZURE_API_BASE"), "{d}");
}
