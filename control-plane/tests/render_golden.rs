//! Golden files: `render` of every example config is compared byte for byte with
//! `tests/golden/<example>.yaml`, and the filter configuration inside it (base64 protobuf
//! there) with `tests/golden/<example>.filter.txt`, so a change to it reads as a diff. After an intended change, regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p llm-router --test render_golden` and review the diff.

use std::path::{Path, PathBuf};

use llm_router::{config, translate};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options() -> translate::Options {
    translate::Options {
        filter_wasm: "/opt/llm-router/llm_router_filter.wasm".into(),
        region: Some("us-west-2".into()),
        ..Default::default()
    }
}

#[test]
fn every_example_renders_as_its_golden_file() {
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5, "expected the seed's examples, found {examples:?}");
    let mut mismatches = Vec::new();
    for example in &examples {
        let loaded = config::load(example).unwrap_or_else(|d| panic!("{}: {d:?}", example.display()));
        let rendered = translate::render_yaml(&loaded.config, &options());
        let filter = format!("{:#?}\n", translate::router_config(&loaded.config, &options()));
        let name = example.file_stem().expect("file name").to_string_lossy().to_string();
        let dir = repo().join("control-plane/tests/golden");
        for (golden, actual) in
            [(dir.join(format!("{name}.yaml")), &rendered), (dir.join(format!("{name}.filter.txt")), &filter)]
        {
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&golden, actual).expect("write golden");
                continue;
            }
            let expected = std::fs::read_to_string(&golden).unwrap_or_default();
            if &expected != actual {
                mismatches.push(golden.display().to_string());
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "render output differs from {mismatches:?}; if intended, run UPDATE_GOLDEN=1 cargo test -p llm-router --test render_golden"
    );
}

#[test]
fn rendering_is_deterministic() {
    let example = repo().join("examples/active-passive.yaml");
    let loaded = config::load(&example).expect("active-passive loads");
    assert_eq!(translate::render_yaml(&loaded.config, &options()), translate::render_yaml(&loaded.config, &options()));
}
