#!/usr/bin/python3
"""The basin risk map drawn by Mapnik, for bench/render.sh: the same layers as `tailings-atlas map`
(countries filled by country, lakes with the historic Aral shoreline dashed, rivers or the loaded
risk reaches, borders, border-crossing hotspots sized by load, sites by risk class) in the same
projection (Web Mercator), box and width, in a comparable style (the same colours and widths).
Mapnik draws no title, legend, scale bar, north arrow or attribution; ours does.

Usage: /usr/bin/python3 mapnik_map.py --data DIR --fetched DIR --bbox W,S,E,N --width PX --out FILE
Prints one JSON line: the seconds spent importing Mapnik, loading the layers, rendering, and
encoding/writing the PNG (RGBA, png32, as ours).
"""
import argparse
import json
import math
import os
import time
import urllib.request

t_start = time.perf_counter()
import mapnik  # noqa: E402

t_import = time.perf_counter()

WGS84 = "+proj=longlat +datum=WGS84 +no_defs"
MERC = ("+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m "
        "+nadgrids=@null +wktext +no_defs")
R = 6378137.0

# The colours of src/render/style.rs.
BACKGROUND = "#e3eaef"
LAKE, LAKE_EDGE, RIVER, BORDER = "#a6d0ec", "#5e9cc8", "#4a8ccc", "#3d2c4f"
HOTSPOT, UNSCORED, INK = "#8e24aa", "#8a8a8a", "#1e1e1e"
COUNTRIES = {"KAZ": "#f4eccf", "KGZ": "#f5dcd6", "TJK": "#dfeed8", "UZB": "#e3e0f2"}
OTHER_COUNTRY = "#eeece6"
CLASSES = {"low": "#1a9850", "medium": "#f2c20f", "high": "#f06c1a", "very_high": "#b5101e"}
LOAD_BUCKETS = [(0.0, "#74add1", 1.3), (0.35, "#fed976", 2.9), (0.7, "#f46d43", 4.6), (0.9, "#a50026", 6.0)]


def merc(lon, lat):
    return R * math.radians(lon), R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def layer_xml(name, path, styles):
    return (f'<Layer name="{name}" srs="{WGS84}">' + "".join(f"<StyleName>{s}</StyleName>" for s in styles)
            + f'<Datasource><Parameter name="type">geojson</Parameter>'
            f'<Parameter name="file">{path}</Parameter></Datasource></Layer>')


def max_load(path):
    with open(path) as f:
        feats = json.load(f)["features"]
    return max([float(x["properties"].get("load") or 0) for x in feats] + [0.0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--fetched", required=True, help="GeoJSON from the service: sites, risk layers")
    ap.add_argument("--bbox", required=True)
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=0,
                    help="then render N more times from the loaded map, into PNG bytes, and time each")
    ap.add_argument("--compare-url", help="with --repeat: before each warm render, GET this URL (our "
                    "map from the running service) and time it too, so the two alternate")
    a = ap.parse_args()
    w, s, e, n = map(float, a.bbox.split(","))
    (x0, y0), (x1, y1) = merc(w, s), merc(e, n)
    width = a.width
    height = round((y1 - y0) / ((x1 - x0) / width))
    data = os.path.abspath(a.data)
    fetched = os.path.abspath(a.fetched)
    reaches = os.path.join(fetched, "risk-reaches.geojson")
    crossings = os.path.join(fetched, "border-crossings.geojson")
    has_reaches, has_crossings = os.path.exists(reaches), os.path.exists(crossings)

    styles, layers = [], []
    rules = "".join(f'<Rule><Filter>[iso3] = \'{k}\'</Filter><PolygonSymbolizer fill="{c}"/></Rule>'
                    for k, c in COUNTRIES.items())
    rules += f'<Rule><ElseFilter/><PolygonSymbolizer fill="{OTHER_COUNTRY}"/></Rule>'
    styles.append(f'<Style name="countries">{rules}</Style>')
    layers.append(layer_xml("countries", f"{data}/countries.geojson", ["countries"]))
    styles.append(
        '<Style name="water">'
        f'<Rule><Filter>[kind] = \'historic_lake\'</Filter><LineSymbolizer stroke="{LAKE_EDGE}" '
        'stroke-width="1.3" stroke-dasharray="6,4"/></Rule>'
        f'<Rule><ElseFilter/><PolygonSymbolizer fill="{LAKE}"/>'
        f'<LineSymbolizer stroke="{LAKE_EDGE}" stroke-width="0.8"/></Rule></Style>')
    layers.append(layer_xml("water-bodies", f"{data}/water-bodies.geojson", ["water"]))
    base = 0.7 if has_reaches else 1.0
    op = 150 / 255 if has_reaches else 1.0
    line = f'stroke="{RIVER}" stroke-opacity="{op:.3f}" stroke-linejoin="round" stroke-linecap="round"'
    styles.append(
        '<Style name="rivers">'
        f'<Rule><Filter>[level] = 6</Filter><LineSymbolizer {line} stroke-width="{0.7 * base}" '
        'stroke-dasharray="4,3"/></Rule>'
        f'<Rule><Filter>[level] &gt;= 10</Filter><LineSymbolizer {line} stroke-width="{0.7 * base}"/></Rule>'
        f'<Rule><Filter>[source] = \'natural_earth\'</Filter><LineSymbolizer {line} '
        f'stroke-width="{1.5 * base}"/></Rule>'
        f'<Rule><ElseFilter/><LineSymbolizer {line} stroke-width="{1.0 * base}"/></Rule></Style>')
    layers.append(layer_xml("rivers", f"{data}/rivers.geojson", ["rivers"]))
    if has_reaches:
        top = math.log1p(max_load(reaches)) or 1.0
        rules = ""
        for i, (t, colour, width_px) in enumerate(LOAD_BUCKETS):
            lo = math.expm1(t * top)
            hi = math.expm1(LOAD_BUCKETS[i + 1][0] * top) if i + 1 < len(LOAD_BUCKETS) else None
            f = f"[load] &gt;= {lo}" + (f" and [load] &lt; {hi}" if hi is not None else "")
            rules += (f'<Rule><Filter>{f}</Filter><LineSymbolizer stroke="{colour}" stroke-width="{width_px}" '
                      'stroke-linejoin="round" stroke-linecap="round"/></Rule>')
        styles.append(f'<Style name="reaches">{rules}</Style>')
        layers.append(layer_xml("risk-reaches", reaches, ["reaches"]))
    styles.append(f'<Style name="borders"><Rule><LineSymbolizer stroke="{BORDER}" stroke-width="1.8" '
                  'stroke-linejoin="round" stroke-linecap="round"/></Rule></Style>')
    layers.append(layer_xml("borders", f"{data}/borders.geojson", ["borders"]))
    if has_crossings:
        m = max_load(crossings) or 1.0
        size = f"2 * (3.5 + 12.5 * pow([load] / {m}, 0.5))"
        styles.append(
            f'<Style name="crossings"><Rule><MarkersSymbolizer marker-type="ellipse" fill="{HOTSPOT}" '
            f'stroke="#ffffff" stroke-width="1.4" width="{size}" height="{size}" allow-overlap="true" '
            'ignore-placement="true"/></Rule></Style>')
        layers.append(layer_xml("border-crossings", crossings, ["crossings"]))
    rules = "".join(
        f'<Rule><Filter>[risk_class] = \'{k}\'</Filter><MarkersSymbolizer marker-type="ellipse" fill="{c}" '
        f'stroke="{INK}" stroke-width="0.9" width="8" height="8" allow-overlap="true" '
        'ignore-placement="true"/></Rule>' for k, c in CLASSES.items())
    rules += (f'<Rule><ElseFilter/><MarkersSymbolizer marker-type="ellipse" fill="{UNSCORED}" '
              f'stroke="{INK}" stroke-width="0.9" width="8" height="8" allow-overlap="true" '
              'ignore-placement="true"/></Rule>')
    styles.append(f'<Style name="sites">{rules}</Style>')
    layers.append(layer_xml("sites", os.path.join(fetched, "sites.geojson"), ["sites"]))

    xml = (f'<Map srs="{MERC}" background-color="{BACKGROUND}">' + "".join(styles) + "".join(layers)
           + "</Map>")
    t0 = time.perf_counter()
    mp = mapnik.Map(width, height)
    mapnik.load_map_from_string(mp, xml)
    mp.zoom_to_box(mapnik.Box2d(x0, y0, x1, y1))
    t1 = time.perf_counter()
    im = mapnik.Image(width, height)
    mapnik.render(mp, im)
    t2 = time.perf_counter()
    im.save(a.out, "png32")
    t3 = time.perf_counter()
    warm, ours, ours_bytes = [], [], None
    for _ in range(a.repeat):
        if a.compare_url:
            t = time.perf_counter()
            with urllib.request.urlopen(a.compare_url) as r:
                body = r.read()
            ours.append(time.perf_counter() - t)
            assert body[:8] == b"\x89PNG\r\n\x1a\n", "the service sent no PNG"
            ours_bytes = len(body)
        t = time.perf_counter()
        im = mapnik.Image(width, height)
        mapnik.render(mp, im)
        png = im.tostring("png32")
        warm.append(time.perf_counter() - t)
    print(json.dumps({"import_s": t_import - t_start, "load_s": t1 - t0, "render_s": t2 - t1,
                      "encode_s": t3 - t2, "width": width, "height": height, "warm_s": warm,
                      "warm_bytes": len(png) if warm else None,
                      "ours_s": ours, "ours_bytes": ours_bytes}))


if __name__ == "__main__":
    main()
