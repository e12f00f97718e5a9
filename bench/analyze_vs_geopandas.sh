#!/usr/bin/env bash
# `tailings-atlas analyze` on N seeded random sites (lon 60-78, lat 38-47) against the default layers
# (country, nearest river, nearest border, downstream crossings, runout for each), compared in the same
# run with GeoPandas `sjoin_nearest` (UTM 42N) for nearest river and nearest border on the same points.
# GeoPandas goes into a virtualenv under bench/.venv, which this script creates.
# Usage: bench/analyze_vs_geopandas.sh [N=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
./scripts/setup.sh
cargo build --release --locked -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$n" "$work/points.csv" <<'PY'
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
r = random.Random(20260101)
with open(out, "w") as f:
    f.write("id,lon,lat\n")
    for i in range(n):
        f.write(f"{i},{r.uniform(60, 78):.6f},{r.uniform(38, 47):.6f}\n")
PY

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q geopandas pyogrio
fi

measure() { # command... -> "wall_s max_rss_kb"
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  cat "$work/time"
}
head -2 "$work/points.csv" > "$work/one_point.csv"
read -r base_s base_kb < <(measure target/release/tailings-atlas analyze "$work/one_point.csv" --out "$work/one.csv")
read -r ours_s ours_kb < <(measure target/release/tailings-atlas analyze "$work/points.csv" --out "$work/out.csv")
gp=$(bench/.venv/bin/python bench/geopandas_nearest.py "$work/points.csv" data)
gp_rivers=$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['rivers_s'], 2))" "$gp")
gp_borders=$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['borders_s'], 2))" "$gp")
gp_total=$(python3 -c "print(round($gp_rivers + $gp_borders, 2))")
per_site=$(python3 -c "print(round(($ours_kb - $base_kb) * 1024 / $n))")
speedup=$(python3 -c "print(round($gp_total / $ours_s, 2))")
cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)
gpv=$(bench/.venv/bin/python -c "import geopandas, shapely; print(f'GeoPandas {geopandas.__version__}, Shapely {shapely.__version__}')")
cat <<OUT
Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; $(rustc --version | cut -d' ' -f1-2); $gpv. Date: $(date -u +%Y-%m-%d).

| run ($n points) | wall time | notes |
|---|---|---|
| tailings-atlas analyze: country, nearest river, nearest border, downstream crossings, runout | ${ours_s} s | includes start-up (${base_s} s for one point), reading the CSV and writing the results |
| GeoPandas sjoin_nearest, rivers | ${gp_rivers} s | UTM 42N, planar metres |
| GeoPandas sjoin_nearest, borders | ${gp_borders} s | UTM 42N, planar metres |
| GeoPandas, both joins | ${gp_total} s | ours is ${speedup}x faster while doing more, in geodesic metres |

Memory: ${ours_kb} KiB peak for $n points against ${base_kb} KiB for one point: $per_site bytes per site.
OUT
