#!/usr/bin/env bash
# The rendered basin risk map against Mapnik, same machine, same run: `tailings-atlas map` (release)
# and Mapnik (Debian's python3-mapnik, installed if missing; bench/render/mapnik_map.py) draw the
# same layers (the files of data/ and, from the running service's /collections/{id}/items, the
# sites and the risk layers `risk-reaches` and `border-crossings` when they are published) in the
# same box, projection (Web Mercator) and width (2,000 px), in the same colours and line widths.
# Each whole process runs RUNS times, alternately; their internal timings are printed too.
# Writes bench/last_render.md (and prints it). Usage: bench/render.sh [RUNS=9] [BBOX=58,37.5,79,47]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-9}
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

# The service on a free port, seeding the store, to fetch what the map shows of the inventory.
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
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

result=$(python3 bench/render/timing.py "$runs" \
  -- ours "$bin" map --out "$work/ours.png" --bbox "$bbox" --width "$width" --store "$work/atlas.gpkg" --data data \
  -- mapnik /usr/bin/python3 bench/render/mapnik_map.py --data data --fetched "$work/fetched" \
       --bbox "$bbox" --width "$width" --out "$work/mapnik.png")

# Render-only: ours in-process (a scene drawn, painted and encoded, over RUNS renders after one
# warm-up), from the catalog already loaded; Mapnik's from its own timers.
python3 - "$result" "$work" "$bbox" "$width" "$runs" <<'PY' | tee bench/last_render.md
import json, os, platform, re, subprocess, sys
r, work, bbox, width, runs = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ours, mk = r["ours"], r["mapnik"]
m = re.search(r"\((\d+) × (\d+) px.*\) in ([0-9.]+) s \(load and analysis ([0-9.]+) s\)", ours["last"]["stderr"][0])
ow, oh, ours_render, ours_load = m.group(1), m.group(2), float(m.group(3)), float(m.group(4))
mj = json.loads(mk["last"]["stdout"])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1048576
v = int(subprocess.run(["/usr/bin/python3", "-c", "import mapnik; print(mapnik.mapnik_version())"], capture_output=True, text=True).stdout)
mapnik_v = f"{v // 100000}.{v // 100 % 1000}.{v % 100}"
mv = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "python3-mapnik"], capture_output=True, text=True).stdout
layers = sorted(os.path.splitext(f)[0] for f in os.listdir(os.path.join(work, "fetched")))
f = lambda v: f"{v:.3f} s"
print(f"""Machine: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM; {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.split(' (')[0]}; python3-mapnik {mv} (Mapnik {mapnik_v}).

Box {bbox}, {width} px wide ({ow} × {oh} px), Web Mercator. Layers from the service: {', '.join(layers)}. {runs} runs each, alternating.

| whole process | min | median | max |
|---|---|---|---|
| `tailings-atlas map` (opens the store, analyses every site, builds the catalog, renders, writes) | {f(ours['min'])} | {f(ours['median'])} | {f(ours['max'])} |
| Mapnik script (Python start, `import mapnik`, parses the GeoJSON, renders, writes) | {f(mk['min'])} | {f(mk['median'])} | {f(mk['max'])} |

| the map itself (last run) | ours | Mapnik |
|---|---|---|
| load | {f(ours_load)} (store, analysis, catalog) | {f(mj['load_s'])} (GeoJSON parsed, style) + {f(mj['import_s'])} import |
| draw and paint | {f(ours_render)} (incl. PNG encoding and the file's write and rename) | {f(mj['render_s'])} |
| PNG encoding and write | (included above) | {f(mj['encode_s'])} |
| draw, paint, encode, write | **{f(ours_render)}** | **{f(mj['render_s'] + mj['encode_s'])}** |

Ours draws a title, legend, scale bar, north arrow and attribution as well; Mapnik draws the layers only.
Both write RGBA PNGs (Mapnik `png32`).""")
PY
