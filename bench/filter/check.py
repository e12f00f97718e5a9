"""Checks one server's answer to one bench/filter.sh request before it is timed.

Usage: check.py KIND URL EXPECTED.json
  KIND      filter | sortby | crs
  URL       the request, exactly as wrk will send it
  EXPECTED  what PostgreSQL computes on the same rows (bench/filter.sh writes it):
            {"total": N, "filter_count": M, "top_scores": [100 highest risk_score, highest first]}

Prints one JSON object: {"status": "ok" | "unsupported" | "wrong", "reason": ..., "returned": n,
"matched": n}. "failed" is no HTTP answer at all; "unsupported" is an answer other than 200, or (crs) coordinates that were not
projected; "wrong" is a 200 whose features do not agree with the expectation. Only "ok" is timed.
The request is sent as wrk sends it: no Accept header.
"""
import json
import math
import sys
import urllib.error
import urllib.request

from pyproj import Transformer

PAGE = 100
# Projected coordinates must agree with lon/lat projected here to within this many metres.
CRS_TOLERANCE_M = 1.0


def fetch(url):
    req = urllib.request.Request(url, headers={"Accept": "*/*"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e).encode()


def excerpt(body):
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            text = str(doc.get("description") or doc.get("detail") or doc.get("title") or text)
    except ValueError:
        pass
    return " ".join(text.split())[:160]


def prop(feature, name):
    return (feature.get("properties") or {}).get(name)


def check_filter(features, matched, exp):
    want = min(PAGE, exp["filter_count"])
    if matched is not None and matched != exp["filter_count"]:
        return f"numberMatched {matched}, PostgreSQL counts {exp['filter_count']}"
    if len(features) != want:
        return f"{len(features)} features, expected {want}"
    for f in features:
        country, dist = prop(f, "country"), prop(f, "river_distance_m")
        if country != "KGZ" or not isinstance(dist, (int, float)) or not dist < 30000:
            return f"feature {f.get('id')} does not match: country={country!r} river_distance_m={dist!r}"
    return None


def check_sortby(features, matched, exp):
    if matched is not None and matched != exp["total"]:
        return f"numberMatched {matched}, the table has {exp['total']} rows"
    if len(features) != PAGE:
        return f"{len(features)} features, expected {PAGE}"
    scores = [prop(f, "risk_score") for f in features]
    if not all(isinstance(s, (int, float)) for s in scores):
        return f"a risk_score is missing or not a number: {scores[:5]}…"
    if any(a < b for a, b in zip(scores, scores[1:])):
        return "risk_score is not in descending order"
    # Ties may be broken differently; the scores on the page must still be the 100 highest.
    top = exp["top_scores"]
    if [round(s, 3) for s in scores] != [round(s, 3) for s in top]:
        return f"scores {scores[:3]}… are not the 100 highest {top[:3]}…"
    return None


_to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32642", always_xy=True)


def check_crs(features, matched, exp):
    if matched is not None and matched != exp["total"]:
        return f"numberMatched {matched}, the table has {exp['total']} rows"
    if len(features) != PAGE:
        return f"{len(features)} features, expected {PAGE}"
    worst = 0.0
    for f in features:
        lon, lat = prop(f, "lon"), prop(f, "lat")
        coords = (f.get("geometry") or {}).get("coordinates")
        if not isinstance(lon, (int, float)) or not coords:
            return f"feature {f.get('id')} has no lon/lat properties or no coordinates"
        x, y = _to_utm.transform(lon, lat)
        worst = max(worst, math.hypot(coords[0] - x, coords[1] - y))
        if abs(coords[0] - lon) < 1e-6 and abs(coords[1] - lat) < 1e-6:
            return "UNSUPPORTED:coordinates are lon/lat: crs was ignored"
    if worst > CRS_TOLERANCE_M:
        return f"coordinates are up to {worst:.1f} m from lon/lat projected to EPSG:32642 by PROJ"
    return None


def main():
    kind, url, expected = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(expected, encoding="utf-8") as f:
        exp = json.load(f)
    out = {"status": "ok", "reason": "", "returned": None, "matched": None}
    code, body = fetch(url)
    if code is None:
        out.update(status="failed", reason=f"no answer: {excerpt(body)}")
    elif code != 200:
        out.update(status="unsupported", reason=f"HTTP {code}: {excerpt(body)}")
    else:
        try:
            doc = json.loads(body)
            features = doc["features"]
        except (ValueError, KeyError, TypeError):
            out.update(status="wrong", reason=f"200 but not a FeatureCollection: {excerpt(body)}")
        else:
            matched = doc.get("numberMatched")
            out.update(returned=len(features), matched=matched)
            problem = {"filter": check_filter, "sortby": check_sortby, "crs": check_crs}[kind](
                features, matched, exp)
            if problem and problem.startswith("UNSUPPORTED:"):
                out.update(status="unsupported", reason=problem.split(":", 1)[1])
            elif problem:
                out.update(status="wrong", reason=problem)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
