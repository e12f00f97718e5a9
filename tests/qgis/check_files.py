"""Opens files the way a QGIS user does (Layer > Add Vector Layer, the OGR provider) and checks what
QGIS sees: the store itself (a GeoPackage with a `sites` layer carrying every attribute) and the
exports. Exit status 0 only if every check passes.

Usage: /usr/bin/python3 tests/qgis/check_files.py COUNT FIELD[,FIELD...] URI [URI...]
  COUNT   the number of sites every layer must have
  FIELD   attributes every layer must carry
  URI     an OGR data source as QGIS takes it, e.g. atlas.gpkg|layername=sites or /vsizip/x.shp.zip,
          or a file:// URI for QGIS's delimited-text provider (how QGIS users add a CSV with lon/lat)
"""
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsVectorLayer  # noqa: E402


def main(count, fields, uris):
    failures = []
    app = QgsApplication([], False)
    app.initQgis()
    for uri in uris:
        provider = "delimitedtext" if uri.startswith("file://") else "ogr"
        layer = QgsVectorLayer(uri, "sites", provider)
        if not layer.isValid():
            failures.append(f"{uri}: QGIS says the layer is invalid: {layer.error().summary()}")
            continue
        feats = list(layer.getFeatures())
        if len(feats) != count:
            failures.append(f"{uri}: QGIS read {len(feats)} features, expected {count}")
        if any(f.geometry().isNull() for f in feats):
            failures.append(f"{uri}: features without geometry")
        if layer.crs().authid() not in ("EPSG:4326", "OGC:CRS84"):
            failures.append(f"{uri}: CRS {layer.crs().authid()}")
        names = [f.name() for f in layer.fields()]
        # KML calls the placemark name `Name`.
        lower = [n.lower() for n in names]
        missing = [f for f in fields if f.lower() not in lower]
        if missing:
            failures.append(f"{uri}: fields {missing} missing from {names}")
        print(f"{uri}: valid, {len(feats)} features, {len(names)} fields, CRS {layer.crs().authid()}")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3:]))
