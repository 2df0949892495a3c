//! Residency follows the endpoint called: a deployment's zone and `allowed_regions` are read
//! from its regional host, `aws_region_name`, `vertex_location` or Bedrock inference profile,
//! never from a declared label alone; a label that disagrees is an error at its key.
//!
//! `fixtures/residency/*.yaml` are checked against `golden/residency/*.txt` (what each
//! deployment reaches, its zone and cluster, and every diagnostic). After an intended change,
//! regenerate with `UPDATE_GOLDEN=1 cargo test -p llm-router --test config_residency` and review
//! the diff.

use std::path::{Path, PathBuf};

use llm_router::config::{self, Config, Diagnostic, Loaded, Reach, Severity};
use llm_router::translate;

fn load(yaml: &str) -> Result<Loaded, Vec<String>> {
    config::load_str(yaml, "t.yaml").map_err(|diags| diags.iter().map(Diagnostic::to_string).collect())
}

fn ok(yaml: &str) -> Loaded {
    load(yaml).unwrap_or_else(|e| panic!("expected a valid config:\n{}", e.join("\n")))
}

fn errors(yaml: &str) -> Vec<String> {
    match config::load_str(yaml, "t.yaml") {
        Ok(l) => panic!("expected errors, got a valid config: {:?}", l.config),
        Err(diags) => diags.iter().filter(|d| d.severity == Severity::Error).map(Diagnostic::to_string).collect(),
    }
}

fn warnings(l: &Loaded) -> Vec<String> {
    l.warnings.iter().map(Diagnostic::to_string).collect()
}

fn one(params: &str) -> String {
    format!("model_list:\n  - model_name: m\n    litellm_params:\n{params}")
}

#[test]
fn a_label_that_disagrees_with_the_region_called_is_an_error_naming_both() {
    let e = errors(&one(
        "      model: bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0\n      aws_region_name: us-east-1\n      metadata: {region: eu-west-1}\n",
    ));
    assert_eq!(
        e,
        vec![
            "t.yaml:6:18: model_list[0] ('m'): metadata.region 'eu-west-1' disagrees with where its requests go, \
              aws_region_name 'us-east-1'; residency follows the endpoint: correct metadata.region or remove it \
              (the region is then 'us-east-1')"
        ]
    );
    // The seed's coarser labels agree: `us-west` for us-west-2.
    let l = ok(&one("      model: bedrock/m.x\n      aws_region_name: us-west-2\n      metadata: {region: us-west}\n"));
    let d = &l.config.deployments[0];
    assert_eq!((d.region.as_str(), d.zone.as_str()), ("us-west", "us"));
    assert_eq!(d.reach, Reach::Region("us-west-2".into()));
}

#[test]
fn the_zone_is_the_endpoints_not_the_labels() {
    // A label in one zone's list, requests going to a region of another: the endpoint decides.
    let l = ok("model_list:
  - model_name: m
    litellm_params: {model: bedrock/m.x, aws_region_name: us-east-1, metadata: {region: us}}
router_settings:
  residency_zones: {eu: [us], us: [us-east-1]}
");
    assert_eq!(l.config.deployments[0].zone, "us");
    // Listed only by its label: in no zone, and the warning says what to list.
    let l = ok("model_list:
  - model_name: m
    litellm_params: {model: bedrock/m.x, aws_region_name: us-west-2, metadata: {region: us-west}}
router_settings:
  residency_zones: {us: [us-west]}
");
    assert_eq!(l.config.deployments[0].zone, "");
    assert_eq!(
        warnings(&l),
        vec![
            "t.yaml:3:42: warning: deployment 'm-us-west' region 'us-west-2' is in no router_settings.residency_zones \
              entry; requests with x-llm-residency never use it (its label 'us-west' is listed, but requests go to \
              'us-west-2': list 'us-west-2')"
        ]
    );
}

#[test]
fn a_profile_outside_its_zones_list_is_an_error_naming_profile_zone_and_regions() {
    let e = errors(
        "model_list:
  - model_name: m
    litellm_params:
      model: bedrock/eu.anthropic.claude-3-5-sonnet-20241022-v2:0
      aws_region_name: eu-west-1
router_settings:
  residency_zones: {eu: [eu-west-1, eu-central-1, eu-west-3]}
",
    );
    assert_eq!(
        e,
        vec![
            "t.yaml:4:7: deployment 'm-eu-west-1' calls Bedrock cross-region inference profile \
              'eu.anthropic.claude-3-5-sonnet-20241022-v2:0' from 'eu-west-1' (zone 'eu'), but AWS may route it to \
              eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-2, which router_settings.residency_zones.eu \
              does not list; list them in the zone, or call the model in one region (without the profile prefix)"
        ]
    );
}

#[test]
fn global_endpoints_and_profiles_belong_to_no_zone_and_break_allowed_regions() {
    for params in [
        "      model: bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0\n      aws_region_name: eu-west-1\n",
        "      model: vertex_ai/gemini-2.0-flash\n      vertex_project: p\n      vertex_location: global\n",
        "      model: vertex_ai/gemini-2.0-flash\n      vertex_project: p\n      api_base: https://aiplatform.googleapis.com\n",
    ] {
        let l = ok(&one(params));
        assert_eq!(l.config.deployments[0].zone, "", "{params}");
        assert!(warnings(&l).iter().any(|w| w.contains("belongs to no residency zone")), "{params}");
        let e = errors(&format!("{}router_settings:\n  allowed_regions: [eu-west-1, global]\n", one(params)));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("which may be served in any region, so it cannot keep to"), "{e:?}");
    }
}

#[test]
fn allowed_regions_are_checked_against_the_region_called() {
    // Today's label `eu` was allowed; the requests go to eu-west-2, which is not.
    let e = errors(&format!(
        "{}router_settings:\n  allowed_regions: [eu, eu-west-1]\n",
        one("      model: bedrock/m.x\n      aws_region_name: eu-west-2\n      metadata: {region: eu}\n")
    ));
    assert_eq!(
        e,
        vec![
            "t.yaml:5:7: deployment 'm-eu' region 'eu-west-2' is outside router_settings.allowed_regions \
              [eu, eu-west-1]; remove the deployment or allow its region"
        ]
    );
}

#[test]
fn the_api_base_host_gives_the_region_and_the_signing_region() {
    let l = ok(&one("      model: bedrock/m.x\n      api_base: https://bedrock-runtime.eu-central-1.amazonaws.com\n"));
    let d = &l.config.deployments[0];
    assert_eq!((d.region.as_str(), d.zone.as_str()), ("eu-central-1", "eu"));
    assert_eq!(d.aws_region_name.as_deref(), Some("eu-central-1"), "signed for the region called");
    assert!(warnings(&l).is_empty(), "{:?}", warnings(&l));
}

#[test]
fn cluster_names_change_with_where_requests_go() {
    let c: Config = ok("model_list:
  - model_name: m
    litellm_params: {model: bedrock/m.x, aws_region_name: eu-west-1}
    model_info: {id: a}
  - model_name: m
    litellm_params: {model: bedrock/eu.anthropic.claude-x, aws_region_name: eu-west-1}
    model_info: {id: b}
  - model_name: m
    litellm_params: {model: vertex_ai/gemini-2.0-flash, vertex_project: p, vertex_location: global}
    model_info: {id: c}
  - model_name: m
    litellm_params: {model: openai/gpt-4o, api_base: 'http://10.0.0.1/v1', region_name: Eu.West}
    model_info: {id: d}
  - model_name: m
    litellm_params: {model: openai/gpt-4o}
    model_info: {id: e}
")
    .config;
    let names: Vec<String> = c.deployments.iter().map(translate::cluster_name).collect();
    assert_eq!(names, ["llm-a@eu-west-1", "llm-b@eu-via-eu-west-1", "llm-c@global", "llm-d@eu-west", "llm-e"]);
    // The same id in another region is another cluster.
    let moved = ok("model_list:
  - model_name: m
    litellm_params: {model: bedrock/m.x, aws_region_name: us-east-1}
    model_info: {id: a}
")
    .config;
    assert_eq!(translate::cluster_name(&moved.deployments[0]), "llm-a@us-east-1");
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/residency");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/residency exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn reach(r: &Reach) -> String {
    match r {
        Reach::Unknown => "- (the label stands)".into(),
        Reach::Region(r) => r.clone(),
        Reach::Global => "anywhere (global endpoint)".into(),
        Reach::Profile { geography, source, regions: None } => {
            format!("anywhere ({geography}. profile from {})", source.as_deref().unwrap_or("-"))
        }
        Reach::Profile { geography, source, regions: Some(list) } => {
            format!("{geography}. profile from {}: {}", source.as_deref().unwrap_or("-"), list.join(" "))
        }
    }
}

/// What validate derives from one fixture: per deployment, or every diagnostic.
fn derivation(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let name = path.file_name().expect("file name").to_string_lossy().to_string();
    // The Vertex credential warning depends on the environment, not on residency.
    let keep = |d: &&Diagnostic| !d.message.contains("Vertex credentials");
    let mut out = String::new();
    match config::load_str(&text, &name) {
        Ok(l) => {
            for d in &l.config.deployments {
                out += &format!(
                    "{}\n  region: {}\n  reach: {}\n  zone: {}\n  cluster: {}\n",
                    d.id,
                    d.region,
                    reach(&d.reach),
                    d.zone,
                    translate::cluster_name(d)
                );
            }
            for w in l.warnings.iter().filter(keep) {
                out += &format!("{w}\n");
            }
        }
        Err(diags) => {
            for d in diags.iter().filter(keep) {
                out += &format!("{d}\n");
            }
        }
    }
    out
}

#[test]
fn fixtures_derive_as_their_golden_files() {
    let golden_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/residency");
    let mut mismatches = Vec::new();
    let files = fixtures();
    assert!(files.len() >= 5, "{files:?}");
    for fixture in files {
        let actual = derivation(&fixture);
        let golden = golden_dir.join(fixture.with_extension("txt").file_name().expect("name"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&golden_dir).expect("golden dir");
            std::fs::write(&golden, &actual).expect("write golden");
            continue;
        }
        if std::fs::read_to_string(&golden).unwrap_or_default() != actual {
            mismatches.push(format!("{}:\n{actual}", golden.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "derivation differs from its golden file (UPDATE_GOLDEN=1 cargo test -p llm-router --test config_residency):\n{}",
        mismatches.join("\n")
    );
}
