"""Loads every collection of a running tailings-atlas through QGIS's own OGC API - Features provider
(the code path of Layer > Add WFS / OGC API - Features Layer) and checks what QGIS sees against what
the server says it serves. Exit status 0 only if every check passes.

Usage: /usr/bin/python3 tests/qgis/check_layers.py http://127.0.0.1:PORT
Needs Debian's python3-qgis and qgis-providers (scripts/setup.sh installs them).
"""
import json
import os
import sys
import urllib.parse
import urllib.request

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsFeatureRequest,
    QgsNetworkAccessManager,
    QgsRectangle,
    QgsVectorLayer,
)

COLLECTIONS = ["sites", "rivers", "borders", "countries", "water-bodies"]
BBOX = (70.0, 40.0, 73.0, 42.0)


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def main(base):
    failures = []
    counts = get_json(f"{base}/health")["collections"]
    app = QgsApplication([], False)
    app.initQgis()
    for name in COLLECTIONS:
        layer = QgsVectorLayer(f"url='{base}' typename='{name}'", name, "OAPIF")
        if not layer.isValid():
            failures.append(f"{name}: QGIS says the layer is invalid: {layer.error().summary()}")
            continue
        feats = list(layer.getFeatures())
        ids = [f["id"] for f in feats]
        if len(feats) != counts[name] or len(set(ids)) != len(ids):
            failures.append(f"{name}: QGIS read {len(feats)} features ({len(set(ids))} distinct), server has {counts[name]}")
        if any(f.geometry().isNull() for f in feats):
            failures.append(f"{name}: features without geometry")
        if layer.crs().authid() != "EPSG:4326":
            failures.append(f"{name}: CRS {layer.crs().authid()}")
        if "id" not in [f.name() for f in layer.fields()]:
            failures.append(f"{name}: no id field")
        print(f"{name}: valid, {len(feats)} features, extent {layer.extent().toString(3)}")

    # Panning the map makes QGIS ask for a bbox; it must see the features the server selects.
    layer = QgsVectorLayer(f"url='{base}' typename='sites'", "sites", "OAPIF")
    request = QgsFeatureRequest().setFilterRect(QgsRectangle(*BBOX))
    seen = sorted(f["id"] for f in layer.getFeatures(request))
    bbox = ",".join(str(v) for v in BBOX)
    served = sorted(f["id"] for f in get_json(f"{base}/collections/sites/items?bbox={bbox}&limit=10000")["features"])
    if seen != served or not served:
        failures.append(f"sites in {bbox}: QGIS saw {seen}, server selects {served}")
    print(f"sites in {bbox}: {len(seen)}")

    # A layer with a filter (the provider's subset string): QGIS must show the sites the server's
    # CQL2 filter selects. Whether QGIS sends it to the server or filters what it downloaded is its
    # choice (3.22 filters locally); the URLs it asked for tell which, and are reported.
    where = "country = 'KGZ' AND river_distance_m < 30000"
    urls = []
    QgsNetworkAccessManager.instance().requestAboutToBeCreated.connect(
        lambda r: urls.append(r.request().url().toString())
    )
    layer = QgsVectorLayer(f"url='{base}' typename='sites'", "sites", "OAPIF")
    if not layer.setSubsetString(where):
        failures.append(f"sites: QGIS refused the filter {where!r}")
    seen = sorted(f["id"] for f in layer.getFeatures())
    query = urllib.parse.urlencode({"filter": where, "limit": 10000})
    served = sorted(f["id"] for f in get_json(f"{base}/collections/sites/items?{query}")["features"])
    if seen != served or not served:
        failures.append(f"sites where {where}: QGIS saw {seen}, the server's filter selects {served}")
    pushed = any("filter=" in u for u in urls)
    print(f"sites where {where}: {len(seen)} ({'filtered by the server' if pushed else 'filtered by QGIS'})")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    code = main(sys.argv[1].rstrip("/"))
    sys.stdout.flush()
    sys.stderr.flush()
    # QGIS 3.22 can crash while tearing down its providers at interpreter exit; the checks are done,
    # so leave without running those destructors.
    os._exit(code)
