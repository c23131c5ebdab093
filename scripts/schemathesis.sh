#!/usr/bin/env bash
# Property-based test of the real server against its own OpenAPI document.
#
# Builds the server example, starts it on free local ports with a temporary
# data directory and config (admin password set, a couple of alert rules, the
# in-process agent on so there is data), logs in, then runs schemathesis
# against /v1/openapi.json with the bearer token, with every check
# (`--checks all`: no 5xx, every status, content type, header and body as
# documented, schema-violating requests refused, schema-valid ones accepted,
# auth enforced, methods and stateful links). scripts/schemathesis.toml
# lists the few operations whose rules JSON Schema cannot state, and why.
# Bounded: max-examples per operation. Exits non-zero on any failure.
#
# The two certificate check routes (`POST /v1/certs/check`,
# `POST /v1/certs/domains/{id}/check`) are left out: they would probe
# whatever host names the fuzzer added, and tests never leave the machine.
# tests/server_certs.rs and oxmon-http/tests/certs.rs cover them. So is the
# channel test send (`POST /v1/notifications/channels/{id}/test`), which
# would post to whatever URL the fuzzer gave a channel;
# tests/server_channels.rs covers it.
#
# Environment knobs (all optional):
#   ST_MAX_EXAMPLES  test cases per operation (default 100)
#   ST_CHECKS        schemathesis checks (default all)
#   ST_PHASES        schemathesis phases (default examples,coverage,fuzzing,stateful)
#   ST_SEED          random seed, for reproducing a run
#   ST_REPORT_DIR    keep the JUnit report and server log here (default: discarded)
#   ST_PROFILE       cargo profile flag, e.g. --release (default: debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${ST_MAX_EXAMPLES:-100}"
CHECKS="${ST_CHECKS:-all}"
CONFIG="$PWD/scripts/schemathesis.toml"
PHASES="${ST_PHASES:-examples,coverage,fuzzing,stateful}"
PASSWORD="schemathesis-Admin-Pw-1"

if ! command -v schemathesis >/dev/null 2>&1 && ! python3 -c 'import schemathesis' >/dev/null 2>&1; then
  echo "== installing schemathesis from PyPI"
  python3 -m pip install --quiet schemathesis
fi
if command -v schemathesis >/dev/null 2>&1; then
  ST=(schemathesis)
else
  ST=(python3 -m schemathesis.cli)
fi
echo "== $("${ST[@]}" --version)"

echo "== building the server example"
cargo build ${ST_PROFILE:-} --example server
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
case "${ST_PROFILE:-}" in
  --release) SERVER_BIN="$TARGET_DIR/release/examples/server" ;;
  *) SERVER_BIN="$TARGET_DIR/debug/examples/server" ;;
esac

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "${ST_REPORT_DIR:-}" ]; then
    mkdir -p "$ST_REPORT_DIR"
    cp "$WORK/server.log" "$ST_REPORT_DIR/" 2>/dev/null || true
    cp -r "$WORK/report/." "$ST_REPORT_DIR/" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

read -r HTTP_PORT GRPC_PORT < <(python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
)

cat > "$WORK/server.toml" <<TOML
grpc_port = $GRPC_PORT
http_port = $HTTP_PORT
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "$WORK/data"
retention_days = 7
require_agent_auth = false

[auth]
default_username = "admin"
default_password = "$PASSWORD"

[[alert.rules]]
name = "high-cpu"
type = "threshold"
metric = "cpu.usage"
agent_pattern = "*"
operator = "greater_than"
value = 0.0
duration_secs = 0
severity = "critical"
silence_secs = 600

[[alert.rules]]
name = "memory-spike"
type = "rate_of_change"
metric = "memory.used_percent"
agent_pattern = "*"
rate_threshold = 20.0
window_secs = 300
direction = "both"
severity = "warning"
silence_secs = 600

[cert_check]
enabled = false

[local_agent]
enabled = true
agent_id = "schemathesis-host"
collection_interval_secs = 1
TOML

echo "== starting the server (REST 127.0.0.1:$HTTP_PORT, gRPC 127.0.0.1:$GRPC_PORT)"
RUST_LOG="${RUST_LOG:-warn}" "$SERVER_BIN" "$WORK/server.toml" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

BASE="http://127.0.0.1:$HTTP_PORT"
for i in $(seq 1 100); do
  if curl -fsS "$BASE/v1/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server exited during start-up:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  if [ "$i" = 100 ]; then
    echo "the server did not answer /v1/health within 20 s:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "$BASE/v1/health"; echo
# A few collections so /v1/agents, latest values and alerts have content.
sleep 3

TOKEN="$(curl -fsS -X POST "$BASE/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
if [ -z "$TOKEN" ]; then
  echo "login failed" >&2
  exit 1
fi

echo "== schemathesis: checks=$CHECKS phases=$PHASES max-examples=$MAX_EXAMPLES"
ARGS=(--config-file "$CONFIG" run "$BASE/v1/openapi.json"
  --header "Authorization: Bearer $TOKEN"
  --checks "$CHECKS"
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --request-timeout 10
  --generation-database none
  # Path parameters with a character-class pattern (agent ids) make
  # Hypothesis discard many candidates; with some seeds it then aborts the
  # operation ("filter_too_much") instead of testing it. The cases it does
  # generate are still checked.
  --suppress-health-check filter_too_much
  --continue-on-failure
  --exclude-path-regex '/(check|test)$'
  --report junit --report-dir "$WORK/report"
  --no-color)
if [ -n "${ST_SEED:-}" ]; then ARGS+=(--seed "$ST_SEED"); fi
# Run from the temporary directory: schemathesis keeps a cache of failing
# cases in ./.schemathesis, which must not land in the repository.
set +e
(cd "$WORK" && "${ST[@]}" "${ARGS[@]}")
RC=$?
set -e

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "the server died during the run:" >&2
  tail -n 50 "$WORK/server.log" >&2
  RC=1
elif grep -qi 'panicked' "$WORK/server.log"; then
  echo "the server log shows a panic:" >&2
  grep -i -A5 'panicked' "$WORK/server.log" >&2
  RC=1
fi
if [ "$RC" -ne 0 ]; then
  echo "schemathesis.sh: FAILED (exit $RC)" >&2
else
  echo "schemathesis.sh: passed"
fi
exit "$RC"
