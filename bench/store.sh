#!/usr/bin/env bash
# Measures the inventory of record with the release binary:
#   1. import throughput (rows/s) of 100,000 seeded synthetic sites from CSV and from GeoPackage into
#      a fresh store, with `tailings-atlas import` (validation, one transaction, and the analysis of
#      every imported site), and the same through `POST /import` on a running service (which also
#      publishes the analysed sites);
#   2. export time per format for the 100,027-site inventory, through the CLI (write only) and
#      through `GET /collections/sites/items?f=…`;
#   3. single-site update latency (PATCH with If-Match, including the store commit and the re-analysis
#      of the site) on the default data, p50/p90/p99 over sequential requests.
# Prints a Markdown block for the README.
# Usage: bench/store.sh [rows=100000] [updates=300]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
updates=${2:-300}
port=${ATLAS_BENCH_PORT:-18081}
./scripts/setup.sh
command -v curl >/dev/null || { echo "bench needs curl" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench needs python3" >&2; exit 1; }
cargo build --release --locked -q
bin=$PWD/target/release/tailings-atlas
data=$PWD/data
work=$(mktemp -d)
trap 'if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
export RUST_LOG=warn

python3 bench/synthetic_sites.py "$work/sites.csv" "$rows"
ogr2ogr -q -f GPKG "$work/sites.gpkg" "$work/sites.csv" -nln sites \
  -oo X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat -oo KEEP_GEOM_COLUMNS=NO -a_srs EPSG:4326

ms() { echo $(( ($2 - $1) / 1000000 )); }

cli_import() { # file, store -> prints "wall_ms"
  local t0 t1
  t0=$(date +%s%N)
  "$bin" import "$1" --store "$2" --data "$data" 2>"$work/import.log" || { cat "$work/import.log" >&2; exit 1; }
  t1=$(date +%s%N)
  ms "$t0" "$t1"
}
# Seed the stores first: seeding is not part of an import.
for s in csv gpkg http; do "$bin" token list --store "$work/$s.store.gpkg" --data "$data" >/dev/null 2>&1; done
csv_ms=$(cli_import "$work/sites.csv" "$work/csv.store.gpkg")
csv_line=$(grep -o 'analysed .*' "$work/import.log" || true)
gpkg_ms=$(cli_import "$work/sites.gpkg" "$work/gpkg.store.gpkg")
reimport_ms=$(cli_import "$work/sites.csv" "$work/csv.store.gpkg")
grep -q "0 created, 0 updated, $rows unchanged" "$work/import.log" || { echo "re-import changed sites" >&2; cat "$work/import.log" >&2; exit 1; }

start() { # store
  "$bin" serve --bind "127.0.0.1:$port" --store "$1" --data "$data" >"$work/serve.out" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.out" >&2; exit 1; }
    sleep 0.05
  done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# POST /import into a running service: store write, re-analysis and publication of every site.
admin=$("$bin" token create --role admin --name bench --store "$work/http.store.gpkg" --data "$data" 2>/dev/null)
start "$work/http.store.gpkg"
t0=$(date +%s%N)
curl -fs -o "$work/http.json" -H "Authorization: Bearer $admin" -F "file=@$work/sites.csv" \
  "http://127.0.0.1:$port/import"
t1=$(date +%s%N)
http_ms=$(ms "$t0" "$t1")
grep -q "\"created\":$rows" "$work/http.json" || { cat "$work/http.json" >&2; exit 1; }

# Exports of the whole inventory (seed + imported), over HTTP from the running service.
declare -A http_export cli_export size
for f in gpkg shp kml csv fgb geojson; do
  t0=$(date +%s%N)
  curl -fs -o "$work/export.$f" "http://127.0.0.1:$port/collections/sites/items?f=$f"
  t1=$(date +%s%N)
  http_export[$f]=$(ms "$t0" "$t1")
  size[$f]=$(du -m "$work/export.$f" | cut -f1)
done
stop
for f in gpkg shp kml csv fgb geojson; do
  "$bin" export --format "$f" --out "$work/cli.$f" --store "$work/http.store.gpkg" --data "$data" 2>"$work/export.log"
  cli_export[$f]=$(grep -o 'in [0-9.]* s (load' "$work/export.log" | grep -o '[0-9.]*' | head -1)
done

# Single-site updates on the default data.
editor=$("$bin" token create --role admin --name latency --store "$work/small.gpkg" --data "$data" 2>/dev/null)
start "$work/small.gpkg"
latency=$(python3 - "$port" "$editor" "$updates" <<'EOF'
import http.client, json, sys, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("GET", "/collections/sites/items/kgz_sumsar")
r = c.getresponse(); r.read(); etag = r.getheader("ETag")
times = []
for i in range(n):
    body = json.dumps({"properties": {"status_note": f"benchmark edit {i}"},
                       "geometry": {"type": "Point", "coordinates": [71.31 + (i % 10) * 0.001, 41.3]}})
    t0 = time.perf_counter()
    c.request("PATCH", "/collections/sites/items/kgz_sumsar", body,
              {"Authorization": f"Bearer {token}", "If-Match": etag,
               "Content-Type": "application/merge-patch+json"})
    r = c.getresponse(); r.read()
    times.append((time.perf_counter() - t0) * 1000)
    assert r.status == 200, (r.status, r.read())
    etag = r.getheader("ETag")
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print(f"{q(0.5):.1f} {q(0.9):.1f} {q(0.99):.1f}")
EOF
)
stop
read -r p50 p90 p99 <<<"$latency"

rate() { python3 -c "print(f'{$1 / ($2 / 1000):,.0f}')"; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat <<EOF
Measured $(date -u +%Y-%m-%d) on $(nproc) vCPU ($cpu), $(free -g | awk '/Mem/ {print $2}') GB, release build, \`bench/store.sh $rows $updates\`:

| import of $rows synthetic sites | wall | rows/s |
|---|---:|---:|
| CLI, CSV (validate, one transaction, analyse every site) | $csv_ms ms | $(rate "$rows" "$csv_ms") |
| CLI, GeoPackage (same) | $gpkg_ms ms | $(rate "$rows" "$gpkg_ms") |
| CLI, the same CSV again (all unchanged, no versions) | $reimport_ms ms | $(rate "$rows" "$reimport_ms") |
| \`POST /import\` CSV into the running service (write, analyse, publish) | $http_ms ms | $(rate "$rows" "$http_ms") |

CLI import analysis line: \`$csv_line\`

| export of $((rows + 27)) sites | \`GET …/items?f=\` wall | CLI write only | size |
|---|---:|---:|---:|
$(for f in gpkg shp kml csv fgb geojson; do echo "| $f | ${http_export[$f]} ms | ${cli_export[$f]} s | ${size[$f]} MB |"; done)

Single-site update (PATCH with If-Match, commit + re-analysis), $updates sequential requests:
p50 $p50 ms, p90 $p90 ms, p99 $p99 ms.
EOF
