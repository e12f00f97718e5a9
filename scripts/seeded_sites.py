#!/usr/bin/env python3
"""Writes a deterministic inventory of N generated sites as a CSV that `tailings-atlas import` reads.

    scripts/seeded_sites.py [OUT] [-n N] [--seed S]

N sites (default 10000, seed 42) scattered over the Syr Darya basin (lon 63..76, lat 37..45), ids
`gen_000001`... in the identity mapping's columns (those of tests/fixtures/import/sites_lonlat.csv):
a mix of kinds, statuses and precisions; the country by a rough guess from the location (KAZ, KGZ,
TJK, UZB: it need not be the country the analysis finds); some volumes, dam heights, tonnages and
areas; `;`-separated substances and sources; some local names (Cyrillic, Uzbek Latin), status notes
and free attributes; and some texts with characters that need escaping in CSV, JSON, HTML or KML
(quotes, commas, `&`, `<`, `>`, apostrophes, non-ASCII).

The same seed and N give the same bytes (Python's `random.Random` is stable across versions for
`random()`, which is the only draw used). Writes to stdout when OUT is `-` or absent.

Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys

COLUMNS = ["id", "name", "local_name", "kind", "activity", "country", "status", "status_note",
           "lon", "lat", "precision", "volume_m3", "tonnage_t", "dam_height_m", "area_m2",
           "substances", "receiving_river", "sources", "attributes"]

KINDS = ["tailings", "tailings", "tailings", "hazardous_site", "hazardous_site"]
STATUSES = ["active", "inactive", "legacy", "legacy", "remediated", "unknown"]
PRECISIONS = ["site", "site", "site_approx", "town"]
ACTIVITIES = {
    "tailings": ["uranium legacy", "gold processing", "copper-molybdenum flotation",
                 "lead-zinc processing", "antimony-mercury processing", "coal washing"],
    "hazardous_site": ["oil refining", "chemical plant", "pesticide store", "waste rock dump",
                       "smelter slag dump", "fertiliser plant", "municipal landfill"],
}
SUBSTANCES = ["U", "Ra-226", "Th", "As", "Pb", "Zn", "Cd", "Hg", "Sb", "Cu", "Mo", "CN⁻",
              "DDT", "HCH", "sulphuric acid", "oil products"]
RIVERS = ["Syr Darya", "Naryn", "Kara Darya", "Chirchiq", "Angren", "Mailuu-Suu", "Sokh",
          "Isfara", "Arys", "Keles", "Talas", "Chatkal", "Zeravshan"]
PLACES = ["Kara-Balta", "Taboshar", "Chkalovsk", "Yangiabad", "Angren", "Almalyk", "Kentau",
          "Shymkent", "Khujand", "Istiklol", "Kan", "Khaidarkan", "Kadamjai", "Shekaftar",
          "Sumsar", "Charkesar", "Koitash", "Navoi", "Zarafshan", "Shieli"]
# Names in the local script (with the occasional character that needs escaping).
LOCAL = ["Хвостохранилище № {n}", "Отвал «{n}»", "Qoʻrgʻoncha chiqindixonasi {n}",
         "Шламонакопитель {n}", "Ташқи қоялма {n}", "Қалдиқ қоймасы {n}",
         "Партовгоҳи \"{n}\"", "Хвосты, карта {n}"]
NOTES = ["closed 1991", "remediated 2013-2017, monitored", "partly covered; erosion \"severe\"",
         "dam breached in 1958 & 1964", "reprocessing < 50% complete", "see report (Ru), p. 12",
         "active, permit 'AB-12'", "water level > crest in spring", "ревизия 2019 г.",
         "tailings to be moved, 2026–2030"]


def country_of(lon: float, lat: float) -> str:
    """A rough guess of the country at a point of the basin (good enough to mix the four)."""
    if lat >= 43.0:
        return "KAZ"
    if lon < 68.0:
        if lat >= 42.3:
            return "KAZ"
        return "TJK" if lat < 38.0 and lon > 67.5 else "UZB"
    if lon < 70.0:
        if lat >= 41.5:
            return "KAZ"
        return "TJK" if lat < 40.3 else "UZB"
    if lon < 73.2:
        if lat >= 42.7:
            return "KAZ"
        if lat >= 41.5:
            return "KGZ"
        if lat >= 40.3:
            return "UZB"
        return "TJK" if lat < 39.5 else "KGZ"
    if lat >= 42.9:
        return "KAZ"
    return "KGZ" if lat >= 39.3 else "TJK"


def number(r: random.Random, lo: float, hi: float) -> str:
    """A positive number in one of the spellings a spreadsheet writes."""
    v = lo * (hi / lo) ** r.random()
    form = r.random()
    if form < 0.4:
        return str(int(round(v)))
    if form < 0.7:
        return f"{v:.1f}"
    if form < 0.9:
        return f"{v:.3f}"
    return f"{v:.2e}"


def site(r: random.Random, i: int) -> dict[str, str]:
    def pick(xs):
        return xs[int(r.random() * len(xs))]

    def chance(p: float) -> bool:
        return r.random() < p

    lon = 63.0 + 13.0 * r.random()
    lat = 37.0 + 8.0 * r.random()
    kind = pick(KINDS)
    place = pick(PLACES)
    name = f"{place} {'tailings' if kind == 'tailings' else 'site'} {i}"
    special = r.random()
    if special < 0.03:
        name = f'{place} "Pond {i}", upper'
    elif special < 0.05:
        name = f"{place} waste & slag <{i}>"
    elif special < 0.07:
        name = f"Qoʻrgʻon-{i} (Ўзбекистон), dump"
    elif special < 0.08:
        name = f"{place}'s dump №{i}; old"
    row = {
        "id": f"gen_{i:06d}",
        "name": name,
        "local_name": pick(LOCAL).format(n=i) if chance(0.3) else "",
        "kind": kind,
        "activity": pick(ACTIVITIES[kind]),
        "country": country_of(lon, lat),
        "status": pick(STATUSES) if chance(0.95) else "",
        "status_note": pick(NOTES) if chance(0.25) else "",
        "lon": f"{lon:.{pick([3, 4, 5, 6])}f}",
        "lat": f"{lat:.{pick([3, 4, 5, 6])}f}",
        "precision": pick(PRECISIONS),
        "volume_m3": number(r, 1e3, 5e7) if chance(0.4) else "",
        "tonnage_t": number(r, 1e3, 8e7) if chance(0.25) else "",
        "dam_height_m": number(r, 1.0, 120.0) if chance(0.3) else "",
        "area_m2": number(r, 100.0, 5e6) if chance(0.2) else "",
        "substances": "; ".join(sorted({pick(SUBSTANCES) for _ in range(1 + int(r.random() * 4))}))
        if chance(0.5) else "",
        "receiving_river": pick(RIVERS) if chance(0.35) else "",
        "sources": ";".join(
            [f"https://example.org/survey/{i}"]
            + ([f"https://example.org/report?id={i}&lang=ru"] if chance(0.3) else [])
            + (["Field visit, 2019 (\"unpublished\")"] if chance(0.05) else [])),
        "attributes": "",
    }
    if chance(0.15):
        attrs: dict = {"zone": pick(["north", "south", "Ферганская долина"])}
        if chance(0.5):
            attrs["founded"] = 1930 + int(r.random() * 70)
        if chance(0.3):
            attrs["ratio"] = round(r.random(), 4)
        if chance(0.2):
            attrs["note"] = pick(NOTES)
        if chance(0.2):
            attrs["a_first"] = [pick(SUBSTANCES), True, None]
        row["attributes"] = json.dumps(attrs, ensure_ascii=False)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default="-", help="the CSV to write (default: stdout)")
    ap.add_argument("-n", type=int, default=10000, help="how many sites (default 10000)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    a = ap.parse_args()
    if not 1 <= a.n <= 999_999:
        print("error: -n must be in [1, 999999]", file=sys.stderr)
        return 2
    r = random.Random(a.seed)
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for i in range(1, a.n + 1):
        w.writerow(site(r, i))
    data = buf.getvalue().encode("utf-8")
    if a.out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(a.out, "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
