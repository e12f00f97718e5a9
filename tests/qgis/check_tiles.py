"""Loads the vector tiles of a running tailings-atlas in QGIS's own vector-tile provider (the code
path of Layer > Add Layer > Add Vector Tile Layer, XYZ connection), for two collections and the
combined map, draws them with a style of known colours, and checks that QGIS decoded and drew the
features: pixels of each layer's colour where the layer has features. When the service has a
MapLibre style at /map/style.json, the combined map is drawn with it too (QGIS's own converter).

Usage: /usr/bin/python3 tests/qgis/check_tiles.py http://127.0.0.1:PORT
Needs Debian's python3-qgis and qgis-providers (scripts/setup.sh installs them).
"""
import json
import os
import sys
import urllib.error
import urllib.request

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import (  # noqa: E402
    QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsDataSourceUri,
    QgsFillSymbol, QgsLineSymbol, QgsMapRendererSequentialJob, QgsMapSettings, QgsMarkerSymbol,
    QgsProject, QgsRectangle, QgsVectorTileBasicRenderer, QgsVectorTileBasicRendererStyle,
    QgsVectorTileLayer, QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

# The Fergana valley and the mountains around it: sites, rivers, borders.
BBOX = (69.0, 39.5, 74.5, 42.5)
RED, BLUE, GREEN = QColor(255, 0, 0), QColor(0, 0, 255), QColor(0, 160, 0)


def tile_layer(template, name):
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", template)
    uri.setParam("zmin", "0")
    uri.setParam("zmax", "14")
    return QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), name)


def style(name, layer, geom, symbol):
    s = QgsVectorTileBasicRendererStyle(name, layer, geom)
    s.setSymbol(symbol)
    return s


def known_colours():
    r = QgsVectorTileBasicRenderer()
    r.setStyles([
        style("countries", "countries", QgsWkbTypes.PolygonGeometry,
              QgsFillSymbol.createSimple({"color": "0,160,0,255", "outline_style": "no"})),
        style("rivers", "rivers", QgsWkbTypes.LineGeometry,
              QgsLineSymbol.createSimple({"color": "0,0,255,255", "width": "0.8"})),
        style("sites", "sites", QgsWkbTypes.PointGeometry,
              QgsMarkerSymbol.createSimple({"color": "255,0,0,255", "size": "3", "outline_style": "no"})),
    ])
    return r


def render(layers, size=600):
    settings = QgsMapSettings()
    crs = QgsCoordinateReferenceSystem("EPSG:3857")
    settings.setDestinationCrs(crs)
    tr = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), crs, QgsProject.instance())
    settings.setExtent(tr.transformBoundingBox(QgsRectangle(*BBOX)))
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setLayers(layers)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def count(img, colour, tolerance=40):
    n = 0
    for y in range(0, img.height(), 2):
        for x in range(0, img.width(), 2):
            c = img.pixelColor(x, y)
            if (abs(c.red() - colour.red()) + abs(c.green() - colour.green())
                    + abs(c.blue() - colour.blue())) <= tolerance:
                n += 1
    return n


def main(base):
    failures = []
    app = QgsApplication([], False)
    app.initQgis()
    tiles = "/tiles/WebMercatorQuad/{z}/{x}/{y}"
    checks = [("sites", RED), ("rivers", BLUE), ("countries", GREEN)]
    for name, colour in checks:
        layer = tile_layer(f"{base}/collections/{name}{tiles}", name)
        if not layer.isValid():
            failures.append(f"{name}: QGIS says the vector tile layer is invalid: {layer.error().summary()}")
            continue
        layer.setRenderer(known_colours())
        img = render([layer])
        n = count(img, colour)
        print(f"{name}: valid vector tile layer, {n} pixels of its colour")
        if n < 10:
            failures.append(f"{name}: QGIS drew {n} pixels of the layer's colour")
        # Nothing of the other layers' colours: each collection's tiles hold only that layer.
        for other, oc in checks:
            if other != name and count(img, oc) > 0:
                failures.append(f"{name}: tiles drew {other}'s colour")

    # The combined map: every layer in one tile.
    layer = tile_layer(f"{base}/map/tiles/{{z}}/{{x}}/{{y}}", "map")
    if not layer.isValid():
        failures.append(f"map: invalid: {layer.error().summary()}")
    else:
        layer.setRenderer(known_colours())
        img = render([layer])
        counts = {name: count(img, colour) for name, colour in checks}
        print(f"map: valid, pixels {counts}")
        for name, n in counts.items():
            if n < 10:
                failures.append(f"map: {name} drew {n} pixels")
        img.save(os.environ.get("ATLAS_QGIS_TILES_PNG", "/tmp/atlas-qgis-tiles.png"))

    # The web map's MapLibre style, if the service has one, through QGIS's converter.
    try:
        with urllib.request.urlopen(f"{base}/map/style.json", timeout=30) as r:
            style_doc = json.load(r)
    except urllib.error.HTTPError as e:
        style_doc = None
        print(f"style: /map/style.json answers {e.code}; drawn without it")
    if style_doc is not None:
        from qgis.core import QgsMapBoxGlStyleConversionContext, QgsMapBoxGlStyleConverter
        conv = QgsMapBoxGlStyleConverter()
        ctx = QgsMapBoxGlStyleConversionContext()
        if conv.convert(style_doc, ctx) != QgsMapBoxGlStyleConverter.Success:
            failures.append(f"style: QGIS cannot convert it: {conv.errorMessage()}")
        else:
            layer = tile_layer(f"{base}/map/tiles/{{z}}/{{x}}/{{y}}", "styled")
            layer.setRenderer(conv.renderer())
            img = render([layer])
            white = count(img, QColor(255, 255, 255), 0)
            total = (img.width() // 2) * (img.height() // 2)
            print(f"style: converted with {len(conv.warnings())} warnings, {total - white} drawn pixels")
            if total - white < 100:
                failures.append("style: the styled map is blank")
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/")))
