//! docker-compose.yml, read as Docker Compose would (no Docker engine runs here): every
//! service's image or build, files, volumes, ports, namespaces and commands exist and agree
//! with each other, with the Dockerfile, with the real binaries' flags and with the shipped
//! Prometheus and Grafana files. The bootstrap the compose file makes is checked by Envoy 1.40
//! itself (`--mode validate`), and its gateway config by `llm-router validate`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use llm_router_e2e::{llm_router_bin, mock_region_bin, repo_root, Envoy};
use serde_json::Value;

fn compose() -> Value {
    let path = repo_root().join("docker-compose.yml");
    let text = std::fs::read_to_string(&path).expect("docker-compose.yml at the repository root");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("docker-compose.yml is not valid YAML: {e}"))
}

fn services(c: &Value) -> &serde_json::Map<String, Value> {
    c["services"].as_object().expect("services")
}

/// A service's command as a list of words (list form; a string is split on whitespace).
fn command(s: &Value) -> Vec<String> {
    match &s["command"] {
        Value::Array(a) => a.iter().map(|v| v.as_str().expect("command words are strings").to_string()).collect(),
        Value::String(t) => t.split_whitespace().map(String::from).collect(),
        _ => Vec::new(),
    }
}

/// The value after `flag` in `words` (`--flag value` or `--flag=value`).
fn flag(words: &[String], flag: &str) -> Option<String> {
    words.iter().enumerate().find_map(|(i, w)| {
        if w == flag {
            words.get(i + 1).cloned()
        } else {
            w.strip_prefix(&format!("{flag}=")).map(String::from)
        }
    })
}

fn help(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).arg("--help").output().expect("run --help");
    assert!(out.status.success(), "{} {args:?} --help failed", bin.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every `--flag` in `words` appears in `help`.
fn assert_flags_exist(service: &str, words: &[String], help: &str) {
    for w in words.iter().filter(|w| w.starts_with("--")) {
        let name = w.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{name} ")) || help.contains(&format!("{name}\n")),
            "service {service}: {name} is not a flag of {words:?}"
        );
    }
}

/// (host path, container path, read-only) of bind mounts; named volumes as ("name", path, ro).
fn volumes(s: &Value) -> Vec<(String, String, bool)> {
    s["volumes"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let t = v.as_str().expect("short volume syntax");
            let parts: Vec<&str> = t.split(':').collect();
            assert!(parts.len() == 2 || parts.len() == 3, "volume {t}");
            (parts[0].to_string(), parts[1].to_string(), parts.get(2) == Some(&"ro"))
        })
        .collect()
}

fn container_path_of(s: &Value, host: &str) -> Option<String> {
    volumes(s).into_iter().find(|(h, _, _)| h == host).map(|(_, c, _)| c)
}

const LLM_ROUTER_IMAGE: &str = "llm-router:dev";

#[test]
fn compose_file_is_complete_and_everything_it_references_exists() {
    let c = compose();
    let svc = services(&c);
    let names: BTreeSet<&str> = svc.keys().map(String::as_str).collect();
    for want in [
        "control-plane",
        "envoy-config",
        "envoy",
        "mock-us-west-2",
        "mock-eu-west-1",
        "mock-ap-southeast-1",
        "prometheus",
        "grafana",
    ] {
        assert!(names.contains(want), "service {want} missing: {names:?}");
    }
    let declared: BTreeSet<String> = c["volumes"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let root = repo_root();
    let mut used_volumes = BTreeSet::new();

    for (name, s) in svc {
        let image = s["image"].as_str().unwrap_or_else(|| panic!("service {name} has no image"));
        if let Some(b) = s.get("build") {
            assert_eq!(image, LLM_ROUTER_IMAGE, "{name}");
            let ctx = root.join(b["context"].as_str().expect("build.context"));
            assert!(ctx.is_dir(), "{name}: build context {}", ctx.display());
            let dockerfile = ctx.join(b["dockerfile"].as_str().expect("build.dockerfile"));
            assert!(dockerfile.is_file(), "{name}: {}", dockerfile.display());
        } else if image == LLM_ROUTER_IMAGE {
            panic!("service {name} uses {LLM_ROUTER_IMAGE} without building it");
        } else {
            // Official images, pinned.
            let (repo, tag) = image.rsplit_once(':').unwrap_or_else(|| panic!("{name}: {image} has no tag"));
            assert!(
                ["envoyproxy/envoy", "prom/prometheus", "grafana/grafana", "redis"].contains(&repo),
                "{name}: {image}"
            );
            assert!(
                tag != "latest" && tag.chars().next().is_some_and(|ch| ch == 'v' || ch.is_ascii_digit()),
                "{name}: {image}"
            );
        }
        for (host, container, _) in volumes(s) {
            assert!(container.starts_with('/'), "{name}: {container}");
            if let Some(rel) = host.strip_prefix("./") {
                let p = root.join(rel);
                assert!(p.exists(), "service {name} mounts {host}, which is not in the repository");
            } else {
                assert!(declared.contains(&host), "service {name}: volume {host} is not declared under volumes:");
                used_volumes.insert(host);
            }
        }
        if let Some(mode) = s["network_mode"].as_str() {
            if let Some(owner) = mode.strip_prefix("service:") {
                assert!(svc.contains_key(owner), "{name}: network_mode {mode}");
                assert!(s.get("ports").is_none(), "{name}: a service in another's namespace cannot publish ports");
            } else {
                assert_eq!(mode, "none", "{name}");
            }
        }
        match &s["depends_on"] {
            Value::Array(a) => {
                a.iter().for_each(|d| assert!(svc.contains_key(d.as_str().unwrap()), "{name} depends on {d}"))
            }
            Value::Object(m) => m.keys().for_each(|d| assert!(svc.contains_key(d), "{name} depends on {d}")),
            Value::Null => {}
            other => panic!("{name}: depends_on {other}"),
        }
    }
    assert_eq!(used_volumes, declared, "declared volumes are used");

    // Ports: published by the namespace owner only, on loopback, and served by someone there.
    let ports: Vec<(String, String)> = svc["control-plane"]["ports"]
        .as_array()
        .expect("control-plane publishes the ports")
        .iter()
        .map(|p| {
            let p = p.as_str().expect("ports as strings");
            let parts: Vec<&str> = p.split(':').collect();
            assert_eq!(parts.len(), 3, "{p}: host address, host port, container port");
            assert_eq!(parts[0], "127.0.0.1", "{p}");
            (parts[1].to_string(), parts[2].to_string())
        })
        .collect();
    let serve = command(&svc["control-plane"]);
    let prom = command(&svc["prometheus"]);
    let listening: BTreeSet<String> = [
        flag(&serve, "--port").expect("serve --port"),
        flag(&prom, "--web.listen-address").expect("prometheus listen").rsplit(':').next().unwrap().to_string(),
        "3000".to_string(), // Grafana's default http_port
    ]
    .into();
    for (host, container) in &ports {
        assert_eq!(host, container);
        assert!(listening.contains(container), "port {container} published but nothing listens: {listening:?}");
    }
    assert_eq!(ports.len(), listening.len());
    // Everything except the one-shot config job shares the control-plane's namespace.
    for (name, s) in svc {
        if name != "control-plane" && name != "envoy-config" {
            assert_eq!(s["network_mode"], "service:control-plane", "{name}");
        }
    }
}

#[test]
fn compose_commands_use_real_binaries_flags_and_consistent_addresses() {
    let c = compose();
    let svc = services(&c);
    let llm_router = llm_router_bin();

    // The Dockerfile builds and installs every binary the llm-router:dev services run.
    let dockerfile = std::fs::read_to_string(repo_root().join("deploy/docker/Dockerfile")).expect("Dockerfile");
    for needle in [
        "--bin llm-router",
        "--bin mock-region",
        "./scripts/build-filter.sh",
        "/src/target/release/llm-router /src/target/release/mock-region /usr/local/bin/",
        "/src/target/wasm32-wasip1/wasm/llm_router_filter.wasm /usr/local/share/llm-router/llm_router_filter.wasm",
        "curl",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle:?}");
    }

    // control-plane: `llm-router serve` with real flags, the mounted config, the filter where
    // the envoy-config job puts it.
    let serve = command(&svc["control-plane"]);
    assert_eq!(&serve[..2], ["llm-router", "serve"]);
    assert_flags_exist("control-plane", &serve, &help(&llm_router, &["serve"]));
    let config_in_container = flag(&serve, "--config").unwrap();
    assert_eq!(container_path_of(&svc["control-plane"], "./deploy/litellm.yaml"), Some(config_in_container));
    let wasm = flag(&serve, "--filter-wasm").unwrap();
    let xds = flag(&serve, "--xds-addr").unwrap();
    let metrics = flag(&serve, "--metrics-addr").unwrap();
    let wasm_dir = Path::new(&wasm).parent().unwrap().to_str().unwrap().to_string();
    assert_eq!(
        container_path_of(&svc["envoy"], "envoy-config"),
        Some(wasm_dir.clone()),
        "Envoy reads the filter where serve says"
    );
    assert_eq!(container_path_of(&svc["control-plane"], "envoy-config"), Some(wasm_dir.clone()));
    let healthcheck = svc["control-plane"]["healthcheck"]["test"].as_array().unwrap();
    assert!(
        healthcheck.last().unwrap().as_str().unwrap().starts_with(&format!("http://{metrics}/")),
        "{healthcheck:?}"
    );

    // envoy-config: a shell script of two commands, both checked.
    let job = command(&svc["envoy-config"]);
    assert_eq!(&job[..2], ["/bin/sh", "-ec"]);
    let script = job[2..].join(" ");
    assert!(
        script.starts_with(&format!("cp /usr/local/share/llm-router/llm_router_filter.wasm {wasm} &&")),
        "{script}"
    );
    let bootstrap_part = script.split("&&").nth(1).unwrap();
    let (bootstrap_cmd, out_file) = bootstrap_part.split_once('>').expect("bootstrap > file");
    let bootstrap: Vec<String> = bootstrap_cmd.split_whitespace().map(String::from).collect();
    assert_eq!(&bootstrap[..2], ["llm-router", "bootstrap"]);
    assert_flags_exist("envoy-config", &bootstrap, &help(&llm_router, &["bootstrap"]));
    assert_eq!(flag(&bootstrap, "--xds-addr").as_deref(), Some(xds.as_str()), "Envoy dials serve's xDS address");
    let admin_port = flag(&bootstrap, "--admin-port").unwrap();
    assert_eq!(container_path_of(&svc["envoy-config"], "envoy-config"), Some(wasm_dir.clone()));

    // envoy: runs that bootstrap; Envoy 1.40 itself accepts it.
    let envoy = command(&svc["envoy"]);
    assert_eq!(envoy[0], "envoy");
    assert_eq!(flag(&envoy, "-c").as_deref(), Some(out_file.trim()));
    let out = Command::new(&llm_router).args(&bootstrap[1..]).output().expect("llm-router bootstrap");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    Envoy::validate_config(&yaml).unwrap_or_else(|e| panic!("Envoy rejects the compose bootstrap: {e}"));
    assert!(yaml.contains(&format!("port_value: {admin_port}")));

    // Mock regions: real flags; the gateway config points at exactly them.
    let mock_help = help(&mock_region_bin(), &[]);
    let mut mocks = BTreeMap::new();
    for (name, s) in svc.iter().filter(|(n, _)| n.starts_with("mock-")) {
        let cmd = command(s);
        assert_eq!(cmd[0], "mock-region");
        assert_flags_exist(name, &cmd, &mock_help);
        let region = flag(&cmd, "--region").unwrap();
        assert_eq!(name.strip_prefix("mock-"), Some(region.as_str()));
        mocks.insert(region, flag(&cmd, "--port").unwrap());
    }
    let config = repo_root().join("deploy/litellm.yaml");
    let out = Command::new(&llm_router).arg("validate").arg("--config").arg(&config).output().unwrap();
    assert!(out.status.success(), "deploy/litellm.yaml: {}", String::from_utf8_lossy(&out.stderr));
    let cfg: Value = serde_yaml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let mut targets = BTreeMap::new();
    for d in cfg["model_list"].as_array().unwrap() {
        let p = &d["litellm_params"];
        targets.insert(
            p["region_name"].as_str().unwrap().to_string(),
            p["api_base"].as_str().unwrap().trim_start_matches("http://127.0.0.1:").trim_end_matches("/v1").to_string(),
        );
    }
    assert_eq!(targets, mocks, "deploy/litellm.yaml's api_base ports are the mock services' ports");
    assert_eq!(Some(cfg["router_settings"]["gateway_region"].as_str().unwrap().to_string()), flag(&serve, "--region"));

    // Prometheus: the shipped config, whose targets are Envoy's admin and serve's /metrics.
    let prom = &svc["prometheus"];
    let prom_cmd = command(prom);
    let config_dir = container_path_of(prom, "./deploy/prometheus").expect("mounts deploy/prometheus");
    assert_eq!(flag(&prom_cmd, "--config.file"), Some(format!("{config_dir}/prometheus.yml")));
    let pcfg: Value =
        serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheus.yml")).unwrap())
            .unwrap();
    let target = |job: &str| -> String {
        let j = pcfg["scrape_configs"].as_array().unwrap().iter().find(|j| j["job_name"] == job).unwrap();
        j["static_configs"][0]["targets"][0].as_str().unwrap().to_string()
    };
    assert_eq!(target("litellm"), format!("127.0.0.1:{admin_port}"));
    assert_eq!(target("llm-router-control-plane"), metrics);
    let listen = flag(&prom_cmd, "--web.listen-address").unwrap();

    // Grafana: provisioning and dashboards mounted where its provisioning files look.
    let g = &svc["grafana"];
    assert_eq!(container_path_of(g, "./deploy/grafana/provisioning").as_deref(), Some("/etc/grafana/provisioning"));
    let dashboards = container_path_of(g, "./deploy/grafana/dashboards").expect("dashboards mounted");
    assert_eq!(g["environment"]["LLM_ROUTER_DASHBOARDS"], dashboards.as_str());
    let home = g["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].as_str().unwrap();
    let home_rel = home.strip_prefix(&format!("{dashboards}/")).expect("home dashboard in the mounted folder");
    assert!(repo_root().join("deploy/grafana/dashboards").join(home_rel).is_file());
    let provider =
        std::fs::read_to_string(repo_root().join("deploy/grafana/provisioning/dashboards/llm-router.yml")).unwrap();
    assert!(provider.contains("path: ${LLM_ROUTER_DASHBOARDS}"));
    let ds: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("deploy/grafana/provisioning/datasources/prometheus.yml")).unwrap(),
    )
    .unwrap();
    let port = listen.rsplit(':').next().unwrap();
    assert_eq!(ds["datasources"][0]["url"], format!("http://127.0.0.1:{port}"));
}

/// deploy/run-local.sh runs the same services as plain processes: same config, ports and flags.
#[test]
fn the_plain_process_script_runs_the_same_commands() {
    let script = std::fs::read_to_string(repo_root().join("deploy/run-local.sh")).expect("deploy/run-local.sh");
    let out = Command::new("bash").arg("-n").arg(repo_root().join("deploy/run-local.sh")).output().expect("bash -n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c = compose();
    let svc = services(&c);
    let mut pairs: Vec<String> = Vec::new();
    for name in ["control-plane", "mock-us-west-2", "mock-eu-west-1", "mock-ap-southeast-1"] {
        let cmd = command(&svc[name]);
        for (i, w) in cmd.iter().enumerate() {
            // Flags with a fixed value (paths inside containers differ, addresses do not).
            if w.starts_with("--") && !["--config", "--filter-wasm", "--listen-address"].contains(&w.as_str()) {
                pairs.push(format!("{w} {}", cmd[i + 1]));
            }
        }
    }
    let job = command(&svc["envoy-config"]).join(" ");
    let bootstrap = job.split("llm-router bootstrap").nth(1).unwrap().split('>').next().unwrap().trim().to_string();
    pairs.push(bootstrap);
    pairs.push(
        command(&svc["prometheus"])
            .iter()
            .find(|w| w.starts_with("--web.listen-address"))
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string(),
    );
    let flat = script.replace("\\\n", " ").split_whitespace().collect::<Vec<_>>().join(" ");
    for p in pairs {
        assert!(flat.contains(&p), "deploy/run-local.sh lacks `{p}`");
    }
    for file in [
        "deploy/litellm.yaml",
        "deploy/prometheus/prometheus.yml",
        "deploy/grafana/provisioning",
        "deploy/grafana/dashboards",
    ] {
        assert!(script.contains(&format!("$ROOT/{file}")), "run-local.sh does not use {file}");
    }
}
