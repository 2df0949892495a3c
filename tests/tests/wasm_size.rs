//! The size budget of the wasm filter the end-to-end tests run (the module Envoy compiles for
//! each of its VMs at start and on every configuration change): a module that grows past it
//! fails here, with what to do.

use llm_router_e2e::filter_wasm;

/// The budget: the module built by `scripts/build-filter.sh` (cargo's `wasm` profile, then
/// `wasm-opt`) was 707,124 bytes on 2026-12-03, with room for a few features. Raise it only
/// with the reason, in docs/benchmarks.md ("Module size").
const WASM_BUDGET_BYTES: u64 = 720 * 1024;

#[test]
fn the_filter_module_stays_within_its_size_budget() {
    let path = filter_wasm();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\0asm"), "{} is not a wasm module", path.display());
    let size = bytes.len() as u64;
    assert!(
        size <= WASM_BUDGET_BYTES,
        "{} is {size} bytes ({} KiB), over the filter's budget of {} KiB. If it was built with plain \
         `cargo build`, build it with scripts/build-filter.sh (cargo build, then wasm-opt: about 12% \
         smaller). Otherwise find what grew (docs/benchmarks.md, \"Module size\": twiggy on a build with \
         CARGO_PROFILE_WASM_STRIP=false) and make it smaller, or raise WASM_BUDGET_BYTES in {} with the \
         reason in docs/benchmarks.md.",
        path.display(),
        size / 1024,
        WASM_BUDGET_BYTES / 1024,
        file!(),
    );
}
