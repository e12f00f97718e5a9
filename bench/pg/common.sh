# Sourced by bench/postgis.sh and bench/replicas.sh: the binary, ports, replicas, wrk, the machine.
# Expects $work (a scratch directory) and $data (the --data directory) to be set by the caller.

note() { echo "$bench_name: $*" >&2; }
die() { note "$*"; exit 1; }

# The release binary: ATLAS_BIN if set (nothing is built then), else built here, as bench/store.sh does.
atlas_bin() {
  if [ -n "${ATLAS_BIN:-}" ]; then
    [ -x "$ATLAS_BIN" ] || die "ATLAS_BIN=$ATLAS_BIN is not an executable"
    bin=$ATLAS_BIN
  else
    cargo build --release --locked -q || die "cargo build --release failed"
    bin=$PWD/target/release/tailings-atlas
  fi
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
# serve NAME STORE [prefix command...] -- [serve args...]: starts `serve` on a free port, waits for
# /health; sets port_NAME and pid_NAME. A prefix (e.g. taskset -c 0) goes before the binary.
serve() {
  local name=$1 store=$2 pre=() p
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  p=$(free_port)
  "${pre[@]}" "$bin" serve --bind "127.0.0.1:$p" --store "$store" --data "$data" "$@" \
    >"$work/serve.$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  printf -v "port_$name" %s "$p"
  printf -v "pid_$name" %s "$pid"
  local deadline=$(( $(date +%s) + 600 ))
  until curl -fs -o /dev/null --max-time 10 "http://127.0.0.1:$p/health"; do
    kill -0 "$pid" 2>/dev/null || die "serve $name exited: $(tail -c 600 "$work/serve.$name.log")"
    [ "$(date +%s)" -lt "$deadline" ] || die "serve $name not ready in 600 s"
    sleep 0.05
  done
}

stop_pid() { # pid: TERM, then KILL after 10 s
  local i p keep=()
  kill "$1" 2>/dev/null
  for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  for p in "${pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  pids=("${keep[@]}")
}

stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
}

token() { # store: an admin token, made with the CLI
  "$bin" token create --role admin --name bench --store "$1" --data "$data" 2>"$work/token.log" ||
    die "token create failed: $(tail -c 300 "$work/token.log")"
}

# wrk_run OUT [prefix command...] -- wrk args...: runs wrk, fails on non-2xx answers or timeouts.
wrk_run() {
  local out=$1 pre=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  "${pre[@]}" wrk --timeout 10s --latency "$@" >"$out" 2>&1 || die "wrk failed: $(tail -c 300 "$out")"
  grep -q 'Non-2xx' "$out" && die "wrk: $(grep 'Non-2xx' "$out" | xargs) ($*)"
  grep -q 'Socket errors' "$out" && note "wrk: $(grep 'Socket errors' "$out" | xargs) ($*)"
  return 0
}
wrk_rps() { awk '/Requests\/sec/ { printf "%.0f", $2 }' "$1"; }
# wrk's latencies read as 812.00us, 6.20ms, 1.02s: in ms.
wrk_ms() { # percentile file
  awk -v p="$1" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 0
    printf "%.1f", v * f }' "$2"
}

load_now() { cut -d' ' -f1-3 /proc/loadavg; }
machine() {
  local cpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
  echo "$(nproc) vCPU ($cpu), $(free -g | awk '/Mem/ {print $2}') GB RAM"
}

# verdict VALUE OP TARGET: PASS or FAIL (OP is <= or >=), for a ratio or a bound.
verdict() { python3 -c "import sys; v, t = float(sys.argv[1]), float(sys.argv[3]); print('PASS' if (v <= t if sys.argv[2] == '<=' else v >= t) else 'FAIL')" "$1" "$2" "$3"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}')" "$1" "$2"; }
