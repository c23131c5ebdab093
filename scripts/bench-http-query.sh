#!/usr/bin/env bash
# One-day `/v1/metrics` of one series over HTTP: latency with one connection
# (`wrk -c1`), the figure of docs/benchmarks.md ("REST API").
#
#   scripts/bench-http-query.sh [SERVER_BINARY ...]
#
# Each binary (default: target/release/examples/server) gets the same data:
# a day of one synthetic series at 10 s (8,640 points) written into the day
# partitions with the server stopped, compacted by the server on its next
# start like any other data. Binaries are measured alternately, twice each,
# so a before/after pair shares the machine's state. Needs `wrk` and
# `sqlite3` (Debian: `apt-get install -y wrk sqlite3`).
set -euo pipefail

servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(target/release/examples/server)
work=$(mktemp -d /tmp/oxmon-http-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=18480
duration=${DURATION:-15s}

cat > "$work/server.toml" <<TOML
grpc_port = 19490
http_port = $port
grpc_bind = "127.0.0.1"
http_bind = "127.0.0.1"
data_dir = "$work/data"
[auth]
default_password = "bench-Admin-Pw-1"
[cert_check]
enabled = false
[local_agent]
enabled = false
TOML

wait_up() {
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null && return 0
    sleep 0.1
  done
  echo "server did not come up" >&2
  return 1
}

# A first start with the local agent creates today's partition; its
# schema is copied for yesterday's.
sed 's/^\[local_agent\]$/[local_agent]\ncollection_interval_secs = 1/; s/^enabled = false$/enabled = true/' \
  "$work/server.toml" > "$work/first.toml"
"${servers[0]}" "$work/first.toml" > "$work/first.log" 2>&1 &
wait_up
today=
for _ in $(seq 1 100); do
  today=$(ls "$work/data" | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}\.db$' | head -1 || true)
  [ -n "$today" ] && break
  sleep 0.1
done
kill %1; wait %1 || true
[ -n "$today" ] || { echo "no day partition was created" >&2; exit 1; }
python3 - "$work/data" "$work/data/$today" <<'PY'
import datetime, math, os, sqlite3, sys, time
data, today = sys.argv[1], sys.argv[2]
src = sqlite3.connect(today)
schema = ";\n".join(r[0] for r in src.execute(
    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")) + ";"
app_id = src.execute("PRAGMA application_id").fetchone()[0]
version = src.execute("PRAGMA user_version").fetchone()[0]
page = src.execute("PRAGMA page_size").fetchone()[0]
src.close()
DAY = 86_400_000
now = int(time.time() * 1000) // 10_000 * 10_000
conns = {}
def conn(day):
    if day not in conns:
        name = datetime.datetime.fromtimestamp(day * 86400, datetime.timezone.utc).strftime("%Y-%m-%d.db")
        path = os.path.join(data, name)
        new = not os.path.exists(path)
        c = sqlite3.connect(path)
        if new:
            c.execute(f"PRAGMA page_size = {page}")
            c.executescript(schema)
            c.execute(f"PRAGMA application_id = {app_id}")
            c.execute(f"PRAGMA user_version = {version}")
            c.execute("PRAGMA journal_mode = wal")
        c.execute("INSERT OR IGNORE INTO series (agent_id, metric, labels) VALUES ('bench-host', 'bench.synthetic', '{}')")
        sid = c.execute("SELECT id FROM series WHERE agent_id='bench-host' AND metric='bench.synthetic'").fetchone()[0]
        conns[day] = (c, sid)
    return conns[day]
for ts in range(now - DAY, now, 10_000):
    c, sid = conn(ts // DAY)
    c.execute("INSERT OR IGNORE INTO samples_raw (minute, series_id, ts, value) VALUES (?,?,?,?)",
              (ts // 60_000, sid, ts, round(50 + 20 * math.sin(ts / 3_600_000), 2)))
for c, _ in conns.values():
    c.commit()
    c.close()
print(now - DAY, now - 10_000)
PY
from_ms=$(( ($(date +%s) * 1000 / 10000 * 10000) - 86400000 - 60000 ))
to_ms=$(( $(date +%s) * 1000 ))
iso() { date -u -d "@$(( $1 / 1000 ))" +%Y-%m-%dT%H:%M:%SZ; }
query="http://127.0.0.1:$port/v1/metrics?agent=bench-host&metric=bench.synthetic&from=$(iso $from_ms)&to=$(iso $to_ms)"

measure() {
  local bin=$1
  "$bin" "$work/server.toml" > "$work/server.log" 2>&1 &
  local pid=$!
  wait_up
  # The first maintenance pass (a minute after the start) compacts the
  # day into chunks: measure the normal mixed read path, not raw rows.
  for _ in $(seq 1 120); do
    python3 - "$work/data" <<'PY' && break
import glob, sqlite3, sys
files = glob.glob(sys.argv[1] + "/????-??-??.db")
def chunks(f):
    c = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
    return c.execute("SELECT count(*) FROM chunks").fetchone()[0]
sys.exit(0 if files and all(chunks(f) > 0 for f in files) else 1)
PY
    sleep 1
  done
  sleep 2
  local token
  token=$(curl -sf -X POST "http://127.0.0.1:$port/v1/auth/login" \
    -H 'content-type: application/json' \
    -d '{"username":"admin","password":"bench-Admin-Pw-1"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  local body
  body=$(curl -sf -H "Authorization: Bearer $token" "$query")
  local points
  points=$(python3 -c 'import json,sys; print(sum(len(s["points"]) for s in json.loads(sys.stdin.read())))' <<< "$body")
  wrk -t1 -c1 -d2s -H "Authorization: Bearer $token" "$query" > /dev/null
  local out
  out=$(wrk -t1 -c1 -d"$duration" --latency -H "Authorization: Bearer $token" "$query")
  local p50 p99 rps
  p50=$(awk '$1=="50%"{print $2}' <<< "$out")
  p99=$(awk '$1=="99%"{print $2}' <<< "$out")
  rps=$(awk '/^Requests\/sec/{print $2}' <<< "$out")
  echo "$bin points=$points bytes=${#body} requests/s=$rps p50=$p50 p99=$p99"
  kill "$pid"
  wait "$pid" || true
}

for _ in $(seq 1 ${ROUNDS:-2}); do
  for bin in "${servers[@]}"; do
    measure "$bin"
  done
done
