"""owslib's OGC API - Features client filters with CQL2; shapely and pyproj decide the same filter
independently from the unfiltered features. Prints one line per case and exits non-zero when the
server's answer differs from the independent one.

Usage: check_filter.py http://HOST:PORT
"""
import sys

from owslib.ogcapi.features import Features
from pyproj import Geod
from shapely.geometry import Point, Polygon, shape

url = sys.argv[1]
api = Features(url)
GEOD = Geod(ellps="WGS84")

everything = api.collection_items("sites", limit=10000)["features"]
assert len(everything) > 10, len(everything)


def served(cql):
    doc = api.collection_items("sites", limit=10000, filter=cql, **{"filter-lang": "cql2-text"})
    return [f["id"] for f in doc["features"]], doc["numberMatched"]


def lonlat(f):
    return f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][1]


def within_km(f, lon, lat, km):
    x, y = lonlat(f)
    _, _, metres = GEOD.inv(lon, lat, x, y)
    return metres <= km * 1000.0


fergana = Polygon([(70.0, 40.0), (73.5, 40.0), (73.5, 41.8), (70.0, 41.8), (70.0, 40.0)])
cases = [
    (
        "country IN ('KGZ','TJK') AND S_DWITHIN(geometry, POINT(72.0 41.0), 150, kilometers)",
        lambda f: f["properties"]["country"] in ("KGZ", "TJK") and within_km(f, 72.0, 41.0, 150),
    ),
    (
        "S_INTERSECTS(geometry, POLYGON((70 40, 73.5 40, 73.5 41.8, 70 41.8, 70 40))) "
        "AND river_distance_m < 20000",
        lambda f: fergana.intersects(shape(f["geometry"]))
        and (f["properties"].get("river_distance_m") or float("inf")) < 20000,
    ),
    (
        "NOT S_WITHIN(geometry, POLYGON((70 40, 73.5 40, 73.5 41.8, 70 41.8, 70 40))) OR kind = 'tailings'",
        lambda f: not fergana.contains(Point(*lonlat(f))) or f["properties"]["kind"] == "tailings",
    ),
]
failed = False
for cql, keep in cases:
    got, matched = served(cql)
    want = [f["id"] for f in everything if keep(f)]
    # A case that selects nothing or everything would not tell the implementations apart.
    ok = got == want and matched == len(want) and 0 < len(want) < len(everything)
    failed |= not ok
    print(f"{'ok' if ok else 'DIFFERENT'}: {len(got)} served, {len(want)} independent: {cql}")
    if not ok:
        print("  served only:", sorted(set(got) - set(want)))
        print("  independent only:", sorted(set(want) - set(got)))
sys.exit(1 if failed else 0)
