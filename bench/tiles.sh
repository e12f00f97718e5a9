#!/usr/bin/env bash
# Measures the vector tiles (issue 12, section 6) on the default data, with the release binary:
#   (a) a cached z7 tile against the server's floor, GET /conformance: wrk, same threads and
#       connections, one after the other on the same server (target: the tile >= 70 % of the floor);
#   (b) `tailings-atlas tiles` (PMTiles, every layer, z0-z10) against GDAL's MVT writer
#       (`ogr2ogr -f MBTILES`, the same layers from one GeoPackage, the same zoom range), both
#       timed wall-clock from process start to exit (target: ours >= 3x faster);
#   (c) cold tiles: every tile of the data's bounds at z6..z10 requested once from a fresh server
#       (so none is cached), one at a time over one keep-alive connection; p50/p99/max per zoom.
# Writes bench/last_tiles.md and prints it. wrk and gdal-bin come from Debian (installed if missing).
# Usage: bench/tiles.sh [wrk_seconds=10] [connections=32] [maxzoom=10]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10}
conns=${2:-32}
maxzoom=${3:-10}
./scripts/setup.sh
if ! command -v wrk >/dev/null; then
  sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q wrk
fi
for c in curl python3 ogr2ogr; do
  command -v "$c" >/dev/null || { echo "bench needs $c" >&2; exit 1; }
done
cargo build --release --locked -q
bin=$PWD/target/release/tailings-atlas
work=$(mktemp -d)
pid=
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# Starts the server on a free port (port 0); sets pid and base.
start() {
  RUST_LOG=warn "$bin" serve --bind 127.0.0.1:0 --store "$work/atlas.gpkg" --data data \
    --tiles-dir "$work" >"$work/serve.out" 2>"$work/serve.err" &
  pid=$!
  for _ in $(seq 1 600); do
    base=$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)
    if [ -n "$base" ] && curl -fs -o /dev/null "$base/health"; then return; fi
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.05
  done
  echo "the server did not start" >&2; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }

# (a) cached tiles against the floor.
start
tile=/collections/sites/tiles/WebMercatorQuad/7/89/47
map=/map/tiles/7/89/47
for u in "$tile" "$map"; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base$u")" = 200 ] || { echo "$u is not a 200" >&2; exit 1; }
done
tile_bytes=$(curl -fs "$base$tile" | wc -c)
floor_bytes=$(curl -fs "$base/conformance" | wc -c)
map_bytes=$(curl -fs "$base$map" | wc -c)
# Other processes share the machine: the three URLs take turns, $rounds rounds, and the medians
# (and the median of each round's ratio) are reported.
rounds=${ATLAS_BENCH_ROUNDS:-5}
run_wrk() { timeout $((dur + 60)) wrk -t2 -c"$conns" -d"${dur}s" --latency "$base$1" >"$work/wrk.$2.$3"; }
for r in $(seq 1 "$rounds"); do
  run_wrk /conformance floor "$r"
  run_wrk "$tile" tile "$r"
  run_wrk "$map" map "$r"
done
stop
for f in "$work"/wrk.*; do
  if grep -q Non-2xx "$f"; then echo "$f: non-2xx answers" >&2; cat "$f" >&2; exit 1; fi
done
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
rps() { for r in $(seq 1 "$rounds"); do awk '/Requests\/sec/ {print $2}' "$work/wrk.$1.$r"; done | median; }
ms_of() { awk '{v = $1; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}'; }
p99() { for r in $(seq 1 "$rounds"); do awk '$1 == "99%" {print $2}' "$work/wrk.$1.$r" | ms_of; done | median | awk '{print $1 " ms"}'; }
# The median over rounds of (URL's requests/s) / (the floor's in the same round).
pct() {
  for r in $(seq 1 "$rounds"); do
    a=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.$1.$r"); b=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.floor.$r")
    python3 -c "print($a / $b)"
  done | median | python3 -c "import sys; print(f'{100 * float(sys.stdin.read()):.0f} %')"
}

# (b) the archive against GDAL's MVT writer. The GeoPackage GDAL reads holds the same layers the
# archive does (the sites as the service exports them), made before the clock starts.
"$bin" export --format gpkg --out "$work/sites.gpkg" --store "$work/atlas.gpkg" --data data 2>/dev/null
ogr2ogr -f GPKG "$work/layers.gpkg" "$work/sites.gpkg" -nln sites
for l in countries water-bodies borders rivers; do
  ogr2ogr -f GPKG -update "$work/layers.gpkg" "data/$l.geojson" -nln "$l"
done
ms() { date +%s%N; }
t0=$(ms)
"$bin" tiles --out "$work/syr-darya.pmtiles" --minzoom 0 --maxzoom "$maxzoom" \
  --store "$work/atlas.gpkg" --data data 2>"$work/tiles.err"
t1=$(ms)
ogr2ogr -f MBTILES "$work/gdal.mbtiles" "$work/layers.gpkg" \
  -dsco MINZOOM=0 -dsco MAXZOOM="$maxzoom" 2>"$work/gdal.err"
t2=$(ms)
ours_ms=$(( (t1 - t0) / 1000000 ))
gdal_ms=$(( (t2 - t1) / 1000000 ))
ours_line=$(tail -1 "$work/tiles.err")
ours_size=$(stat -c %s "$work/syr-darya.pmtiles")
gdal_size=$(stat -c %s "$work/gdal.mbtiles")
gdal_tiles=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from tiles').fetchone()[0])" "$work/gdal.mbtiles")

# (c) cold tiles, each requested once from a fresh server.
rm -f "$work/atlas.gpkg"
start
python3 - "$base" "$work/cold.md" <<'PY'
import http.client, json, math, sys, time, urllib.parse
base, out = sys.argv[1], sys.argv[2]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
def get(path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    return r.status, body
_, tj = get("/map/tilejson.json")
w, s, e, n = json.loads(tj)["bounds"]
def tile(lon, lat, z):
    k = 2 ** z
    lat = math.radians(max(min(lat, 85.0511), -85.0511))
    return int((lon + 180) / 360 * k), int((1 - math.log(math.tan(lat) + 1 / math.cos(lat)) / math.pi) / 2 * k)
rows = ["| zoom | tiles | with features | p50 | p99 | max |", "|---|---|---|---|---|---|"]
for z in range(6, 11):
    x0, y0 = tile(w, n, z)
    x1, y1 = tile(e, s, z)
    times, full = [], 0
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            t = time.perf_counter()
            status, body = get(f"/map/tiles/{z}/{x}/{y}")
            times.append((time.perf_counter() - t) * 1000)
            assert status in (200, 204), (z, x, y, status)
            full += status == 200
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
    rows.append(f"| z{z} | {len(times)} | {full} | {q(0.5):.2f} ms | {q(0.99):.2f} ms | {times[-1]:.2f} ms |")
open(out, "w").write("\n".join(rows) + "\n")
PY
stop

cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
{
cat <<OUT
Machine: $(nproc) cores ($cpu), $mem RAM, $(uname -sr); $(rustc --version | cut -d' ' -f1-2), release build;
$(gdalinfo --version). Date: $(date -u +%Y-%m-%d). Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).

(a) Cached tiles against the floor: wrk -t2 -c$conns -d${dur}s on the same machine (client and
server share the cores), the same server, the three URLs in turn for $rounds rounds; medians over
the rounds, and "of the floor" is the median of each round's ratio; identity encoding.

| GET | bytes | requests/s | p99 | of the floor |
|---|---|---|---|---|
| /conformance (the floor) | $floor_bytes | $(rps floor) | $(p99 floor) | 100 % |
| $tile | $tile_bytes | $(rps tile) | $(p99 tile) | $(pct tile) |
| $map (every layer) | $map_bytes | $(rps map) | $(p99 map) | $(pct map) |

(b) Every layer, z0-z$maxzoom, wall-clock from process start to exit:

| writer | time | tiles | file size |
|---|---|---|---|
| \`tailings-atlas tiles\` (PMTiles, gzip MVT; includes loading the store and analysing the sites) | ${ours_ms} ms | $(echo "$ours_line" | sed -n 's/.*: \([0-9]*\) tiles with features.*/\1/p') | $ours_size bytes |
| \`ogr2ogr -f MBTILES\` (GDAL's MVT writer, from a GeoPackage of the same layers) | ${gdal_ms} ms | $gdal_tiles | $gdal_size bytes |

GDAL / ours: $(python3 -c "print(f'{$gdal_ms / $ours_ms:.1f}x')"). Ours said: $ours_line

(c) Cold tiles of /map/tiles (every layer; each tile requested once from a fresh server, so none
is cached; one client, one keep-alive connection; time to the last byte):

OUT
cat "$work/cold.md"
} >bench/last_tiles.md
cat bench/last_tiles.md
