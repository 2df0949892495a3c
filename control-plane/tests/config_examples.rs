//! Every shipped example (the seed's config blocks) loads, and means what the seed says.

use std::path::PathBuf;

use llm_router::config::{self, Config, Loaded, Strategy};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

fn load_example(name: &str) -> Loaded {
    match config::load(&example(name)) {
        Ok(l) => l,
        Err(diags) => {
            let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("{name} does not validate:\n{}", text.join("\n"));
        }
    }
}

fn regions(c: &Config) -> Vec<&str> {
    c.deployments.iter().map(|d| d.region.as_str()).collect()
}

#[test]
fn every_example_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = path.file_name().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let loaded = load_example(&name);
        let summary = config::summary(&loaded.config);
        println!("== {name}\n{summary}");
        for w in &loaded.warnings {
            println!("{w}");
        }
        n += 1;
    }
    assert!(n >= 8, "expected the 8 seed examples, found {n}");
}
