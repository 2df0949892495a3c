#!/usr/bin/env bash
# The services of docker-compose.yml as plain processes on 127.0.0.1, with the same ports and
# the same files (deploy/litellm.yaml, deploy/prometheus/, deploy/grafana/):
#
#   mock regions 8081-8083, llm-router serve (xDS 18000, /metrics 18001), Envoy from
#   `llm-router bootstrap` (gateway 4000, admin 9901), Prometheus 9090, Grafana 3000.
#
#   ./deploy/run-local.sh           # runs until Ctrl-C, then stops everything it started
#   ./deploy/run-local.sh --check   # starts everything, checks it answers, stops, exit 0/1
#
# Needs: `./scripts/setup.sh` (builds llm-router, mock-region and the filter, installs Envoy
# and Prometheus). Grafana is started when `grafana-server` (or `grafana server`) is installed;
# it is not in Debian's archive, so the script says so and goes on without it.
# Logs, the Envoy bootstrap and Prometheus's data go to $RUN_DIR (default: a temp dir);
# Envoy's JSON access log is $RUN_DIR/envoy.stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
RUN_DIR="${RUN_DIR:-$(mktemp -d -t llm-router-local.XXXXXX)}"
mkdir -p "$RUN_DIR"

log() { printf '==> %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

bin() { # first existing of: $VAR, the candidates, NAME on PATH
  local var="$1" name="$2"; shift 2
  if [ -n "${!var:-}" ]; then echo "${!var}"; return; fi
  for c in "$@"; do [ -x "$c" ] && { echo "$c"; return; }; done
  command -v "$name" || true
}
LLM_ROUTER="$(bin LLM_ROUTER_BIN llm-router "$ROOT/target/release/llm-router" "$ROOT/target/debug/llm-router")"
MOCK_REGION="$(bin MOCK_REGION_BIN mock-region "$ROOT/target/release/mock-region" "$ROOT/target/debug/mock-region")"
ENVOY="$(bin ENVOY_BIN envoy "$ROOT/.tools/envoy-1.40.0/envoy")"
PROMETHEUS="$(bin PROMETHEUS_BIN prometheus)"
GRAFANA="$(bin GRAFANA_BIN grafana)"  # `grafana server`; older releases: grafana-server
GRAFANA_SERVER="$(command -v grafana-server || true)"
WASM="${LLM_ROUTER_WASM:-$ROOT/target/wasm32-wasip1/wasm/llm_router_filter.wasm}"
[ -n "$LLM_ROUTER" ] || die "llm-router not built: run ./scripts/setup.sh"
[ -n "$MOCK_REGION" ] || die "mock-region not built: run ./scripts/setup.sh"
[ -n "$ENVOY" ] || die "Envoy not found: run ./scripts/setup.sh (or set ENVOY_BIN)"
[ -f "$WASM" ] || die "filter not built ($WASM): run ./scripts/setup.sh"
[ -n "$PROMETHEUS" ] || die "prometheus not found: run ./scripts/setup.sh (apt-get install prometheus)"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # NAME CMD...: runs CMD in the background, output to $RUN_DIR/NAME.stdout|stderr
  local name="$1"; shift
  "$@" >"$RUN_DIR/$name.stdout" 2>"$RUN_DIR/$name.stderr" &
  PIDS+=("$!")
  log "$name (pid $!): $*"
}

wait_for() { # WHAT URL
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$1 did not answer at $2 (logs in $RUN_DIR)"
}

# The three mock regions (docker-compose.yml: mock-*).
start mock-us-west-2 "$MOCK_REGION" --port 8081 --region us-west-2
start mock-eu-west-1 "$MOCK_REGION" --port 8082 --region eu-west-1
start mock-ap-southeast-1 "$MOCK_REGION" --port 8083 --region ap-southeast-1

# The control plane (control-plane), then Envoy from its bootstrap (envoy-config, envoy).
start control-plane "$LLM_ROUTER" serve --config "$ROOT/deploy/litellm.yaml" --filter-wasm "$WASM" \
  --port 4000 --listen-address 127.0.0.1 --region us-west-2 \
  --xds-addr 127.0.0.1:18000 --metrics-addr 127.0.0.1:18001
wait_for "llm-router serve" http://127.0.0.1:18001/readyz
"$LLM_ROUTER" bootstrap --xds-addr 127.0.0.1:18000 --node-id gateway-us-west-2 --admin-port 9901 >"$RUN_DIR/envoy.yaml"
start envoy "$ENVOY" -c "$RUN_DIR/envoy.yaml" --log-level warning --base-id 9901
wait_for "the gateway" http://127.0.0.1:4000/health

# Prometheus with the shipped config and rules (prometheus).
start prometheus "$PROMETHEUS" --config.file="$ROOT/deploy/prometheus/prometheus.yml" \
  --storage.tsdb.path="$RUN_DIR/prometheus" --web.listen-address=127.0.0.1:9090
wait_for "Prometheus" http://127.0.0.1:9090/-/ready

# Grafana with the shipped provisioning (grafana), when installed.
if [ -n "$GRAFANA" ] || [ -n "$GRAFANA_SERVER" ]; then
  HOMEPATH="${GRAFANA_HOME:-/usr/share/grafana}"
  if [ -n "$GRAFANA" ]; then GRAFANA_CMD=("$GRAFANA" server); else GRAFANA_CMD=("$GRAFANA_SERVER"); fi
  export LLM_ROUTER_DASHBOARDS="$ROOT/deploy/grafana/dashboards"
  start grafana "${GRAFANA_CMD[@]}" --homepath "$HOMEPATH" \
    cfg:paths.provisioning="$ROOT/deploy/grafana/provisioning" cfg:paths.data="$RUN_DIR/grafana" \
    cfg:server.http_addr=127.0.0.1 cfg:server.http_port=3000 \
    cfg:auth.anonymous.enabled=true cfg:auth.anonymous.org_role=Viewer
  wait_for "Grafana" http://127.0.0.1:3000/api/health
else
  log "Grafana not installed (not in Debian's archive): the dashboard is deploy/grafana/dashboards/llm-router.json"
fi

if [ "$CHECK" = 1 ]; then
  body='{"model": "claude", "messages": [{"role": "user", "content": "hello"}]}'
  curl -fsS http://127.0.0.1:4000/v1/chat/completions -H 'content-type: application/json' -d "$body" >/dev/null
  # Both scrape jobs up (Prometheus hands targets to its scrapers within ~5 s).
  for _ in $(seq 1 100); do
    n="$(curl -fsS http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=sum(up)' | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)".*/\1/p')"
    [ "$n" = 2 ] && { log "check passed: gateway answers, Prometheus scrapes Envoy and the control plane"; exit 0; }
    sleep 0.2
  done
  die "Prometheus does not scrape both targets (logs in $RUN_DIR)"
fi

log "gateway http://127.0.0.1:4000  Prometheus http://127.0.0.1:9090  Grafana http://127.0.0.1:3000"
log "Envoy's access log: $RUN_DIR/envoy.stdout; Ctrl-C stops everything"
wait
