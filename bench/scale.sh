#!/usr/bin/env bash
# Measures the targets of issue 11 ("a million sites on one machine") in one run, on the release binary
# the repository builds. First the seed (default data, fresh store), then for each size N (SIZES,
# default "100000 1000000") N seeded synthetic sites over the Syr Darya basin, inside KAZ, KGZ, TJK or
# UZB and declaring the country they lie in (bench/scale/gen_sites.py), in a fresh store:
#   analyze  wall time of `tailings-atlas analyze` on the same N points (the start-up target is <= 3x);
#   import   wall time and peak RSS (/usr/bin/time) of `tailings-atlas import` of the N-row CSV;
#   serve    start to the first 200 from /health, VmRSS after start, memory per site against the seed;
#   wrk      req/s of `items?limit=100` and of a bbox page, p99 of near-border, kNN and the bbox page,
#            each against the seed's in the same run;
#   export   the whole inventory as GeoJSON with curl: time to first byte, MB/s, VmRSS before/after.
# Every step has a timeout (STEP_TIMEOUT); a step that fails (timeout, OOM, error) is recorded as a
# FAIL with its reason and the run goes on. Prints a Markdown report and writes it to
# bench/last_scale.md. Servers listen on a free port the OS picks, and are killed on exit.
# Usage: [SIZES="100000 1000000"] [DUR=10] [CONNS=16] [STEP_TIMEOUT=1800] [SEED=20261211]
#        [MEM_LIMIT_MB=85 % of RAM] [SETTLE=3 s before VmRSS is read]
#        [SERVE_ARGS="--page-cache-mb 0" (extra serve flags, for the seed and every size)] bench/scale.sh
set -uo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-100000 1000000}
dur=${DUR:-10}
conns=${CONNS:-16}
threads=${THREADS:-2}
step_timeout=${STEP_TIMEOUT:-1800}
settle=${SETTLE:-3}
seed=${SEED:-20261211}
read -r -a serve_args <<<"${SERVE_ARGS:-}"
near_q=${NEAR_QUERY:-/analysis/near-border?within_km=2&country=KGZ&neighbour=UZB}
knn_q=${KNN_QUERY:-/analysis/nearest?lon=71.5&lat=41.0&k=10}
bbox_q=${BBOX_QUERY:-/collections/sites/items?limit=100&bbox=65,43,66,44}
items_q=/collections/sites/items?limit=100
export_q=/collections/sites/items?f=geojson

./scripts/setup.sh || exit 1
need=()
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q "${need[@]}" || exit 1
fi
# numpy and shapely for the generator (point in polygon), in a virtualenv of its own.
py=bench/scale/.venv/bin/python
if ! "$py" -c 'import numpy, shapely' 2>/dev/null; then
  python3 -m venv bench/scale/.venv && bench/scale/.venv/bin/pip install -q numpy shapely || exit 1
fi
cargo build --release --locked -q || exit 1
bin=$PWD/target/release/tailings-atlas
work=$(mktemp -d)
pid=
watch=
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
export RUST_LOG=warn

results=$work/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }  # label key value
fail() { # label step reason
  record "$1" "$2.fail" "$3"
  echo "scale: $1: $2 FAILED: $3" >&2
}
note() { echo "scale: $*" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$1" "$(now)"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status" 2>/dev/null; }
exit_reason() { # status -> words
  case $1 in
    124) echo "timed out after ${step_timeout} s" ;;
    137) echo "killed (SIGKILL, out of memory?)" ;;
    *) echo "exit status $1" ;;
  esac
}

# Runs a command under /usr/bin/time and timeout; records KEY_s and KEY_rss_kb, or KEY.fail.
timed() { # label key log command...
  local label=$1 key=$2 log=$3; shift 3
  /usr/bin/time -f '%e %M %x' -o "$work/time" timeout --kill-after=10 "$step_timeout" "$@" >"$log" 2>&1
  local wall rss rc
  read -r wall rss rc < <(tail -1 "$work/time")
  if [ "${rc:-1}" -ne 0 ]; then
    fail "$label" "$key" "$(exit_reason "${rc:-1}"): $(tail -c 300 "$log" | tr '\n\t' '  ')"
    return 1
  fi
  record "$label" "${key}_s" "$wall"
  record "$label" "${key}_rss_kb" "$rss"
}

# The service is killed if its VmRSS passes MEM_LIMIT_MB (default 85 % of RAM), so that a size
# that does not fit fails here instead of waking the kernel's OOM killer on a shared machine.
mem_limit_kb=$(( ${MEM_LIMIT_MB:-$(awk '/MemTotal/ { printf "%d", $2 * 0.85 / 1024 }' /proc/meminfo)} * 1024 ))
watchdog() { # pid
  local r
  while kill -0 "$1" 2>/dev/null; do
    r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null)
    if [ "${r:-0}" -gt "$mem_limit_kb" ]; then
      echo "killed by bench/scale.sh: VmRSS $((r / 1024)) MiB passed MEM_LIMIT_MB=$((mem_limit_kb / 1024))" \
        >"$work/killed.$1"
      kill -9 "$1"
      return
    fi
    sleep 0.5
  done
}
# Why the service is gone, if it is ("" while it runs).
server_gone() {
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
    if [ -f "$work/killed.$pid" ]; then cat "$work/killed.$pid"; else echo "the server exited"; fi
  fi
}

stop_server() { # SIGTERM, then SIGKILL if it has not gone within 10 s
  [ -n "${watch:-}" ] && { kill "$watch" 2>/dev/null; wait "$watch" 2>/dev/null; watch=; }
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    local i
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
  fi
}

# Starts the service on STORE and waits for the first 200 from /health; records startup_s, rss_kb,
# hwm_kb and sites_served, or startup.fail. Leaves $pid and $base set when it serves.
start_server() { # label store
  local label=$1 store=$2 t0 deadline rc
  local port; port=$(free_port)
  base=http://127.0.0.1:$port
  t0=$(now)
  deadline=$(( $(date +%s) + step_timeout ))
  "$bin" serve --bind "127.0.0.1:$port" --store "$store" --data data "${serve_args[@]}" >"$work/serve.$label.log" 2>&1 &
  pid=$!
  watchdog "$pid" &
  watch=$!
  local polls=0
  until curl -fs -o /dev/null --max-time 10 "$base/health"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; rc=$?
      if [ -f "$work/killed.$pid" ]; then
        fail "$label" startup "$(cat "$work/killed.$pid")"
      else
        fail "$label" startup "the server exited ($(exit_reason $rc)): $(tail -c 300 "$work/serve.$label.log" | tr '\n\t' '  ')"
      fi
      stop_server
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      stop_server
      fail "$label" startup "no 200 from /health within ${step_timeout} s"
      return 1
    fi
    # Fine polling for the first seconds, then coarser, so the polls do not steal much of 2 cores.
    polls=$((polls + 1))
    if [ $polls -lt 200 ]; then sleep 0.01; else sleep 0.1; fi
  done
  record "$label" startup_s "$(since "$t0")"
  # The allocator returns start-up's scratch memory to the OS a little later: let it settle.
  sleep "$settle"
  record "$label" rss_kb "$(rss_kb VmRSS)"
  record "$label" hwm_kb "$(rss_kb VmHWM)"
  record "$label" sites_served "$(curl -fs --max-time 60 "$base/health" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["collections"]["sites"])' 2>/dev/null)"
}

# wrk on one URL; records rps_KEY, p99_KEY_ms, and bytes_KEY and count_KEY (numberReturned) of one
# response, or wrk_KEY.fail.
load() { # label key path
  local label=$1 key=$2 url=$base$3 out=$work/wrk.$1.$2 code
  code=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 120 "$url")
  if [ "$code" != 200 ]; then
    fail "$label" "wrk_$key" "GET $3 answered $code: $(server_gone) $(head -c 200 "$work/body")"
    return 1
  fi
  record "$label" "bytes_$key" "$(stat -c %s "$work/body")"
  record "$label" "count_$key" "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["numberReturned"])' \
    <"$work/body" 2>/dev/null)"
  timeout $((dur + 120)) wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 10s --latency "$url" >"$out" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    fail "$label" "wrk_$key" "wrk: $(exit_reason $rc): $(server_gone) $(tail -c 200 "$out" | tr '\n\t' '  ')"
    return 1
  fi
  if grep -q 'Non-2xx' "$out"; then
    fail "$label" "wrk_$key" "$(grep 'Non-2xx' "$out" | xargs)"
    return 1
  fi
  # Requests that took longer than wrk's --timeout are not in its latencies: such a p99 is no p99.
  local errors; errors=$(grep 'Socket errors' "$out" | xargs)
  if [[ $errors =~ timeout\ ([1-9][0-9]*) ]]; then
    fail "$label" "wrk_$key" "${BASH_REMATCH[1]} requests took over 10 s (wrk: $errors)"
    return 1
  fi
  [ -n "$errors" ] && note "$label $key: $errors"
  record "$label" "rps_$key" "$(awk '/Requests\/sec/ { print $2 }' "$out")"
  # wrk prints latencies as 812.00us, 6.20ms, 1.02s or 2.00m.
  record "$label" "p99_${key}_ms" "$(awk '$1 == "99%" {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 0
    print v * f }' "$out")"
  return 0
}

# The whole GeoJSON export with curl: time to first byte, size and total time, VmRSS around it.
export_all() { # label
  local label=$1 before code ttfb total size
  before=$(rss_kb VmRSS)
  read -r code ttfb total size < <(curl -s -o /dev/null --max-time "$step_timeout" \
    -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}\n' "$base$export_q")
  if [ "$code" != 200 ]; then
    fail "$label" export "GET $export_q answered ${code:-nothing} after ${total:-?} s $(server_gone)"
    return 1
  fi
  record "$label" export_rss_before_kb "$before"
  record "$label" export_rss_after_kb "$(rss_kb VmRSS)"
  record "$label" export_ttfb_s "$ttfb"
  record "$label" export_total_s "$total"
  record "$label" export_bytes "$size"
}

serve_and_measure() { # label store
  start_server "$1" "$2" || return 1
  load "$1" items "$items_q"
  load "$1" bbox "$bbox_q"
  load "$1" near "$near_q"
  load "$1" knn "$knn_q"
  [ "$1" != seed ] && export_all "$1"
  stop_server
}

# A fresh store, created and seeded from data/ (as every size's store is) before it is served.
new_store() { # path label
  if ! timeout "$step_timeout" "$bin" token list --store "$1" --data data >"$work/seed.log" 2>&1; then
    fail "$2" startup "could not create the store: $(tail -c 300 "$work/seed.log" | tr '\n\t' '  ')"
    return 1
  fi
}

note "seed: serving the default data"
new_store "$work/seed.gpkg" seed && serve_and_measure seed "$work/seed.gpkg"
rm -f "$work"/seed.gpkg*

for n in $sizes; do
  note "N=$n: generating the sites"
  csv=$work/sites_$n.csv
  if ! timeout "$step_timeout" "$py" bench/scale/gen_sites.py "$n" "$csv" --seed "$seed" \
      >"$work/gen.log" 2>&1; then
    fail "$n" startup "generating the sites failed: $(tail -c 300 "$work/gen.log" | tr '\n\t' '  ')"
    continue
  fi
  note "N=$n: analyze"
  timed "$n" analyze "$work/analyze.log" "$bin" analyze "$csv" --out "$work/analyzed.csv" --data data
  rm -f "$work/analyzed.csv"
  note "N=$n: import"
  store=$work/store_$n.gpkg
  if new_store "$store" "$n" &&
     timed "$n" import "$work/import.log" "$bin" import "$csv" --store "$store" --data data --max-rows "$n"; then
    note "N=$n: serve, wrk, export"
    serve_and_measure "$n" "$store"
  fi
  rm -f "$csv" "$store"*
done

export META_NPROC META_CPU META_RAM META_KERNEL META_RUSTC META_COMMIT META_DATE META_SIZES META_SEED \
  META_THREADS META_CONNS META_DUR META_NEAR META_KNN META_BBOX META_SERVE_ARGS
META_SERVE_ARGS=${SERVE_ARGS:-none}
META_NPROC=$(nproc)
META_CPU=$(awk -F: '/model name/ { gsub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo)
META_RAM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
META_KERNEL=$(uname -sr)
META_RUSTC=$(rustc --version | cut -d' ' -f1-2)
META_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (with uncommitted changes to src)')"
META_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
META_SIZES=$sizes META_SEED=$seed META_THREADS=$threads META_CONNS=$conns META_DUR=$dur
META_NEAR=$near_q META_KNN=$knn_q META_BBOX=$bbox_q
python3 bench/scale/report.py "$results" | tee bench/last_scale.md
