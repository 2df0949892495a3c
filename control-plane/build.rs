//! Build script of the control plane: gathers the protobuf descriptors that turn the
//! translation's canonical JSON into the protobuf bytes of xDS `Any` resources.
//!
//! - `envoy_types.bin`: the FileDescriptorSet that the `envoy-types` crate ships (it holds every
//!   Envoy API message) but does not expose; copied from the crate's source directory.
//! - `priority_group.bin`: Envoy 1.40's priority group cluster specifier, missing from
//!   envoy-types 0.7.7, compiled from `proto/priority_group.proto` with the vendored protoc.
use std::path::{Path, PathBuf};
use std::process::Command;

const ENVOY_TYPES: &str = "envoy-types-0.7.7";
const DESCRIPTOR: &str = "src/generated/types.bin";

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=proto/priority_group.proto");
    println!("cargo:rerun-if-env-changed=ENVOY_TYPES_DESCRIPTOR");

    let types = find_envoy_types_descriptor().unwrap_or_else(|looked| {
        panic!(
            "llm-router build: cannot find {ENVOY_TYPES}/{DESCRIPTOR} (the Envoy API descriptors shipped in the \
             envoy-types crate). Looked in: {looked:?}. Run `cargo fetch` so the crate's source is unpacked, \
             or set ENVOY_TYPES_DESCRIPTOR=/path/to/{ENVOY_TYPES}/{DESCRIPTOR}."
        )
    });
    println!("cargo:rerun-if-changed={}", types.display());
    std::fs::copy(&types, out.join("envoy_types.bin"))
        .unwrap_or_else(|e| panic!("llm-router build: copy {} to OUT_DIR: {e}", types.display()));

    let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc for this host");
    let include = protoc_bin_vendored::include_path().expect("vendored protoc include path");
    let status = Command::new(protoc)
        .arg(format!("--descriptor_set_out={}", out.join("priority_group.bin").display()))
        .arg("-Iproto")
        .arg(format!("-I{}", include.display()))
        .arg("proto/priority_group.proto")
        .status()
        .expect("run the vendored protoc");
    assert!(status.success(), "llm-router build: protoc failed on proto/priority_group.proto");
}

/// `$ENVOY_TYPES_DESCRIPTOR`, else the crate in Cargo's registry sources
/// (`$CARGO_HOME`, else `~/.cargo`), else a `vendor/` directory beside the workspace.
fn find_envoy_types_descriptor() -> Result<PathBuf, Vec<PathBuf>> {
    let mut looked = Vec::new();
    if let Some(p) = std::env::var_os("ENVOY_TYPES_DESCRIPTOR") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        looked.push(p);
    }
    let mut homes = Vec::new();
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        homes.push(PathBuf::from(h));
    }
    if let Some(h) = std::env::var_os("HOME") {
        homes.push(Path::new(&h).join(".cargo"));
    }
    for home in homes {
        let src = home.join("registry/src");
        if let Ok(entries) = std::fs::read_dir(&src) {
            for e in entries.flatten() {
                let p = e.path().join(ENVOY_TYPES).join(DESCRIPTOR);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        looked.push(src.join("*").join(ENVOY_TYPES).join(DESCRIPTOR));
    }
    if let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let p = Path::new(&manifest).join("../vendor").join(ENVOY_TYPES).join(DESCRIPTOR);
        if p.is_file() {
            return Ok(p);
        }
        looked.push(p);
    }
    Err(looked)
}
