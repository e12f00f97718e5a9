#!/usr/bin/env bash
# Measures the release binary on the default data:
#   1. time from process start to the first 200 from /health: with a fresh store (seeding included)
#      and with an existing store;
#   2. resident memory (VmRSS, and peak VmHWM) after start-up and after the load run;
#   3. throughput and latency percentiles of GET /collections/sites/items?limit=100 under wrk,
#      plain and with gzip.
# Prints a Markdown block for the README. wrk comes from Debian (installed if missing).
# Usage: bench/serve.sh [duration_s=20] [connections=32]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-20}
conns=${2:-32}
port=${ATLAS_BENCH_PORT:-18080}
./scripts/setup.sh
if ! command -v wrk >/dev/null; then
  sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q wrk
fi
command -v curl >/dev/null || { echo "bench needs curl" >&2; exit 1; }
cargo build --release --locked -q
bin=target/release/tailings-atlas
work=$(mktemp -d)
trap 'if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

start_and_wait() {
  local t0 t1
  if curl -fs -o /dev/null "http://127.0.0.1:$port/health"; then
    echo "port $port is already serving; stop that process or set ATLAS_BENCH_PORT" >&2; exit 1
  fi
  t0=$(date +%s%N)
  RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --store "$work/atlas.gpkg" --data data >"$work/out" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/out" >&2; exit 1; }
    sleep 0.005
  done
  t1=$(date +%s%N)
  ready_ms=$(( (t1 - t0) / 1000000 ))
}
rss() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

pid=
start_and_wait; cold_ms=$ready_ms
kill "$pid"; wait "$pid" 2>/dev/null || true
start_and_wait; warm_ms=$ready_ms
rss_start=$(rss VmRSS)

url="http://127.0.0.1:$port/collections/sites/items?limit=100"
curl -fs -o /dev/null "$url"
wrk -t2 -c"$conns" -d"${dur}s" --latency "$url" >"$work/plain"
wrk -t2 -c"$conns" -d"${dur}s" --latency -H 'Accept-Encoding: gzip' "$url" >"$work/gzip"
rss_after=$(rss VmRSS)
hwm=$(rss VmHWM)
bytes=$(curl -fs "$url" | wc -c)

row() {
  local f=$1 label=$2
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$f")
  p50=$(awk '$1 == "50%" {print $2}' "$f")
  p99=$(awk '$1 == "99%" {print $2}' "$f")
  echo "| $label | $rps | $p50 | $p99 |"
}

cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
cat <<OUT
Machine: $(nproc) cores ($cpu), $mem RAM, $(uname -sr); $(rustc --version | cut -d' ' -f1-2), release build.
Date: $(date -u +%Y-%m-%d). wrk -t2 -c$conns -d${dur}s on the same machine (client and server share the 2 cores).

| measure | value |
|---|---|
| start to first /health 200, fresh store (creates and seeds atlas.gpkg) | ${cold_ms} ms |
| start to first /health 200, existing store | ${warm_ms} ms |
| resident memory after start-up (VmRSS) | ${rss_start} MiB |
| resident memory after the load runs (VmRSS / peak VmHWM) | ${rss_after} / ${hwm} MiB |

GET /collections/sites/items?limit=100 (27 features, ${bytes} bytes uncompressed):

| run | requests/s | p50 | p99 |
|---|---|---|---|
$(row "$work/plain" "identity")
$(row "$work/gzip" "gzip")
OUT
