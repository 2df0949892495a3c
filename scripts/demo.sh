#!/usr/bin/env bash
# The demo: three mock Bedrock regions (they check SigV4 and Converse bodies as Bedrock
# does), the seed's active-passive config, a real Envoy 1.40 with the
# llm-router filter. Shows routing, failover within a request, cooldown and residency, then
# leaves the gateway running on http://127.0.0.1:4000 until Ctrl-C (DEMO_EXIT=1 to stop at
# the end of the walk-through).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
cd "$ROOT"

ENVOY="${ENVOY_BIN:-$ROOT/.tools/envoy-1.40.0/envoy}"
WORK="$ROOT/.tools/demo"
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Demo credentials: the mock Bedrock regions accept SigV4 signatures made with these only,
# and Envoy signs with them from its environment.
export AWS_ACCESS_KEY_ID=AKIDLLMROUTERDEMO AWS_SECRET_ACCESS_KEY=demo-secret-not-a-real-key
unset AWS_SESSION_TOKEN
for spec in us-west-2:9101 us-east-1:9102 eu-west-1:9103; do
  region="${spec%%:*}"; port="${spec##*:}"
  "$ROOT/target/debug/mock-region" --provider bedrock --region "$region" --port "$port" \
    --aws-access-key-id "$AWS_ACCESS_KEY_ID" --aws-secret-access-key "$AWS_SECRET_ACCESS_KEY" \
    > "$WORK/mock-$region.log" 2>&1 &
  PIDS+=($!)
done

# The config is copied so the demo can edit it live without touching the repository.
CONFIG="$WORK/litellm.yaml"
cp "$ROOT/examples/local/demo.yaml" "$CONFIG"
"$ROOT/target/debug/llm-router" validate --config "$CONFIG"
# `up`: the xDS control plane and an Envoy with the filter, in one process.
ENVOY_BIN="$ENVOY" "$ROOT/target/debug/llm-router" up --config "$CONFIG" \
  --filter-wasm "$ROOT/target/wasm32-wasip1/wasm/llm_router_filter.wasm" \
  --port 4000 --admin-port 9901 > "$WORK/up.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do curl -sf http://127.0.0.1:4000/health > /dev/null && break; sleep 0.1; done

chat() {
  curl -s -o /dev/null -w "  %{http_code}  served by %header{x-llm-region}  attempts %header{x-envoy-attempt-count}\n" \
    http://127.0.0.1:4000/v1/chat/completions -H 'content-type: application/json' "$@" \
    -d '{"model": "claude-global", "messages": [{"role": "user", "content": "hello"}]}'
}
mode() { curl -s -o /dev/null "http://127.0.0.1:$1/_mock/mode" -H 'content-type: application/json' -d "$2"; }

echo; echo "== priority 1 (us-west-2) takes all traffic"; for _ in 1 2 3; do chat; done
echo; echo "== us-west-2 starts failing: each request moves on within itself, then us-west-2 cools down"
mode 9101 '{"mode": "error", "status": 503}'
for _ in 1 2 3 4 5; do chat; done
echo; echo "== /health"; curl -s http://127.0.0.1:4000/health; echo
echo; echo "== x-llm-residency: eu never leaves the EU"; chat -H 'x-llm-residency: eu'
mode 9103 '{"mode": "error", "status": 503}'
echo "   (eu-west-1 failing too)"; chat -H 'x-llm-residency: eu'
mode 9101 '{"mode": "ok"}'; mode 9103 '{"mode": "ok"}'
echo; echo "== per-region metrics on Envoy's admin (http://127.0.0.1:9901/stats/prometheus)"
curl -s http://127.0.0.1:9901/stats/prometheus | grep -E '^litellm_(requests|errors)_total' || true

echo; echo "== edit the YAML while the gateway runs: make eu-west-1 the primary (no restart)"
sed -i 's/    priority: 3/    priority: 0/' "$CONFIG"
for _ in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%header{x-llm-region}' http://127.0.0.1:4000/v1/chat/completions \
      -H 'content-type: application/json' \
      -d '{"model": "claude-global", "messages": [{"role": "user", "content": "hello"}]}')" = eu-west-1 ] && break
  sleep 0.1
done
chat
echo "   control plane: $(curl -s http://127.0.0.1:18001/metrics | grep -E '^llm_router_config_generation' || true)"

if [ "${DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo
echo "Gateway: http://127.0.0.1:4000/v1/chat/completions   admin: http://127.0.0.1:9901"
echo "Control plane metrics: http://127.0.0.1:18001/metrics   config (edit it live): $CONFIG"
echo "Mock regions: 9101 us-west-2, 9102 us-east-1, 9103 eu-west-1 (POST /_mock/mode to break one)"
echo "Ctrl-C stops everything."
wait
