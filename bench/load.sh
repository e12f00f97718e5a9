#!/usr/bin/env bash
# Issue 15 §2 "Load": the release binary on the default data, at saturation for DUR seconds
# (default 60) on each of items, one feature, a vector tile and proximity, with wrk (2 threads,
# CONNS connections, default 64). Passes when every response of every run was a 2xx (wrk's
# "Non-2xx or 3xx responses" and socket errors both 0) and resident memory stays flat: VmRSS at
# the end within 10 % of VmRSS after a warm-up run of each request. Prints a Markdown table and
# saves it as bench/last_load.md. wrk comes from Debian (installed if missing).
# Usage: DUR=60 CONNS=64 bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${DUR:-60}
conns=${CONNS:-64}
port=${ATLAS_BENCH_PORT:-18090}
./scripts/setup.sh
if ! command -v wrk >/dev/null; then
  sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q wrk
fi
cargo build --release --locked -q
bin=target/release/tailings-atlas
work=$(mktemp -d)
trap 'if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
if curl -fs -o /dev/null "http://127.0.0.1:$port/health"; then
  echo "port $port is already serving; stop that process or set ATLAS_BENCH_PORT" >&2; exit 1
fi
RUST_LOG=warn "$bin" serve --bind "127.0.0.1:$port" --store "$work/atlas.gpkg" --data data >"$work/out" 2>&1 &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/out" >&2; exit 1; }
  sleep 0.05
done
rss() { awk '$1 == "VmRSS:" { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

base="http://127.0.0.1:$port"
names=(items feature tile proximity)
urls=(
  "$base/collections/sites/items?limit=100"
  "$base/collections/sites/items/kgz_mailuu_suu_complex"
  "$base/collections/rivers/tiles/WebMercatorQuad/7/89/47"
  "$base/analysis/proximity?lon=72.35&lat=41.35"
)
for u in "${urls[@]}"; do
  curl -fs -o /dev/null "$u" || { echo "not a 200: $u" >&2; exit 1; }
done
# Warm-up: every request at saturation for a tenth of the time, then the baseline memory.
for u in "${urls[@]}"; do wrk -t2 -c"$conns" -d"$(( dur / 10 + 1 ))s" "$u" >/dev/null; done
rss_warm=$(rss)

out=bench/last_load.md
{
  echo "## bench/load.sh: issue 15 §2, load at saturation"
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; commit $(git rev-parse --short HEAD); $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo "wrk -t2 -c$conns -d${dur}s on the same machine as the server (they share the cores); release build, default data."
  echo
  echo "| request | requests/s | p50 | p99 | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|"
} >"$out"
fail=0
for i in "${!urls[@]}"; do
  wrk -t2 -c"$conns" -d"${dur}s" --latency "${urls[$i]}" >"$work/run"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/run")
  p50=$(awk '$1 == "50%" {print $2}' "$work/run")
  p99=$(awk '$1 == "99%" {print $2}' "$work/run")
  non2xx=$(awk '/Non-2xx or 3xx responses/ {print $5}' "$work/run"); non2xx=${non2xx:-0}
  sock=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/run"); sock=${sock:-0}
  [ "$non2xx" = 0 ] && [ "$sock" = 0 ] || fail=1
  echo "| ${names[$i]} \`${urls[$i]#"$base"}\` | $rps | $p50 | $p99 | $non2xx | $sock |" >>"$out"
done
rss_end=$(rss)
rise=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%+.1f", (b - a) / a * 100 }')
flat=$(awk -v r="$rise" 'BEGIN { print (r <= 10.0) ? "yes" : "no" }')
[ "$flat" = yes ] || fail=1
{
  echo
  echo "VmRSS after the warm-up: $rss_warm MB; at the end: $rss_end MB ($rise %; target within 10 %: $flat)."
  echo
  if [ "$fail" = 0 ]; then echo "Result: PASS (0 errors, memory flat)."; else echo "Result: FAIL."; fi
} >>"$out"
cat "$out"
exit "$fail"
