#!/usr/bin/env bash
# Builds the proxy-wasm filter and optimises it in place with Binaryen's wasm-opt:
#   $CARGO_TARGET_DIR (default target/)/wasm32-wasip1/wasm/llm_router_filter.wasm
# `wasm-opt -O3` without its inlining takes about 12% off the module at the same speed and
# memory (docs/benchmarks.md, "Module size"; its inlining would save 4 KB more and cost each
# Envoy about 6 MiB of memory). wasm-opt comes from the pinned npm package `binaryen` that
# scripts/setup.sh installs into .tools/; WASM_OPT=/path/to/wasm-opt uses another. Run again,
# it only rebuilds what changed: a module that wasm-opt already wrote is left alone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARYEN_VERSION=132.0.0
WASM_OPT="${WASM_OPT:-$ROOT/.tools/binaryen-$BINARYEN_VERSION/node_modules/.bin/wasm-opt}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WASM="$TARGET_DIR/wasm32-wasip1/wasm/llm_router_filter.wasm"
# The sha256 of the module wasm-opt last wrote: when the module still has it, cargo did not
# relink it since, and optimising it again would only cost time.
STAMP="$WASM.wasm-opt"

cd "$ROOT"
cargo build --quiet -p llm-router-filter --target wasm32-wasip1 --profile wasm

if [ "$(sha256sum < "$WASM")" = "$(cat "$STAMP" 2>/dev/null)" ]; then
  exit 0
fi
if [ ! -x "$WASM_OPT" ]; then
  echo "build-filter.sh: wasm-opt not found at $WASM_OPT: run scripts/setup.sh, or set WASM_OPT" >&2
  exit 1
fi
# The features rustc enables for wasm32-wasip1 (wasm-opt must accept what the module uses; it
# adds none of its own). Copied over the module in place, not moved: cargo keeps the module as a
# hard link to its copy in deps/, and puts that copy back whenever the two differ.
"$WASM_OPT" -O3 --skip-pass=inlining --skip-pass=inlining-optimizing \
  --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  "$WASM" -o "$WASM.opt"
cp "$WASM.opt" "$WASM"
rm "$WASM.opt"
sha256sum < "$WASM" > "$STAMP"
