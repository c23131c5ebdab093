#!/usr/bin/env bash
# Scale-out on one machine (docs/scaling.md): one VictoriaMetrics, two oxmon
# servers each owning a shard of the fleet (its local agent and two agents
# of its own) and writing everything to VictoriaMetrics, then the fleet read
# back from VictoriaMetrics alone.
#
#   bash scripts/scale-out.sh            # builds the release programs first
#
# OXMON_BIN_DIR     where the `server` and `agent` programs are (default:
#                   target/release/examples, built by this script)
# SCALE_OUT_SECS    how long the fleet reports before the query (default 25)
# SCALE_OUT_KEEP=1  leave everything running (the addresses are printed)
#
# Needs Debian's victoria-metrics (apt install victoria-metrics) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v victoria-metrics >/dev/null || { echo "victoria-metrics is missing: apt install victoria-metrics" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 1; }
BIN=${OXMON_BIN_DIR:-}
if [ -z "$BIN" ]; then
  echo "== cargo build --release --examples"
  cargo build --release --examples --quiet
  BIN=target/release/examples
fi
SECS=${SCALE_OUT_SECS:-25}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  if [ "${SCALE_OUT_KEEP:-0}" = 1 ]; then
    echo "left running (pids ${PIDS[*]}); files in $WORK"
    return
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

VM_PORT=$(free_port)
victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$VM_PORT" \
  -dedup.minScrapeInterval=1ms -search.latencyOffset=0 >"$WORK/vm.log" 2>&1 &
PIDS+=($!)
VM="http://127.0.0.1:$VM_PORT"
wait_http "$VM/health"
echo "== VictoriaMetrics on $VM"

for shard in a b; do
  GRPC=$(free_port); HTTP=$(free_port)
  cat >"$WORK/server-$shard.toml" <<TOML
grpc_port = $GRPC
http_port = $HTTP
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "$WORK/data-$shard"

[local_agent]
enabled = true
agent_id = "server-$shard"
collection_interval_secs = 2

[[remote_write]]
url = "$VM/api/v1/write"
external_labels = { oxmon_server = "$shard" }
send_deadline_ms = 1000
TOML
  "$BIN/server" "$WORK/server-$shard.toml" >"$WORK/server-$shard.out" 2>"$WORK/server-$shard.log" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$HTTP/v1/health"
  echo "== oxmon server $shard: REST http://127.0.0.1:$HTTP, gRPC 127.0.0.1:$GRPC"
  for n in 1 2; do
    cat >"$WORK/agent-$shard$n.toml" <<TOML
agent_id = "node-$shard$n"
server_endpoint = "127.0.0.1:$GRPC"
collection_interval_secs = 2
TOML
    "$BIN/agent" "$WORK/agent-$shard$n.toml" >/dev/null 2>"$WORK/agent-$shard$n.log" &
    PIDS+=($!)
  done
done

echo "== the fleet reports for ${SECS}s"
sleep "$SECS"
curl -sf "$VM/internal/force_flush" >/dev/null || true

echo "== from VictoriaMetrics alone: CPU samples per host in the last minute, and hosts per server"
echo "query: count_over_time(cpu_usage[1m])"
curl -sf "$VM/api/v1/query" --data-urlencode 'query=count_over_time(cpu_usage[1m])' \
  | python3 -c '
import json, sys
rows = json.load(sys.stdin)["data"]["result"]
for r in sorted(rows, key=lambda r: (r["metric"].get("oxmon_server", ""), r["metric"].get("agent", ""))):
    m = r["metric"]
    print("  oxmon_server=%s  agent=%-10s cpu_usage samples=%s" % (m.get("oxmon_server", "?"), m.get("agent", "?"), r["value"][1]))
print("  %d hosts" % len(rows))
'
echo "query: count by (oxmon_server) (count by (oxmon_server, agent) ({__name__=~\".+\"}))"
curl -sf "$VM/api/v1/query" --data-urlencode 'query=count by (oxmon_server) (count by (oxmon_server, agent) ({__name__=~".+"}))' \
  | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    print("  server %s: %s hosts" % (r["metric"].get("oxmon_server"), r["value"][1]))
'
