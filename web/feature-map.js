// The small map on the HTML pages of items and features: the page's own features (read from its
// GeoJSON twin, named in data-src) over the basemap layers of the web map's style (countries,
// lakes, rivers, borders). Same-origin requests only; nothing from the data becomes HTML.
(function () {
  'use strict';
  const box = document.getElementById('feature-map');
  if (!box || !window.maplibregl) return;
  const lib = document.querySelector('script[src*="maplibre-gl-csp.js"]');
  maplibregl.setWorkerUrl(lib.src.replace('maplibre-gl-csp.js', 'maplibre-gl-csp-worker.js'));
  const BASEMAP = ['countries', 'water-bodies', 'rivers', 'borders'];

  async function json(url, accept) {
    const u = new URL(url, location.href);
    if (u.origin !== location.origin) throw new Error('not a URL of this site: ' + url);
    const res = await fetch(u.href, { headers: { Accept: accept } });
    if (!res.ok) throw new Error(u.pathname + ': HTTP ' + res.status);
    return res.json();
  }

  function bounds(fc) {
    const b = new maplibregl.LngLatBounds();
    const walk = (c) => {
      if (typeof c[0] === 'number') b.extend([c[0], c[1]]);
      else for (const x of c) walk(x);
    };
    for (const f of fc.features || []) if (f.geometry) walk(f.geometry.coordinates);
    return b.isEmpty() ? null : b;
  }

  async function start() {
    const [data, style] = await Promise.all([
      json(box.dataset.src, 'application/geo+json'),
      json('/map/style.json', 'application/json'),
    ]);
    const fc = data.type === 'Feature' ? { type: 'FeatureCollection', features: [data] } : data;
    const keep = (l) => l.type === 'background' || BASEMAP.includes(l.source);
    style.layers = style.layers.filter(keep);
    for (const id of Object.keys(style.sources)) if (!BASEMAP.includes(id)) delete style.sources[id];
    for (const l of style.layers) if (l.layout) delete l.layout.visibility;
    style.sources.page = { type: 'geojson', data: fc };
    const colour = '#c2185b';
    style.layers.push(
      { id: 'page-fill', type: 'fill', source: 'page', filter: ['in', ['geometry-type'], ['literal', ['Polygon', 'MultiPolygon']]],
        paint: { 'fill-color': colour, 'fill-opacity': 0.25 } },
      { id: 'page-line', type: 'line', source: 'page', filter: ['in', ['geometry-type'], ['literal', ['LineString', 'MultiLineString', 'Polygon', 'MultiPolygon']]],
        paint: { 'line-color': colour, 'line-width': 2 } },
      { id: 'page-point', type: 'circle', source: 'page', filter: ['in', ['geometry-type'], ['literal', ['Point', 'MultiPoint']]],
        paint: { 'circle-color': colour, 'circle-radius': 5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
    const b = bounds(fc);
    const map = new maplibregl.Map({
      container: box, style, attributionControl: { compact: true },
      bounds: b || [[66, 39], [78.5, 46]], fitBoundsOptions: { padding: 30, maxZoom: 9 },
    });
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    // The attribution starts folded (its "i" button), so it does not cover the small map.
    map.once('load', () => {
      const a = box.querySelector('.maplibregl-ctrl-attrib');
      if (a) a.classList.remove('maplibregl-compact-show');
    });
    map.on('error', (e) => console.error('map error: ' + ((e.error && e.error.message) || e)));
    window.featureMap = map;
  }

  start().catch((e) => {
    console.error(String(e.message || e));
    box.textContent = 'Map not available: ' + String(e.message || e);
  });
}());
