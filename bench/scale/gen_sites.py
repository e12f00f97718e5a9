"""Writes N seeded synthetic sites over the Syr Darya basin as a CSV that `tailings-atlas import` reads
(and `analyze` too: it takes lon/lat, id, country, volume_m3 and dam_height_m from the same file).

Points are drawn uniformly in lon 63..76, lat 37..45 and kept only if they fall inside the land of
KAZ, KGZ, TJK or UZB in data/countries.geojson; each site declares the country it lies in. Kinds,
statuses, activities and precisions are mixed; some tailings have a volume, some of those a dam
height too (so some get a runout screening, others a note saying what is missing).

Usage: gen_sites.py N OUT.csv [--seed S] [--countries data/countries.geojson]
Needs numpy and shapely (bench/scale.sh installs them in bench/scale/.venv).
"""
import argparse
import csv
import json

import numpy as np
import shapely
from shapely.geometry import box, shape

BASIN = (63.0, 37.0, 76.0, 45.0)
COUNTRIES = ["KAZ", "KGZ", "TJK", "UZB"]
KINDS = (["tailings", "hazardous_site"], [0.6, 0.4])
STATUSES = (["active", "inactive", "legacy", "remediated", "unknown"], [0.25, 0.2, 0.35, 0.1, 0.1])
PRECISIONS = (["site", "site_approx", "town"], [0.5, 0.3, 0.2])
ACTIVITIES = ["uranium processing legacy", "gold processing", "copper-molybdenum mining",
              "lead-zinc mining", "coal mining", "mercury-antimony processing",
              "oil refining", "chemical plant", "fertiliser plant", "ash dump"]
SUBSTANCES = ["U; Ra-226", "As; Sb; Hg", "Pb; Zn; Cd", "cyanide", "", "", ""]


def land(path):
    """The four countries' polygons, clipped to the basin's box, prepared for fast tests."""
    with open(path, encoding="utf-8") as f:
        features = json.load(f)["features"]
    out = {}
    frame = box(*BASIN)
    for feat in features:
        iso3 = feat["properties"].get("iso3")
        if iso3 in COUNTRIES:
            g = shape(feat["geometry"]).intersection(frame)
            shapely.prepare(g)
            out[iso3] = g
    missing = set(COUNTRIES) - set(out)
    if missing:
        raise SystemExit(f"{path}: no polygon for {sorted(missing)}")
    return out


def points(n, rng, polygons):
    """n points inside the polygons (rejection sampling), with the country each lies in."""
    lon, lat, iso = [], [], []
    have = 0
    while have < n:
        m = max(10_000, int((n - have) * 1.6))
        x = rng.uniform(BASIN[0], BASIN[2], m)
        y = rng.uniform(BASIN[1], BASIN[3], m)
        which = np.full(m, -1)
        for i, c in enumerate(COUNTRIES):
            inside = (which < 0) & shapely.contains_xy(polygons[c], x, y)
            which[inside] = i
        keep = which >= 0
        lon.append(x[keep]); lat.append(y[keep]); iso.append(which[keep])
        have += int(keep.sum())
    return (np.concatenate(lon)[:n], np.concatenate(lat)[:n], np.concatenate(iso)[:n])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20261211)
    ap.add_argument("--countries", default="data/countries.geojson")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    lon, lat, iso = points(a.n, rng, land(a.countries))
    pick = lambda choices: rng.choice(choices[0], size=a.n, p=choices[1])
    kind, status, precision = pick(KINDS), pick(STATUSES), pick(PRECISIONS)
    activity = rng.choice(ACTIVITIES, size=a.n)
    substances = rng.choice(SUBSTANCES, size=a.n)
    # Tailings: 70 % with a volume, 60 % of those with a dam height too.
    tailings = kind == "tailings"
    has_volume = tailings & (rng.random(a.n) < 0.7)
    has_height = has_volume & (rng.random(a.n) < 0.6)
    volume = np.exp(rng.uniform(np.log(1e4), np.log(5e7), a.n))
    height = rng.uniform(2, 80, a.n)
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "name", "kind", "activity", "country", "status", "lon", "lat", "precision",
                    "volume_m3", "dam_height_m", "substances", "sources"])
        for i in range(a.n):
            w.writerow([f"scale_{i:07d}", f"Synthetic site {i}", kind[i], activity[i],
                        COUNTRIES[iso[i]], status[i], f"{lon[i]:.6f}", f"{lat[i]:.6f}", precision[i],
                        f"{volume[i]:.0f}" if has_volume[i] else "",
                        f"{height[i]:.1f}" if has_height[i] else "",
                        substances[i], "seeded synthetic benchmark data (bench/scale.sh)"])


if __name__ == "__main__":
    main()
