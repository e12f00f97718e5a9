#!/usr/bin/env bash
# The rendered basin risk map against Mapnik, same machine, same run. `tailings-atlas` (release) and
# Mapnik (Debian's python3-mapnik, installed if missing; bench/render/mapnik_map.py) draw the same
# layers (the files of data/ and, from the running service's /collections/{id}/items, the sites and
# the risk layers `risk-reaches` and `border-crossings` when they are published) in the same box,
# projection (Web Mercator) and width (2,000 px), in the same colours and line widths.
#  1. Warm: the map from data already in memory. Ours: GET /maps/basin-risk.png from the running
#     service (draw, paint, encode, HTTP); Mapnik: render + PNG encoding of a loaded map. RUNS
#     times each, alternating, after one warm-up of each.
#  2. Cold: each whole process, RUNS times, alternating: `tailings-atlas map` (opens the store,
#     analyses every site, builds the catalog, renders, writes) and the Mapnik script (starts Python,
#     imports Mapnik, parses the GeoJSON, renders, writes).
# Writes bench/last_render.md (and prints it). Usage: bench/render.sh [RUNS=15] [BBOX=58,37.5,79,47]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
bbox=${2:-58,37.5,79,47}
width=2000
./scripts/setup.sh
sudo=(); [ "$(id -u)" -ne 0 ] && sudo=(sudo)
if ! /usr/bin/python3 -c 'import mapnik' 2>/dev/null; then
  "${sudo[@]}" apt-get install -y -q python3-mapnik
fi
command -v curl >/dev/null || "${sudo[@]}" apt-get install -y -q curl
bin=${ATLAS_BIN:-target/release/tailings-atlas}
[ -n "${ATLAS_BIN:-}" ] || cargo build --release --locked -q
work=$(mktemp -d)
trap 'if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# The service on a free port (it seeds the store the cold runs then read).
mkdir -p "$work/fetched"
RUST_LOG=warn "$bin" serve --bind 127.0.0.1:0 --store "$work/atlas.gpkg" --data data >"$work/serve.out" 2>&1 &
pid=$!
until grep -q "listening on" "$work/serve.out"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.out" >&2; exit 1; }
  sleep 0.05
done
base=$(grep -o "http://[0-9.:]*" "$work/serve.out" | head -1)
until curl -fs -o /dev/null "$base/health"; do sleep 0.05; done
for id in sites risk-reaches border-crossings; do
  code=$(curl -s -o "$work/fetched/$id.geojson" -w '%{http_code}' "$base/collections/$id/items?limit=10000")
  [ "$code" = 200 ] || rm -f "$work/fetched/$id.geojson"
done
url="$base/maps/basin-risk.png?bbox=$bbox&width=$width"
curl -fs -o "$work/warmup.png" "$url"
warm=$(/usr/bin/python3 bench/render/mapnik_map.py --data data --fetched "$work/fetched" --bbox "$bbox" \
  --width "$width" --out "$work/mapnik-warm.png" --repeat "$runs" --compare-url "$url")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

cold=$(python3 bench/render/timing.py "$runs" \
  -- ours "$bin" map --out "$work/ours.png" --bbox "$bbox" --width "$width" --store "$work/atlas.gpkg" --data data \
  -- mapnik /usr/bin/python3 bench/render/mapnik_map.py --data data --fetched "$work/fetched" \
       --bbox "$bbox" --width "$width" --out "$work/mapnik.png")

python3 - "$warm" "$cold" "$work" "$bbox" "$width" "$runs" <<'PY' | tee bench/last_render.md
import json, os, re, statistics, subprocess, sys
warm, cold = json.loads(sys.argv[1]), json.loads(sys.argv[2])
work, bbox, width, runs = sys.argv[3:7]
run = lambda *c: subprocess.run(c, capture_output=True, text=True).stdout.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1048576
v = int(run("/usr/bin/python3", "-c", "import mapnik; print(mapnik.mapnik_version())"))
mapnik_v = f"{v // 100000}.{v // 100 % 1000}.{v % 100}"
deb = run("dpkg-query", "-W", "-f", "${Version}", "python3-mapnik")
layers = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(work, "fetched")))
ms = lambda x: f"{x * 1000:.0f} ms"
stats = lambda xs: (min(xs), statistics.median(xs), max(xs))
ours_w, mapnik_w = stats(warm["ours_s"]), stats(warm["warm_s"])
ours_c, mapnik_c = cold["ours"], cold["mapnik"]
m = re.search(r"\((\d+) × (\d+) px, png, (\d+) bytes\) in ([0-9.]+) s: drawn ([0-9.]+) s, painted ([0-9.]+) s, "
              r"encoded ([0-9.]+) s, written ([0-9.]+) s \(load and analysis before: ([0-9.]+) s\)",
              ours_c["last"]["stderr"][0])
ow, oh, obytes, total, drawn, painted, encoded, written, load = m.groups()
mj = json.loads(mapnik_c["last"]["stdout"])
row = lambda label, s: f"| {label} | {ms(s[0])} | {ms(s[1])} | {ms(s[2])} |"
print(f"""Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM; {run('rustc', '--version').split(' (')[0]}, release build; \
Mapnik {mapnik_v} (Debian python3-mapnik {deb}). Load average at the start: {os.getloadavg()[0]:.1f}.

Box {bbox}, {width} px wide ({ow} × {oh} px), Web Mercator. Layers from the service: {', '.join(layers)}; \
the rest from data/. {runs} runs each, alternating.

Warm: the map from data in memory, to PNG bytes.

| warm | min | median | max |
|---|---|---|---|
{row("tailings-atlas, GET /maps/basin-risk.png (draw, paint, encode, HTTP)", ours_w)}
{row("Mapnik, render + PNG encoding (png32) of the loaded map", mapnik_w)}

Ours is {mapnik_w[1] / ours_w[1]:.2f}× as fast as Mapnik (medians). PNG sizes: ours {warm['ours_bytes']} bytes, Mapnik {warm['warm_bytes']} bytes.

Cold: each whole process.

| cold, whole process | min | median | max |
|---|---|---|---|
{row("tailings-atlas map (store, analysis of every site, catalog, map, file)", stats(ours_c["all"]))}
{row("Mapnik script (Python, import, GeoJSON parsed, map, file)", stats(mapnik_c["all"]))}

Last cold run of ours: load and analysis {ms(float(load))}, then drawn {ms(float(drawn))}, painted {ms(float(painted))}, \
encoded {ms(float(encoded))}, written {ms(float(written))} ({obytes} bytes). \
Mapnik's: import {ms(mj['import_s'])}, GeoJSON and style {ms(mj['load_s'])}, render {ms(mj['render_s'])}, \
encode and write {ms(mj['encode_s'])}.

Ours draws a title, legend, scale bar, north arrow and attribution as well; Mapnik only the layers. \
Both write RGBA PNGs.""")
PY
