#!/usr/bin/env bash
# Issue 14 §5: read throughput behind nginx, one replica against two, release build, same run.
# Each replica is `serve --workers 1` pinned to a core of its own (taskset -c 0, taskset -c 1), on
# one store with the default data (a fresh GeoPackage; and a fresh PostGIS database on a throw-away
# cluster, bench/pg/cluster.sh, unless BACKENDS says otherwise). In front: Debian's nginx running
# deploy/nginx.conf rewritten as tests/api/replicas.rs does (upstream `server` lines: one per
# replica, the shipped options kept; `listen` on 127.0.0.1:<free port>), as one process
# (daemon off, master_process off) with its pid, logs and temp files in a scratch directory.
# wrk -t$THREADS -c$CONNS -d${duration}s through nginx on /collections/sites/items?limit=10 and on
# /collections/sites/items/kgz_sumsar, after a 2 s warm-up of the same URL.
# On a 2-core machine nginx and wrk need CPU too; each VARIANT places them the same way for one
# and for two replicas:
#   shared  nginx and wrk on both cores (taskset -c 0,1), competing with the replicas;
#   core1   nginx and wrk on core 1: one replica has core 0 to itself, the second shares core 1.
# The CPU time each process used during a timed run is reported (in cores: CPU s / wall s). For
# reference, one replica on core 0 is also measured without nginx, wrk on core 1 (**direct**).
# Target: two / one >= 1.6x (req/s) per path and variant -> PASS/FAIL lines.
# Prints Markdown and writes it to bench/last_replicas.md.
# A heavier read, where a replica's own work outweighs nginx's and wrk's: ROWS=N imports N seeded
# synthetic sites (bench/synthetic_sites.py) into each store first; PATHS (space-separated) replaces
# the two paths; SERVE_ARGS are added to every `serve` (e.g. "--page-cache-mb 0").
# Usage: [ATLAS_BIN=path (else built here)] [BACKENDS="gpkg pg"] [VARIANTS="shared core1"]
#        [CONNS=16] [THREADS=2] [ROWS=N] [PATHS="..."] [SERVE_ARGS="..."] [OUT=bench/last_replicas.md] bench/replicas.sh [duration=15]
set -uo pipefail
cd "$(dirname "$0")/.."
bench_name=replicas
dur=${1:-15}
conns=${CONNS:-16}
threads=${THREADS:-2}
read -ra backends <<<"${BACKENDS:-gpkg pg}"
read -ra variants <<<"${VARIANTS:-shared core1}"
read -ra serve_args <<<"${SERVE_ARGS:-}"
rows=${ROWS:-}
cache_note=
[ -z "${SERVE_ARGS:-}" ] && cache_note=", page cache on"
source bench/pg/common.sh
source bench/pg/cluster.sh
ATLAS_NEED_QGIS=${ATLAS_NEED_QGIS:-0} ./scripts/setup.sh || die "scripts/setup.sh failed"
for c in curl python3 wrk taskset; do command -v $c >/dev/null || die "bench needs $c"; done
[ -x /usr/sbin/nginx ] || die "nginx is not installed (apt-get install nginx-light; scripts/setup.sh does with ATLAS_NEED_QGIS=1)"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 cores (one per replica)"
atlas_bin
data=$PWD/data
work=$(mktemp -d)
chmod 711 "$work"
nginx_pid=
trap 'stop_all; pg_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
export RUST_LOG=warn
load_before=$(load_now)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

declare -A store label=([gpkg]=GeoPackage [pg]=PostGIS)
for b in "${backends[@]}"; do
  case $b in
    gpkg) store[gpkg]=$work/atlas.gpkg ;;
    pg)
      pg_start "$work/pg" || die "cannot start PostgreSQL"
      pg_createdb replicas >/dev/null || die "cannot create the database"
      store[pg]=$(pg_url replicas)
      pg_conf=$(pg_settings)
      ;;
    *) die "unknown backend $b (gpkg, pg)" ;;
  esac
  "$bin" token list --store "${store[$b]}" --data "$data" >"$work/seed.log" 2>&1 ||
    die "cannot seed ${label[$b]}: $(tail -c 300 "$work/seed.log")"
  if [ -n "$rows" ]; then
    [ -f "$work/sites.csv" ] || python3 bench/synthetic_sites.py "$work/sites.csv" "$rows"
    "$bin" import "$work/sites.csv" --store "${store[$b]}" --data "$data" >"$work/import.$b.log" 2>&1 ||
      die "cannot import into ${label[$b]}: $(tail -c 300 "$work/import.$b.log")"
  fi
done

# nginx CPUS UPSTREAM...: (re)starts nginx on a free port; sets nginx_port, nginx_pid.
nginx() {
  local cpus=$1 d=$work/nginx
  shift
  [ -n "$nginx_pid" ] && stop_pid "$nginx_pid"
  mkdir -p "$d"
  nginx_port=$(free_port)
  python3 bench/pg/nginx_conf.py deploy/nginx.conf "127.0.0.1:$nginx_port" "$@" >"$d/site.conf" ||
    die "cannot rewrite deploy/nginx.conf"
  cat >"$d/nginx.conf" <<CONF
daemon off;
master_process off;
error_log $d/nginx-error.log warn;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $d/nginx-body;
  proxy_temp_path $d/nginx-proxy;
  include $d/site.conf;
}
CONF
  taskset -c "$cpus" /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -e "$d/nginx-error.log" >"$d/out" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
  local i
  for i in $(seq 200); do
    curl -fs -o /dev/null --max-time 5 "http://127.0.0.1:$nginx_port/health" && return 0
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(tail -c 400 "$d/nginx-error.log" "$d/out")"
    sleep 0.05
  done
  die "nginx did not answer in 10 s: $(tail -c 400 "$d/nginx-error.log")"
}

ticks() { # pid: user+system CPU ticks so far
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
hz=$(getconf CLK_TCK)
# The whole machine's busy and steal ticks so far (all cores; busy excludes idle, iowait and steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }

paths=("/collections/sites/items?limit=10" "/collections/sites/items/kgz_sumsar")
[ -n "${PATHS:-}" ] && read -ra paths <<<"$PATHS"
results=$work/results.tsv
: >"$results"
# measure BACKEND VARIANT REPLICAS WRK_CPUS PORT PID_A PID_B PID_NGINX (- for none): wrk on each path.
cores() { # pid ticks_before wall_s: cores used since
  [ "$1" = - ] && { echo -; return; }
  python3 -c "print(f'{($(ticks "$1") - $2) / $hz / $3:.2f}')"
}
measure() {
  local b=$1 v=$2 n=$3 wcpus=$4 port=$5 i path out w0 w1 wall pid cpu=()
  shift 5
  local watched=("$@")
  for i in "${!paths[@]}"; do
    path=${paths[$i]}
    out=$work/wrk.$b.$v.$n.$i
    wrk_run "$out.warm" taskset -c "$wcpus" -- -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$port$path"
    local before=()
    for pid in "${watched[@]}"; do if [ "$pid" = - ]; then before+=(0); else before+=("$(ticks "$pid")"); fi; done
    local m0 m1
    m0=$(machine_ticks)
    w0=$(date +%s%N)
    TIMEFORMAT='%U %S'
    { time wrk_run "$out" taskset -c "$wcpus" -- -t"$threads" -c"$conns" -d"${dur}s" \
        "http://127.0.0.1:$port$path" 2>"$out.err"; } 2>"$out.time"
    w1=$(date +%s%N)
    m1=$(machine_ticks)
    wall=$(python3 -c "print(($w1 - $w0) / 1e9)")
    cpu=()
    local k
    for k in "${!watched[@]}"; do cpu+=("$(cores "${watched[$k]}" "${before[$k]}" "$wall")"); done
    cpu+=("$(python3 -c "import sys; u, s = map(float, open(sys.argv[1]).read().split()); print(f'{(u + s) / $wall:.2f}')" "$out.time")")
    cpu+=("$(python3 -c "import sys; b0, s0, b1, s1 = map(int, sys.argv[1:]); print(f'{(b1 - b0) / $hz / $wall:.2f} {(s1 - s0) / $hz / $wall:.2f}')" $m0 $m1)")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$v" "$n" "$i" "$(wrk_rps "$out")" \
      "$(wrk_ms 50% "$out")" "$(wrk_ms 99% "$out")" "${cpu[@]}" >>"$results"
  done
}

for b in "${backends[@]}"; do
  note "${label[$b]}: one replica (core 0) without nginx, wrk on core 1"
  serve a "${store[$b]}" taskset -c 0 -- --workers 1 "${serve_args[@]}"
  measure "$b" direct 1 1 "$port_a" "$pid_a" - -
  stop_pid "$pid_a"
  for v in "${variants[@]}"; do
    case $v in
      shared) ncpus=0,1 ;;
      core1) ncpus=1 ;;
      *) die "unknown variant $v (shared, core1)" ;;
    esac
    note "${label[$b]}, $v: one replica (core 0), nginx+wrk on cores $ncpus"
    serve a "${store[$b]}" taskset -c 0 -- --workers 1 "${serve_args[@]}"
    nginx "$ncpus" "127.0.0.1:$port_a"
    measure "$b" "$v" 1 "$ncpus" "$nginx_port" "$pid_a" - "$nginx_pid"
    note "${label[$b]}, $v: two replicas (cores 0 and 1), nginx+wrk on cores $ncpus"
    serve b "${store[$b]}" taskset -c 1 -- --workers 1 "${serve_args[@]}"
    nginx "$ncpus" "127.0.0.1:$port_a" "127.0.0.1:$port_b"
    measure "$b" "$v" 2 "$ncpus" "$nginx_port" "$pid_a" "$pid_b" "$nginx_pid"
    stop_pid "$nginx_pid"; nginx_pid=
    stop_pid "$pid_a"; stop_pid "$pid_b"
  done
done
load_after=$(load_now)

# --- report ------------------------------------------------------------------------------------------
out=$work/report.md
{
cat <<MD
### Read throughput behind nginx, one replica against two (\`bench/replicas.sh $dur\`)

Measured $started on $(machine), release build, one run; load average (1/5/15 min) before
$load_before, after $load_after. Each replica \`serve --workers 1${SERVE_ARGS:+ $SERVE_ARGS}\` (default data${rows:+ and $rows synthetic sites}${cache_note}),
replica A pinned with \`taskset -c 0\`, B with \`taskset -c 1\`; nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///')
running deploy/nginx.conf (upstream and listen rewritten; one process, master_process off; access
log off); wrk -t$threads -c$conns -d${dur}s through nginx over TCP after a 2 s warm-up.
Placement of nginx and wrk, the same for one and for two replicas: **shared** = both on
\`taskset -c 0,1\` (they compete with the replicas); **core1** = both on \`taskset -c 1\` (replica A
has core 0 to itself; B shares core 1 with them).
${pg_conf:+PostgreSQL: throw-away cluster on a unix socket, $pg_conf.}

| backend | placement | path | one replica req/s | two replicas req/s | two / one | target | verdict |
|---|---|---|---:|---:|---:|---:|---|
MD
for b in "${backends[@]}"; do
  for v in "${variants[@]}"; do
    for i in "${!paths[@]}"; do
      one=$(awk -F'\t' -v b="$b" -v v="$v" -v i="$i" '$1 == b && $2 == v && $3 == 1 && $4 == i { print $5 }' "$results")
      two=$(awk -F'\t' -v b="$b" -v v="$v" -v i="$i" '$1 == b && $2 == v && $3 == 2 && $4 == i { print $5 }' "$results")
      r=$(ratio "$two" "$one")
      echo "| ${label[$b]} | $v | \`${paths[$i]}\` | $one | $two | ${r}x | >= 1.6x | $(verdict "$r" '>=' 1.6) |"
    done
  done
done
cat <<MD

Every timed run, with wrk's latency and the CPU each process used during it, in cores (CPU seconds /
wall seconds; the machine has $(nproc)). **direct** = replica A alone on core 0, wrk on core 1, no nginx
(what one replica serves when nothing else shares its core). "machine busy" is all cores' non-idle
time from /proc/stat (ours, the kernel's network work for loopback TCP, and anything else running);
"steal" is time the hypervisor gave to other guests:

| backend | placement | replicas | path | req/s | p50 | p99 | CPU: replica A | replica B | nginx | wrk | sum | machine busy | steal |
|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
MD
while IFS=$'\t' read -r b v n i rps p50 p99 ca cb cn cw mach; do
  total=$(python3 -c "import sys; print(f'{sum(float(x) for x in sys.argv[1:] if x != \"-\"):.2f}')" "$ca" "$cb" "$cn" "$cw")
  echo "| ${label[$b]} | $v | $n | \`${paths[$i]}\` | $rps | $p50 ms | $p99 ms | $ca | $cb | $cn | $cw | $total | ${mach% *} | ${mach#* } |"
done <"$results"
} >"$out"
cp "$out" "${OUT:-bench/last_replicas.md}"
cat "$out"
