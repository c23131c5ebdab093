#!/usr/bin/env bash
# Whole-process CPU and memory of agent binaries side by side with Debian's
# node_exporter, all at the same time on this machine (docs/benchmarks.md,
# "Agent and collectors").
#
#   scripts/bench-agent.sh SERVER_BIN AGENT_BIN [AGENT_BIN...]
#
# Starts the server on 127.0.0.1:19090, then for each agent binary one agent
# at a 1 s interval (CPU per collection: many cycles) and one at the default
# 10 s (memory), and node_exporter on :9100 and :9101 scraped by curl every
# 1 s and 10 s. After WARMUP seconds (default 10) it measures for
# MEASURE_SECS (default 300): CPU as utime + stime of the whole process from
# /proc/PID/stat (1/100 s ticks, sampled: noisy) and as the exact time on
# the CPU of its live threads (/proc/PID/task/*/schedstat: a thread that
# exited in between is missed), RSS sampled every 10 s from
# /proc/PID/status, and the peak (VmHWM). Prints one line per process.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SERVER_BIN AGENT_BIN [AGENT_BIN...]" >&2; exit 2; }
server=$1; shift
secs=${MEASURE_SECS:-300}
warmup=${WARMUP:-10}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

printf 'grpc_port = 19090\nhttp_port = 18080\ndata_dir = "%s/data"\ngrpc_bind = "127.0.0.1"\nhttp_bind = "127.0.0.1"\n' "$work" > "$work/server.toml"
"$server" "$work/server.toml" 2> "$work/server.log" & pids+=($!)
sleep 2

declare -A proc
i=0
for bin in "$@"; do
  i=$((i + 1))
  for iv in 1 10; do
    name="agent$i-${iv}s"
    printf 'agent_id = "%s"\nserver_endpoint = "127.0.0.1:19090"\ncollection_interval_secs = %s\n' "$name" "$iv" > "$work/$name.toml"
    "$bin" "$work/$name.toml" 2> "$work/$name.log" & pids+=($!); proc[$name]=$!
  done
done
if command -v prometheus-node-exporter >/dev/null; then
  for port in 9100 9101; do
    prometheus-node-exporter --web.listen-address=127.0.0.1:$port 2> "$work/ne$port.log" & pids+=($!)
  done
  proc[node_exporter-1s]=${pids[-2]}; proc[node_exporter-10s]=${pids[-1]}
  total=$((warmup + secs + 10))
  ( for ((t = 0; t < total; t++)); do curl -s -o /dev/null http://127.0.0.1:9100/metrics; sleep 1; done ) & pids+=($!)
  ( for ((t = 0; t < total; t += 10)); do curl -s -o /dev/null http://127.0.0.1:9101/metrics; sleep 10; done ) & pids+=($!)
fi
sleep "$warmup"

# Nanoseconds on the CPU of the process's live threads (schedstat: exact,
# where utime + stime are sampled at the clock tick and off by several
# percent for a process that runs a millisecond a second).
oncpu() {
  local stats
  stats=$(cat /proc/"$1"/task/*/schedstat 2>/dev/null || true) # a thread may exit meanwhile
  awk '{s += $1} END {printf "%d", s}' <<< "$stats"
}

measure() {
  local name=$1 pid=$2 c0 c1 r max=0 sum=0 n=0
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  n0=$(oncpu "$pid")
  for ((t = 0; t < secs; t += 10)); do
    sleep 10
    r=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status")
    sum=$((sum + r)); n=$((n + 1)); [ "$r" -gt "$max" ] && max=$r
  done
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  n1=$(oncpu "$pid")
  echo "$name rss_avg_kib=$((sum / n)) rss_max_kib=$max hwm_kib=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status") cpu_ms=$(((c1 - c0) * 10)) oncpu_us=$(((n1 - n0) / 1000)) in ${secs} s"
}
measuring=()
for name in $(printf '%s\n' "${!proc[@]}" | sort); do
  measure "$name" "${proc[$name]}" & measuring+=($!)
done
wait "${measuring[@]}"
i=0
for bin in "$@"; do i=$((i + 1)); echo "agent$i = $bin"; done
