"""Decodes vector tiles served by a running tailings-atlas with an independent decoder (PyPI's
mapbox-vector-tile, not the geozero encoder the service uses) and checks layers, features,
properties and coordinates against what the service says it serves.

Usage: .venv/bin/python tests/tiles/check_tiles.py http://127.0.0.1:PORT
Exit status 0 only if every check passes; prints one line per tile checked.
"""
import json
import math
import sys
import urllib.request

import mapbox_vector_tile

EXTENT, BUFFER = 4096, 64


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.status, r.read()


def get_json(url):
    return json.loads(get(url)[1])


def tile_of(lon, lat, z):
    n = 2 ** z
    lat_r = math.radians(lat)
    x = (lon + 180.0) / 360.0 * n
    y = (1.0 - math.log(math.tan(lat_r) + 1.0 / math.cos(lat_r)) / math.pi) / 2.0 * n
    return x, y


def bounds_of(z, x, y):
    n = 2 ** z
    def lonlat(tx, ty):
        return tx / n * 360.0 - 180.0, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))
    w, north = lonlat(x, y)
    e, s = lonlat(x + 1, y + 1)
    return w, s, e, north


def coords(geom):
    t, c = geom["type"], geom["coordinates"]
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}[t]
    def walk(v, d):
        if d == 0:
            yield v
        else:
            for w in v:
                yield from walk(w, d - 1)
    return list(walk(c, depth))


def main(base):
    failures = []
    fields = {l["id"]: l["fields"] for l in get_json(f"{base}/map/tilejson.json")["vector_layers"]}
    sites = get_json(f"{base}/collections/sites/items?limit=10000")["features"]
    # Tiles around the Fergana valley, where every layer has features, at several zoom levels.
    checks = []
    for z in (3, 5, 7, 9):
        x, y = tile_of(71.5, 40.8, z)
        checks.append((z, int(x), int(y)))
    seen_layers = set()
    for z, x, y in checks:
        for layer in ["sites", "rivers", "countries", "borders", "water-bodies", "map"]:
            url = f"{base}/map/tiles/{z}/{x}/{y}" if layer == "map" else \
                f"{base}/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}"
            status, body = get(url)
            if status == 204:
                print(f"{layer} {z}/{x}/{y}: empty (204)")
                continue
            tile = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
            if layer != "map" and list(tile) != [layer]:
                failures.append(f"{url}: layers {list(tile)}")
            n = 0
            for name, content in tile.items():
                seen_layers.add(name)
                if content["extent"] != EXTENT:
                    failures.append(f"{url}: {name} extent {content['extent']}")
                for f in content["features"]:
                    n += 1
                    props = f["properties"]
                    unknown = set(props) - set(fields.get(name, {}))
                    if unknown:
                        failures.append(f"{url}: {name} has properties outside its TileJSON fields: {unknown}")
                    if "id" not in props:
                        failures.append(f"{url}: {name} feature without id")
                    for px, py in coords(f["geometry"]):
                        if not (-BUFFER <= px <= EXTENT + BUFFER and -BUFFER <= py <= EXTENT + BUFFER):
                            failures.append(f"{url}: {name} {props.get('id')} at {px},{py}, outside the tile and buffer")
                            break
            if layer == "sites":
                # Exactly the sites inside the tile's bounds are in it (the buffer adds at most a few).
                w, s, e, n_ = bounds_of(z, x, y)
                inside = {f["id"] for f in sites if w <= f["geometry"]["coordinates"][0] < e
                          and s < f["geometry"]["coordinates"][1] <= n_}
                got = {f["properties"]["id"] for f in tile["sites"]["features"]}
                if not inside <= got:
                    failures.append(f"{url}: sites {sorted(inside - got)} missing")
                for f in tile["sites"]["features"]:
                    site = next(s_ for s_ in sites if s_["id"] == f["properties"]["id"])
                    for k in ("name", "kind", "country", "status"):
                        if f["properties"].get(k) != site["properties"].get(k):
                            failures.append(f"{url}: {k} of {site['id']} is {f['properties'].get(k)!r}")
                    # The point is where the site is, to the tile grid.
                    (px, py), = coords(f["geometry"])
                    tx, ty = tile_of(*site["geometry"]["coordinates"], z)
                    if abs((tx - x) * EXTENT - px) > 1 or abs((ty - y) * EXTENT - py) > 1:
                        failures.append(f"{url}: {site['id']} at {px},{py}, expected {(tx - x) * EXTENT},{(ty - y) * EXTENT}")
            print(f"{layer} {z}/{x}/{y}: {n} features in {sorted(tile)}")
    for must in ("sites", "rivers", "countries", "borders"):
        if must not in seen_layers:
            failures.append(f"no tile had a {must} layer")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/")))
