#!/usr/bin/env bash
# Issue 13 §6: the same three requests on `sites` with the import bench's 100,000 seeded sites
# (bench/scale/gen_sites.py, imported into a fresh store), against ours and two peers, in one run:
#   ours      the release build of `tailings-atlas serve` (--page-cache-mb 0, so every request is
#             selected, sorted and written; a second run with the default page cache is shown too);
#   pygeoapi  (PyPI, pinned in bench/filter/requirements-pygeoapi.txt) with its PostgreSQL provider,
#             under gunicorn;
#   tipg      (PyPI, pinned in bench/filter/requirements-tipg.txt) under uvicorn;
# both peers on a throw-away PostgreSQL 15 + PostGIS 3 cluster (Debian's postgresql-15-postgis-3;
# initdb in a temp dir, a free port, its unix socket in the temp dir) holding the very features ours
# serves: its GeoPackage export, loaded with ogr2ogr, with indexes on the filtered and sorted columns.
# Requests, each a page of 100:
#   filter   filter=country='KGZ' AND river_distance_m < 30000 (CQL2 text)
#   sortby   sortby=-risk_score
#   crs      crs=http://www.opengis.net/def/crs/EPSG/0/32642
# Before a request is timed, bench/filter/check.py checks the server's answer against PostgreSQL's
# own evaluation of the same rows (count, order, projected coordinates). A non-200 answer is reported
# as "unsupported", a wrong one as "wrong"; neither is timed. wrk then measures req/s, p50 and p99.
# Every server gets WORKERS workers (default: nproc), and wrk runs on the same machine.
# Writes bench/last_filter.md (Markdown) and prints it.
# Usage: [N=100000] [DURATION=10] [CONNS=16] [THREADS=2] [WORKERS=$(nproc)] [SEED=20261211]
#        [CACHED=1 (also time ours with its page cache)] [STEP_TIMEOUT=1800] bench/filter.sh
set -uo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
dur=${DURATION:-10}
conns=${CONNS:-16}
threads=${THREADS:-2}
workers=${WORKERS:-$(nproc)}
seed=${SEED:-20261211}
cached=${CACHED:-1}
step_timeout=${STEP_TIMEOUT:-1800}
here=$PWD/bench/filter
pgbin=/usr/lib/postgresql/15/bin

note() { echo "filter: $*" >&2; }
die() { note "$*"; exit 1; }

# --- what the run needs -----------------------------------------------------------------------
./scripts/setup.sh || exit 1
sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
[ -x "$pgbin/initdb" ] || need+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  note "installing ${need[*]}"
  "${sudo[@]}" apt-get install -y -q "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi
venv() { # dir requirements import-check
  if ! "$1/bin/python" -c "$3" 2>/dev/null; then
    note "making $1"
    python3 -m venv "$1" && "$1/bin/pip" install -q -r "$2" || die "pip install -r $2 failed"
  fi
}
venv bench/scale/.venv <(printf 'numpy\nshapely\n') 'import numpy, shapely'
venv "$here/.venv-pygeoapi" "$here/requirements-pygeoapi.txt" 'import pygeoapi, psycopg2, gunicorn, pyproj'
venv "$here/.venv-tipg" "$here/requirements-tipg.txt" 'import tipg, uvicorn'
checker=("$here/.venv-pygeoapi/bin/python" "$here/check.py")

note "building the release binary (nice 19)"
nice -n 19 cargo build --release --locked -q || die "cargo build --release failed"
bin=$PWD/target/release/tailings-atlas

# --- scratch space, servers, clean-up ------------------------------------------------------------
work=$(mktemp -d)
chmod 711 "$work"
pids=()
pg_started=
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -n "$pg_started" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export RUST_LOG=warn
results=$work/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; } # server request key value
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url pid log: until a 200, while the process lives
  local deadline=$(( $(date +%s) + step_timeout ))
  until curl -fs -o /dev/null --max-time 10 "$1"; do
    kill -0 "$2" 2>/dev/null || { note "server exited: $(tail -c 400 "$3")"; return 1; }
    [ "$(date +%s)" -ge "$deadline" ] && { note "no 200 from $1 within $step_timeout s"; return 1; }
    sleep 0.1
  done
}
stop_pid() { # pid: TERM, then KILL after 10 s
  local i
  kill "$1" 2>/dev/null
  for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  local keep=() p
  for p in "${pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  pids=("${keep[@]}")
}

# PostgreSQL will not run as root: then the cluster belongs to the postgres user Debian creates.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root, but there is no postgres user to run the cluster"
  as_pg() { runuser -u postgres -- "$@"; }
  install -d -o postgres -m 700 "$work/pg"
else
  as_pg() { "$@"; }
  install -d -m 700 "$work/pg"
fi

# --- the data: N seeded sites imported into a fresh store ---------------------------------------
note "generating $n sites (seed $seed) and importing them"
csv=$work/sites.csv
timeout "$step_timeout" bench/scale/.venv/bin/python bench/scale/gen_sites.py "$n" "$csv" --seed "$seed" \
  >"$work/gen.log" 2>&1 || die "gen_sites.py failed: $(tail -c 300 "$work/gen.log")"
store=$work/store.gpkg
"$bin" token list --store "$store" --data data >"$work/seed.log" 2>&1 ||
  die "cannot create the store: $(tail -c 300 "$work/seed.log")"
timeout "$step_timeout" "$bin" import "$csv" --store "$store" --data data --max-rows "$n" \
  >"$work/import.log" 2>&1 || die "import failed: $(tail -c 300 "$work/import.log")"

ours_pid=
start_ours() { # extra serve args...
  local port; port=$(free_port)
  ours_base=http://127.0.0.1:$port
  "$bin" serve --bind "127.0.0.1:$port" --store "$store" --data data --workers "$workers" "$@" \
    >"$work/ours.log" 2>&1 &
  ours_pid=$!; pids+=("$ours_pid")
  wait_http "$ours_base/health" "$ours_pid" "$work/ours.log"
}

# --- the same features in PostGIS ----------------------------------------------------------------
note "exporting the served inventory and loading it into a throw-away PostGIS cluster"
start_ours --page-cache-mb 0 || die "our server did not start"
curl -fs --max-time "$step_timeout" -o "$work/sites.gpkg" "$ours_base/collections/sites/items?f=gpkg" ||
  die "GET /collections/sites/items?f=gpkg failed"
stop_pid "$ours_pid"

pgport=$(free_port)
sock=$work/pg
as_pg "$pgbin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$work/initdb.log" 2>&1 || die "initdb failed: $(tail -c 300 "$work/initdb.log")"
# Read-only benchmark data on a scratch cluster: no durability needed.
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w -o \
  "-p $pgport -k $sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c shared_buffers=256MB -c max_connections=200" \
  start >"$work/pgctl.log" 2>&1 || die "PostgreSQL did not start: $(tail -c 300 "$work/pgctl.log")"
pg_started=1
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$pgport" -U postgres "$@"; }
psql_ -d postgres -c 'CREATE DATABASE bench' || die "CREATE DATABASE failed"
psql_ -d bench -c 'CREATE EXTENSION postgis' || die "CREATE EXTENSION postgis failed"
ogr2ogr -f PostgreSQL "PG:host=$sock port=$pgport dbname=bench user=postgres" "$work/sites.gpkg" \
  -nln sites -lco GEOMETRY_NAME=geom -lco FID=ogc_fid -lco PRECISION=NO -lco SPATIAL_INDEX=GIST \
  >"$work/ogr2ogr.log" 2>&1 || die "ogr2ogr into PostGIS failed: $(tail -c 300 "$work/ogr2ogr.log")"
# The site id is the key; the filtered and sorted columns are indexed, as a PostGIS deployment would.
psql_ -d bench <<'SQL' || die "preparing the table failed"
ALTER TABLE sites DROP COLUMN ogc_fid;
ALTER TABLE sites ADD PRIMARY KEY (id);
CREATE INDEX sites_country_river ON sites (country, river_distance_m);
CREATE INDEX sites_risk_score ON sites (risk_score DESC);
VACUUM ANALYZE sites;
SQL
# What each answer must be, from PostgreSQL itself (independent of every server's own evaluation).
psql_ -d bench -At >"$work/expected.json" <<'SQL' || die "computing the expected answers failed"
SELECT json_build_object(
  'total', (SELECT count(*) FROM sites),
  'filter_count', (SELECT count(*) FROM sites WHERE country = 'KGZ' AND river_distance_m < 30000),
  'top_scores', (SELECT json_agg(risk_score ORDER BY risk_score DESC)
                 FROM (SELECT risk_score FROM sites ORDER BY risk_score DESC LIMIT 100) t));
SQL
total=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["total"])' "$work/expected.json")
note "PostGIS holds $total sites"

# --- the requests ------------------------------------------------------------------------------
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
cql=$(enc "country='KGZ' AND river_distance_m < 30000")
utm=$(enc "http://www.opengis.net/def/crs/EPSG/0/32642")
declare -A path
path[ours.filter]="/collections/sites/items?filter=$cql&filter-lang=cql2-text&limit=100"
path[ours.sortby]="/collections/sites/items?sortby=-risk_score&limit=100"
path[ours.crs]="/collections/sites/items?crs=$utm&limit=100"
# pygeoapi 0.21 names CQL2 text by the draft's name.
path[pygeoapi.filter]="/collections/sites/items?f=json&filter=$cql&filter-lang=cql-text&limit=100"
path[pygeoapi.sortby]="/collections/sites/items?f=json&sortby=-risk_score&limit=100"
path[pygeoapi.crs]="/collections/sites/items?f=json&crs=$utm&limit=100"
path[tipg.filter]="/collections/public.sites/items?filter=$cql&filter-lang=cql2-text&limit=100"
path[tipg.sortby]="/collections/public.sites/items?sortby=-risk_score&limit=100"
path[tipg.crs]="/collections/public.sites/items?crs=$utm&limit=100"
requests=(filter sortby crs)

# wrk's latencies read as 812.00us, 6.20ms, 1.02s or 2.00m: in ms.
wrk_ms() { # percentile file
  awk -v p="$1" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 0
    print v * f }' "$2"
}

measure() { # server label base
  local server=$1 label=$2 base=$3 r url out verdict status
  for r in "${requests[@]}"; do
    url=$base${path[$server.$r]}
    verdict=$("${checker[@]}" "$r" "$url" "$work/expected.json")
    status=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["status"])' "$verdict" 2>/dev/null)
    record "$label" "$r" check "$verdict"
    if [ "$status" != ok ]; then
      note "$label $r: ${status:-checker failed}: $verdict"
      continue
    fi
    note "$label $r: answer checked, wrk for $dur s"
    out=$work/wrk.$label.$r
    timeout $((dur + 120)) wrk -t"$threads" -c"$conns" -d"${dur}s" --timeout 10s --latency "$url" >"$out" 2>&1
    if [ $? -ne 0 ]; then
      record "$label" "$r" fail "wrk failed: $(tail -c 200 "$out" | tr '\n\t' '  ')"
      continue
    fi
    if grep -q 'Non-2xx' "$out"; then
      record "$label" "$r" fail "$(grep 'Non-2xx' "$out" | xargs) during the run"
      continue
    fi
    local errors; errors=$(grep 'Socket errors' "$out" | xargs)
    if [[ $errors =~ timeout\ ([1-9][0-9]*) ]]; then
      record "$label" "$r" fail "${BASH_REMATCH[1]} requests took over 10 s ($errors)"
      continue
    fi
    [ -n "$errors" ] && record "$label" "$r" errors "$errors"
    record "$label" "$r" rps "$(awk '/Requests\/sec/ { print $2 }' "$out")"
    record "$label" "$r" p50 "$(wrk_ms 50% "$out")"
    record "$label" "$r" p99 "$(wrk_ms 99% "$out")"
  done
}

load_now() { cut -d' ' -f1-3 /proc/loadavg; }

# --- ours --------------------------------------------------------------------------------------
note "timing ours ($workers workers, no page cache)"
record meta - load_before "$(load_now)"
start_ours --page-cache-mb 0 || die "our server did not start"
measure ours ours "$ours_base"
stop_pid "$ours_pid"
if [ "$cached" = 1 ]; then
  note "timing ours with its page cache (the same URL again is served from it)"
  start_ours || die "our server did not start"
  measure ours ours_cached "$ours_base"
  stop_pid "$ours_pid"
fi

# --- pygeoapi ----------------------------------------------------------------------------------
note "timing pygeoapi (gunicorn, $workers sync workers)"
pyport=$(free_port)
cat >"$work/pygeoapi.yml" <<EOF
server:
  bind: {host: 127.0.0.1, port: $pyport}
  url: http://127.0.0.1:$pyport
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  pretty_print: false
  limits: {default_items: 100, max_items: 10000}
  map:
    url: https://tile.openstreetmap.org/{z}/{x}/{y}.png
    attribution: OpenStreetMap
logging:
  level: ERROR
metadata:
  identification:
    title: tailings-atlas benchmark
    description: bench/filter.sh
    keywords: [benchmark]
    keywords_type: theme
    terms_of_service: none
    url: http://127.0.0.1
  license: {name: CC-BY 4.0, url: https://creativecommons.org/licenses/by/4.0/}
  provider: {name: bench, url: http://127.0.0.1}
  contact: {name: bench}
resources:
  sites:
    type: collection
    title: sites
    description: the same sites as ours
    keywords: [sites]
    links: []
    extents:
      spatial: {bbox: [63, 37, 76, 45], crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84}
    providers:
      - type: feature
        name: PostgreSQL
        data: {host: 127.0.0.1, port: $pgport, dbname: bench, user: postgres, password: '', search_path: [public]}
        id_field: id
        table: sites
        geom_field: geom
        storage_crs: http://www.opengis.net/def/crs/OGC/1.3/CRS84
        crs:
          - http://www.opengis.net/def/crs/OGC/1.3/CRS84
          - http://www.opengis.net/def/crs/EPSG/0/32642
EOF
(
  export PYGEOAPI_CONFIG=$work/pygeoapi.yml PYGEOAPI_OPENAPI=$work/pygeoapi-openapi.yml
  "$here/.venv-pygeoapi/bin/pygeoapi" openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" \
    >"$work/pygeoapi-openapi.log" 2>&1 || exit 1
  cd "$work" && exec "$here/.venv-pygeoapi/bin/gunicorn" --workers "$workers" --worker-class sync \
    --bind "127.0.0.1:$pyport" --log-level warning pygeoapi.flask_app:APP
) >"$work/pygeoapi.log" 2>&1 &
py_pid=$!; pids+=("$py_pid")
if wait_http "http://127.0.0.1:$pyport/collections/sites?f=json" "$py_pid" "$work/pygeoapi.log"; then
  measure pygeoapi pygeoapi "http://127.0.0.1:$pyport"
else
  record pygeoapi - start "pygeoapi did not start: $(tail -c 300 "$work/pygeoapi.log" "$work/pygeoapi-openapi.log" | tr '\n\t' '  ')"
fi
stop_pid "$py_pid"

# --- tipg --------------------------------------------------------------------------------------
note "timing tipg (uvicorn, $workers workers)"
tport=$(free_port)
(
  export DATABASE_URL="postgresql://postgres@127.0.0.1:$pgport/bench" TIPG_DB_SCHEMAS='["public"]'
  cd "$work" && exec "$here/.venv-tipg/bin/uvicorn" tipg.main:app --host 127.0.0.1 --port "$tport" \
    --workers "$workers" --log-level warning --no-access-log
) >"$work/tipg.log" 2>&1 &
tipg_pid=$!; pids+=("$tipg_pid")
if wait_http "http://127.0.0.1:$tport/collections/public.sites" "$tipg_pid" "$work/tipg.log"; then
  measure tipg tipg "http://127.0.0.1:$tport"
else
  record tipg - start "tipg did not start: $(tail -c 300 "$work/tipg.log" | tr '\n\t' '  ')"
fi
stop_pid "$tipg_pid"
record meta - load_after "$(load_now)"

# --- the report ----------------------------------------------------------------------------------
ver() { "$1" -c "import importlib.metadata as m; print(m.version('$2'))" 2>/dev/null; }
export META_NPROC META_CPU META_RAM META_KERNEL META_RUSTC META_COMMIT META_DATE META_N META_TOTAL \
  META_SEED META_THREADS META_CONNS META_DUR META_WORKERS META_PG META_POSTGIS META_PYGEOAPI META_TIPG \
  META_PATHS
META_NPROC=$(nproc)
META_CPU=$(awk -F: '/model name/ { gsub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo)
META_RAM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
META_KERNEL=$(uname -sr)
META_RUSTC=$(rustc --version | cut -d' ' -f1-2)
META_COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo ' (with uncommitted changes to src)')"
META_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
META_N=$n META_TOTAL=$total META_SEED=$seed META_THREADS=$threads META_CONNS=$conns META_DUR=$dur
META_WORKERS=$workers
META_PG=$(psql_ -d bench -At -c 'SHOW server_version' | cut -d' ' -f1)
META_POSTGIS=$(psql_ -d bench -At -c 'SELECT extversion FROM pg_extension WHERE extname = $$postgis$$')
META_PYGEOAPI=$(ver "$here/.venv-pygeoapi/bin/python" pygeoapi)
META_TIPG=$(ver "$here/.venv-tipg/bin/python" tipg)
META_PATHS=$(for k in "${!path[@]}"; do printf '%s\t%s\n' "$k" "${path[$k]}"; done | sort)
"$here/.venv-pygeoapi/bin/python" "$here/report.py" "$results" >"$work/report.md" || die "report.py failed"
cp "$work/report.md" bench/last_filter.md
cat bench/last_filter.md
