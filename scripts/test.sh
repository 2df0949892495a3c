#!/usr/bin/env bash
# Runs every test: unit and golden tests, then end-to-end tests against a real Envoy 1.40 with
# the real filter. Installs what is missing first (scripts/setup.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cd "$ROOT"
export ENVOY_BIN="${ENVOY_BIN:-$ROOT/.tools/envoy-1.40.0/envoy}"
# Style first: one format, no clippy warnings (rustfmt.toml; lints in the crates' Cargo.toml).
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The end-to-end tests start Envoys and mock regions; two at a time suits a 2-core machine.
cargo test --workspace --no-fail-fast -- --test-threads="${TEST_THREADS:-2}"
