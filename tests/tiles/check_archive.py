"""Reads a PMTiles archive written by `tailings-atlas tiles` with the reference reader (PyPI's
pmtiles), from the file and through the service's `/tiles/{file}` with HTTP range requests, and
decodes a known tile with mapbox-vector-tile.

Usage: .venv/bin/python tests/tiles/check_archive.py FILE [http://127.0.0.1:PORT/tiles/NAME]
"""
import gzip
import json
import sys
import urllib.request

import mapbox_vector_tile
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import Compression, TileType

# Tile z5 22/12 holds the Fergana valley: countries, borders, rivers and sites.
KNOWN = (5, 22, 12)


def check(reader, where, failures):
    h = reader.header()
    if h["tile_type"] != TileType.MVT or h["tile_compression"] != Compression.GZIP:
        failures.append(f"{where}: tile type {h['tile_type']}, compression {h['tile_compression']}")
    if (h["min_zoom"], h["max_zoom"]) != (0, 6):
        failures.append(f"{where}: zooms {h['min_zoom']}..{h['max_zoom']}")
    lon = (h["min_lon_e7"] / 1e7, h["max_lon_e7"] / 1e7)
    lat = (h["min_lat_e7"] / 1e7, h["max_lat_e7"] / 1e7)
    if not (lon[0] < 70 < lon[1] and lat[0] < 41 < lat[1]):
        failures.append(f"{where}: bounds {lon} {lat}")
    meta = reader.metadata()
    ids = [l["id"] for l in meta.get("vector_layers", [])]
    for must in ("sites", "rivers", "countries", "borders", "water-bodies"):
        if must not in ids:
            failures.append(f"{where}: metadata vector_layers {ids} lack {must}")
    data = reader.get(*KNOWN)
    if not data:
        failures.append(f"{where}: no tile {KNOWN}")
        return
    tile = mapbox_vector_tile.decode(gzip.decompress(data))
    for must in ("countries", "rivers", "sites", "borders"):
        if not tile.get(must, {}).get("features"):
            failures.append(f"{where}: tile {KNOWN} has no {must}: {sorted(tile)}")
    if reader.get(5, 0, 0):
        failures.append(f"{where}: a tile far outside the bounds is stored")
    print(f"{where}: {h['addressed_tiles_count']} tiles addressed, layers {ids}, "
          f"tile {KNOWN}: " + ", ".join(f"{k} {len(v['features'])}" for k, v in sorted(tile.items())))


def http_source(url, failures):
    def get_bytes(offset, length):
        req = urllib.request.Request(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            body = r.read()
            if r.status != 206 or len(body) != length:
                failures.append(f"range {offset}+{length}: {r.status}, {len(body)} bytes")
            if r.headers.get("Accept-Ranges") != "bytes":
                failures.append("no Accept-Ranges: bytes")
            if not r.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
                failures.append(f"Content-Range {r.headers.get('Content-Range')}")
            return body
    return get_bytes


def main(path, url=None):
    failures = []
    with open(path, "r+b") as f:
        check(Reader(MmapSource(f)), path, failures)
    if url:
        check(Reader(http_source(url, failures)), url, failures)
        with urllib.request.urlopen(url, timeout=60) as r:
            if r.headers.get_content_type() != "application/vnd.pmtiles":
                failures.append(f"content type {r.headers.get_content_type()}")
            with open(path, "rb") as f:
                if r.read() != f.read():
                    failures.append("the whole file served differs from the archive")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
