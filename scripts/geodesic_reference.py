#!/usr/bin/env python3
"""Writes tests/fixtures/geodesic_point_segment.csv: point-to-segment geodesic distances on WGS 84
computed with pyproj's Geod (PROJ's implementation of Karney's geodesics), independently of the Rust
code they check.

Each row: a point P, a geodesic segment A-B, the distance from P to the nearest point of the segment
(metres) and that point. The minimum is found by sampling 2,000 points along the segment and
refining with a golden-section search, all through Geod.fwd/Geod.inv.

Reproducible: seeded. Usage (needs pyproj, e.g. in a virtualenv):
    python3 scripts/geodesic_reference.py [--out tests/fixtures/geodesic_point_segment.csv]
"""
import argparse
import csv
import math
import random

from pyproj import Geod

G = Geod(ellps="WGS84")


def nearest(p, a, b):
    az, _, length = G.inv(a[0], a[1], b[0], b[1])

    def at(s):
        lon, lat, _ = G.fwd(a[0], a[1], az, s)
        return G.inv(p[0], p[1], lon, lat)[2], (lon, lat)

    if length < 1e-3:
        d, _ = at(0.0)
        return d, a
    n = 2000
    best_s, (best, _) = 0.0, at(0.0)
    for i in range(1, n + 1):
        s = length * i / n
        d, _ = at(s)
        if d < best:
            best_s, best = s, d
    lo, hi = max(0.0, best_s - length / n), min(length, best_s + length / n)
    phi = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        m1, m2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
        if at(m1)[0] < at(m2)[0]:
            hi = m2
        else:
            lo = m1
    candidates = [at(0.0), at(length), at((lo + hi) / 2)]
    return min(candidates, key=lambda c: c[0])


def cases(rng):
    # Random segments in and around the Syr Darya basin, from 10 m to ~200 km long, points up to
    # ~300 km away.
    for _ in range(400):
        a = (rng.uniform(60, 78), rng.uniform(38, 47))
        length = 10 ** rng.uniform(-4, math.log10(2.0))
        ang = rng.uniform(0, 2 * math.pi)
        b = (a[0] + length * math.cos(ang), a[1] + length * math.sin(ang))
        reach = 10 ** rng.uniform(-3, math.log10(3.0))
        ang = rng.uniform(0, 2 * math.pi)
        p = (a[0] + reach * math.cos(ang), a[1] + reach * math.sin(ang))
        yield "random", p, a, b
    # Long east-west segment: the geodesic bulges poleward of the parallel.
    yield "long_ew", (70.0, 47.5), (65.0, 47.0), (75.0, 47.0)
    # Meridional segment, point beside its middle.
    yield "meridian", (71.0, 41.5), (70.0, 40.0), (70.0, 43.0)
    # Foot beyond an end: the nearest point is the end itself.
    yield "beyond_end", (69.0, 41.0), (70.0, 41.0), (71.0, 41.2)
    # Point on the segment.
    yield "on_segment", (70.5, 41.0), (70.0, 41.0), (71.0, 41.0)
    # Degenerate segment.
    yield "degenerate", (70.3, 41.3), (70.0, 41.0), (70.0, 41.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/geodesic_point_segment.csv")
    args = ap.parse_args()
    rng = random.Random(20231104)
    with open(args.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["case", "p_lon", "p_lat", "a_lon", "a_lat", "b_lon", "b_lat",
                    "distance_m", "near_lon", "near_lat"])
        for name, p, a, b in cases(rng):
            d, q = nearest(p, a, b)
            w.writerow([name, *(repr(v) for v in (*p, *a, *b, d, *q))])


if __name__ == "__main__":
    main()
