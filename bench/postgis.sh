#!/usr/bin/env bash
# Issue 14 §5: the PostGIS store against the GeoPackage store, same data, same run, release build:
#   1. CLI import of ROWS seeded synthetic sites (bench/store.sh's CSV generator, seed 42) into a
#      fresh seeded GeoPackage and into a fresh seeded PostGIS database (seeded first with
#      `token list`, so seeding is not timed): wall time each; target pg/gpkg <= 1.5x;
#   2. single-site PATCH latency (sequential, If-Match, as bench/store.sh) on the default data:
#      p50/p90/p99 each; target p99 pg/gpkg <= 3x;
#   3. items throughput: wrk on /collections/sites/items?limit=100 against `serve` on each imported
#      store, with the default page cache and without it (--page-cache-mb 0): req/s;
#   4. replica propagation delay: two replicas (`serve --workers 1` each) on one store (default
#      data) per backend; PROPAGATION PATCHes on A, each followed by polling B every 5 ms until B
#      answers A's ETag (timeout 10 s): p50/p99/max; target p99 <= 1000 ms (a bound) for each.
# PostgreSQL: a throw-away cluster on a unix socket (bench/pg/cluster.sh) with its default
# durability settings (fsync, synchronous_commit, full_page_writes on), which the output states:
# the GeoPackage store commits durably too (WAL, synchronous=FULL).
# Prints a Markdown block and writes it to bench/last_postgis.md.
# Usage: [ATLAS_BIN=path (else built here)] [DURATION=10] [PROPAGATION=100] [CONNS=16] [THREADS=2]
#        bench/postgis.sh [rows=100000] [updates=300]
set -uo pipefail
cd "$(dirname "$0")/.."
bench_name=postgis
rows=${1:-100000}
updates=${2:-300}
dur=${DURATION:-10}
nprop=${PROPAGATION:-100}
conns=${CONNS:-16}
threads=${THREADS:-2}
source bench/pg/common.sh
source bench/pg/cluster.sh
./scripts/setup.sh || die "scripts/setup.sh failed"
for c in curl python3 wrk; do command -v $c >/dev/null || die "bench needs $c"; done
atlas_bin
data=$PWD/data
work=$(mktemp -d)
chmod 711 "$work" # the cluster's directory inside it belongs to atlas-pg when we are root
trap 'stop_all; pg_stop; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
export RUST_LOG=warn
load_before=$(load_now)
started=$(date -u '+%Y-%m-%d %H:%M UTC')

note "generating $rows sites (seed 42)"
python3 bench/synthetic_sites.py "$work/sites.csv" "$rows"

note "starting PostgreSQL"
pg_start "$work/pg" || die "cannot start PostgreSQL"
pg_conf=$(pg_settings)
for db in big small prop; do pg_createdb "$db" >/dev/null || die "cannot create database $db"; done
declare -A store
store[gpkg.big]=$work/big.gpkg
store[gpkg.small]=$work/small.gpkg
store[gpkg.prop]=$work/prop.gpkg
store[pg.big]=$(pg_url big)
store[pg.small]=$(pg_url small)
store[pg.prop]=$(pg_url prop)
backends=(gpkg pg)
declare -A label=([gpkg]=GeoPackage [pg]=PostGIS)
# Seeding is not part of an import.
for k in "${!store[@]}"; do
  "$bin" token list --store "${store[$k]}" --data "$data" >"$work/seed.log" 2>&1 ||
    die "cannot seed $k: $(tail -c 300 "$work/seed.log")"
done

# --- 1. import ------------------------------------------------------------------------------------
declare -A import_ms import_line
for b in "${backends[@]}"; do
  note "importing $rows sites into ${label[$b]}"
  t0=$(date +%s%N)
  "$bin" import "$work/sites.csv" --store "${store[$b.big]}" --data "$data" >"$work/import.$b.log" 2>&1 ||
    die "import into ${label[$b]} failed: $(tail -c 400 "$work/import.$b.log")"
  t1=$(date +%s%N)
  import_ms[$b]=$(( (t1 - t0) / 1000000 ))
  grep -q "$rows created" "$work/import.$b.log" ||
    die "import into ${label[$b]} did not create $rows sites: $(tail -c 400 "$work/import.$b.log")"
  import_line[$b]=$(grep -o '[0-9]* created.*' "$work/import.$b.log" | head -1)
done
import_ratio=$(ratio "${import_ms[pg]}" "${import_ms[gpkg]}")

# --- 2. PATCH latency -------------------------------------------------------------------------------
declare -A lat
for b in "${backends[@]}"; do
  note "PATCH latency on ${label[$b]} ($updates sequential)"
  tok=$(token "${store[$b.small]}")
  serve lat "${store[$b.small]}"
  lat[$b]=$(python3 bench/pg/patch_latency.py "$port_lat" "$tok" "$updates") || die "PATCH loop failed on ${label[$b]}"
  stop_pid "$pid_lat"
done
read -r g50 g90 g99 <<<"${lat[gpkg]}"
read -r p50 p90 p99 <<<"${lat[pg]}"
lat_ratio=$(ratio "$p99" "$g99")

# --- 3. items throughput ---------------------------------------------------------------------------
items=/collections/sites/items?limit=100
declare -A rps p99ms matched
for b in "${backends[@]}"; do
  for cache in default 0; do
    note "wrk on ${label[$b]} (page cache $cache) for $dur s"
    if [ "$cache" = default ]; then serve items "${store[$b.big]}"; else serve items "${store[$b.big]}" -- --page-cache-mb 0; fi
    n=$(curl -fs "http://127.0.0.1:$port_items$items" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(len(d["features"]), d.get("numberMatched"))') ||
      die "GET $items failed on ${label[$b]}"
    [ "${n%% *}" = 100 ] || die "GET $items on ${label[$b]}: $n features"
    wrk_run "$work/wrk.$b.$cache" -- -t"$threads" -c"$conns" -d"${dur}s" "http://127.0.0.1:$port_items$items"
    rps[$b.$cache]=$(wrk_rps "$work/wrk.$b.$cache")
    p99ms[$b.$cache]=$(wrk_ms 99% "$work/wrk.$b.$cache")
    matched[$b]=${n#* }
    stop_pid "$pid_items"
  done
done

# --- 4. replica propagation ------------------------------------------------------------------------
declare -A prop prop_verdict
for b in "${backends[@]}"; do
  note "propagation between two replicas on ${label[$b]} ($nprop edits)"
  tok=$(token "${store[$b.prop]}")
  serve ra "${store[$b.prop]}" -- --workers 1
  serve rb "${store[$b.prop]}" -- --workers 1
  prop[$b]=$(python3 bench/pg/propagation.py "$port_ra" "$port_rb" "$tok" "$nprop") || die "propagation loop failed on ${label[$b]}"
  stop_pid "$pid_ra"; stop_pid "$pid_rb"
  read -r _ x99 _ _ _ <<<"${prop[$b]}"
  prop_verdict[$b]=$(verdict "$x99" '<=' 1000)
done
load_after=$(load_now)

# --- report ------------------------------------------------------------------------------------------
out=$work/report.md
{
cat <<MD
### PostGIS against GeoPackage (\`bench/postgis.sh $rows $updates\`)

Measured $started on $(machine), release build, one run; load average (1/5/15 min) before
$load_before, after $load_after. PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (throw-away
cluster, unix socket, same machine): $pg_conf. GeoPackage: WAL, synchronous=FULL.

| step | GeoPackage | PostGIS | pg / gpkg | target | verdict |
|---|---:|---:|---:|---:|---|
| CLI import of $rows sites (wall) | ${import_ms[gpkg]} ms | ${import_ms[pg]} ms | ${import_ratio}x | <= 1.5x | $(verdict "$import_ratio" '<=' 1.5) |
| PATCH p50, $updates sequential, default data | $g50 ms | $p50 ms | $(ratio "$p50" "$g50")x | | |
| PATCH p90 | $g90 ms | $p90 ms | $(ratio "$p90" "$g90")x | | |
| PATCH p99 | $g99 ms | $p99 ms | ${lat_ratio}x | <= 3x | $(verdict "$lat_ratio" '<=' 3) |
| \`GET $items\`, page cache on (req/s) | ${rps[gpkg.default]} | ${rps[pg.default]} | $(ratio "${rps[pg.default]}" "${rps[gpkg.default]}")x | | |
| \`GET $items\`, \`--page-cache-mb 0\` (req/s) | ${rps[gpkg.0]} | ${rps[pg.0]} | $(ratio "${rps[pg.0]}" "${rps[gpkg.0]}")x | | |

Import lines: GeoPackage \`${import_line[gpkg]}\`; PostGIS \`${import_line[pg]}\`.
Items: wrk -t$threads -c$conns -d${dur}s on the same machine, \`serve\` with its default workers ($(nproc)),
on the imported store (numberMatched: GeoPackage ${matched[gpkg]}, PostGIS ${matched[pg]}); wrk p99:
cache on ${p99ms[gpkg.default]} / ${p99ms[pg.default]} ms, cache off ${p99ms[gpkg.0]} / ${p99ms[pg.0]} ms (gpkg / pg).

Replica propagation: two replicas (\`serve --workers 1\` each) on one store with the default data;
$nprop sequential PATCHes on A, after each B polled every 5 ms until it answers A's ETag (timeout
10 s; a timeout counts as infinite). Delay from A's answer to B's first matching answer:

| backend | p50 | p99 | max | timeouts | PATCH p50 on A | target p99 | verdict |
|---|---:|---:|---:|---:|---:|---:|---|
MD
for b in "${backends[@]}"; do
  read -r x50 x99 xmax xto xpatch <<<"${prop[$b]}"
  echo "| ${label[$b]} | $x50 ms | $x99 ms | $xmax ms | $xto | $xpatch ms | <= 1000 ms | ${prop_verdict[$b]} |"
done
} >"$out"
cp "$out" bench/last_postgis.md
cat "$out"
