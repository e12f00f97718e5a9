// The web map at /map: MapLibre GL JS drawing the service's own vector tiles through the style at
// map/style.json, with a layer switcher and legend, site filters, a site popup with the risk
// breakdown and the downstream path, a near-border tool and download links.
//
// Page parameters: ?source=tiles (default: the collections' tile endpoints), ?source=pmtiles&archive=
// /tiles/syr-darya.pmtiles (every layer from one PMTiles archive, read with HTTP range requests, so
// the page also works from a static host), ?source=geojson (the collections' GeoJSON items, for a
// service without tiles), ?style=URL (another copy of the style). Only same-origin URLs are used.
//
// A service whose reads are private (serve --private-reads) asks for a token: give it in the page's
// fragment (/map#token=ta_…; a fragment is never sent to the server, and the page takes it out of
// the address bar) or in the form the page shows. It is kept for this tab only (sessionStorage) and
// sent, as a bearer token, only to this page's origin.
//
// Everything taken from data goes into the page as text (textContent), never as HTML.
(function () {
  'use strict';

  const params = new URLSearchParams(location.search);
  const mode = params.get('source') || 'tiles';
  const statusEl = document.getElementById('status');
  const state = { map: null, meta: null, apiBase: null, sourceOf: {}, siteLayers: [], popup: null };
  window.atlas = state;

  function setStatus(text) { statusEl.textContent = text; }

  // An element with attributes and children; strings become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'style') Object.assign(e.style, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // A URL of this page's origin, or null: the page never sends a request elsewhere.
  function sameOrigin(url) {
    try {
      const u = new URL(url, location.href);
      return u.origin === location.origin ? u : null;
    } catch (_) {
      return null;
    }
  }

  const TOKEN_KEY = 'tailings-atlas:token';
  (function takeToken() {
    const h = new URLSearchParams(location.hash.slice(1));
    const t = (h.get('token') || '').trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    h.delete('token');
    const rest = h.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
  }());
  const token = () => sessionStorage.getItem(TOKEN_KEY);

  // Headers for a request to this origin: `extra`, and the token if there is one.
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    const t = token();
    if (t) h.Authorization = 'Bearer ' + t;
    return h;
  }

  // A GET of this origin's `url`, with the token.
  const get = (url, accept) => fetch(url, { headers: headers(accept ? { Accept: accept } : {}) });

  // A download of a file of this origin with the token (a plain link cannot carry it).
  async function download(url) {
    const res = await get(url);
    if (!res.ok) throw new Error('download: HTTP ' + res.status);
    const disposition = res.headers.get('Content-Disposition') || '';
    const named = /filename="?([^";]+)"?/.exec(disposition);
    const last = new URL(url).pathname.split('/').pop();
    const a = el('a', { href: URL.createObjectURL(await res.blob()),
      download: named ? named[1] : last.includes('.') ? last : last + '.geojson' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  }

  // The service wants a token and the page has none (or a refused one): ask for it.
  function askToken(refused) {
    sessionStorage.removeItem(TOKEN_KEY);
    const input = el('input', { id: 'token-input', type: 'password', autocomplete: 'off', required: '', size: '40' });
    const form = el('form', {
      id: 'token-form',
      onsubmit: (ev) => {
        ev.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        location.reload();
      },
    },
    el('p', {}, refused ? 'That token was refused. ' : '', 'This service needs a token to read (any role).'),
    el('label', {}, 'Token ', input), ' ', el('button', { type: 'submit' }, 'Open the map'));
    statusEl.replaceChildren(form);
    input.focus();
  }

  const km = (m) => (typeof m === 'number' ? (m / 1000).toFixed(m < 10000 ? 2 : 1) + ' km' : '—');
  const text = (v) => (v === null || v === undefined || v === '' ? '—'
    : typeof v === 'object' ? JSON.stringify(v) : String(v));

  // MapLibre's worker is a file of its own (the CSP build): next to the library, same version.
  const lib = document.querySelector('script[src*="maplibre-gl-csp.js"]');
  maplibregl.setWorkerUrl(lib.src.replace('maplibre-gl-csp.js', 'maplibre-gl-csp-worker.js'));

  // The style as the page draws it, for the chosen source.
  function adapt(style) {
    const meta = style.metadata || {};
    const collections = meta['tailings-atlas:collections'] || [];
    const vector = Object.keys(style.sources).filter((id) => style.sources[id].type === 'vector');
    if (mode === 'pmtiles') {
      const archive = sameOrigin(params.get('archive') || 'tiles/syr-darya.pmtiles');
      if (!archive) throw new Error('archive must be a URL of this site');
      const protocol = new pmtiles.Protocol();
      // The archive's range requests carry the token too.
      protocol.add(new pmtiles.PMTiles(new pmtiles.FetchSource(archive.href, new Headers(headers()))));
      maplibregl.addProtocol('pmtiles', protocol.tile);
      const attribution = [...new Set(vector.map((id) => style.sources[id].attribution).filter(Boolean))];
      for (const id of vector) delete style.sources[id];
      style.sources.archive = { type: 'vector', url: 'pmtiles://' + archive.href, attribution: attribution.join(' · ') };
      for (const l of style.layers) if (vector.includes(l.source)) l.source = 'archive';
      for (const c of collections) state.sourceOf[c.id] = 'archive';
    } else if (mode === 'geojson') {
      for (const c of collections) {
        const items = sameOrigin(c.items);
        if (!items || !style.sources[c.id]) continue;
        items.search = '?f=json&limit=10000';
        style.sources[c.id] = { type: 'geojson', data: items.href, attribution: style.sources[c.id].attribution };
        state.sourceOf[c.id] = c.id;
      }
      for (const l of style.layers) delete l['source-layer'];
    } else if (mode === 'tiles') {
      for (const c of collections) state.sourceOf[c.id] = c.id;
    } else {
      throw new Error('source must be tiles, pmtiles or geojson');
    }
    return style;
  }

  function buildLayerSwitcher() {
    const list = document.getElementById('layers');
    for (const c of state.meta['tailings-atlas:collections'] || []) {
      const box = el('input', { type: 'checkbox', 'data-collection': c.id });
      box.checked = !!c.visible;
      box.addEventListener('change', () => {
        for (const id of c.layers) {
          if (state.map.getLayer(id)) state.map.setLayoutProperty(id, 'visibility', box.checked ? 'visible' : 'none');
        }
      });
      const legend = el('ul', { class: 'legend' });
      for (const item of c.legend || []) {
        const sw = el('span', { class: 'swatch ' + item.shape });
        if (item.shape === 'dash') sw.style.borderTopColor = item.colour;
        else sw.style.background = item.colour;
        legend.append(el('li', {}, sw, item.label));
      }
      list.append(el('li', { 'data-collection': c.id }, el('label', {}, box, ' ', c.title), legend));
    }
  }

  function buildDownloads() {
    const list = document.getElementById('downloads');
    for (const c of state.meta['tailings-atlas:collections'] || []) {
      const li = el('li', {}, c.title + ':');
      for (const d of c.downloads || []) {
        const href = sameOrigin(d.href);
        if (!href) continue;
        const a = el('a', { href: href.href, download: '' }, d.label);
        if (token()) {
          a.addEventListener('click', (ev) => {
            ev.preventDefault();
            download(href.href).catch(report);
          });
        }
        li.append(a);
      }
      list.append(li);
    }
  }

  function buildFilters() {
    const f = state.meta['tailings-atlas:filters'] || {};
    const fill = (id, values) => {
      const sel = document.getElementById(id);
      for (const v of values || []) {
        const value = typeof v === 'object' ? v.value : v;
        const label = typeof v === 'object' ? v.label : v;
        sel.append(el('option', { value }, label));
      }
      sel.addEventListener('change', applyFilters);
    };
    fill('filter-country', f.country);
    fill('filter-kind', f.kind);
    fill('filter-risk', f.risk_class);
  }

  function filterValues() {
    return {
      country: document.getElementById('filter-country').value,
      kind: document.getElementById('filter-kind').value,
      risk: document.getElementById('filter-risk').value,
    };
  }

  function siteFilter() {
    const v = filterValues();
    const all = ['all'];
    if (v.country) all.push(['==', ['get', 'country'], v.country]);
    if (v.kind) all.push(['==', ['get', 'kind'], v.kind]);
    if (v.risk) all.push(['==', ['get', 'risk_class'], v.risk]);
    return all.length > 1 ? all : null;
  }

  function applyFilters() {
    const filter = siteFilter();
    for (const id of state.siteLayers) state.map.setFilter(id, filter);
    state.map.once('idle', countSites);
    refreshNearBorder();
  }

  function countSites() {
    const source = state.sourceOf.sites;
    if (!source || !state.map.getSource(source)) return;
    const opts = { filter: siteFilter() || undefined };
    if (mode !== 'geojson') opts.sourceLayer = 'sites';
    const ids = new Set(state.map.querySourceFeatures(source, opts).map((f) => f.properties.id));
    document.getElementById('filter-count').textContent = ids.size + ' sites match in the loaded area';
  }

  // --- near-border tool ---------------------------------------------------------------------
  let nearTimer = null;
  let nearSeq = 0;
  function refreshNearBorder() {
    clearTimeout(nearTimer);
    nearTimer = setTimeout(() => loadNearBorder().catch(report), 200);
  }

  async function loadNearBorder() {
    const list = document.getElementById('near-list');
    const summary = document.getElementById('near-summary');
    if (!state.apiBase) {
      summary.textContent = 'Needs the service (not available from a static copy).';
      return;
    }
    const kmValue = document.getElementById('near-km').value;
    const v = filterValues();
    const q = new URLSearchParams({ within_km: kmValue });
    if (v.country) q.set('country', v.country);
    if (v.kind) q.set('kind', v.kind);
    const seq = ++nearSeq;
    const res = await get(state.apiBase + '/analysis/near-border?' + q, 'application/geo+json');
    if (!res.ok) throw new Error('near-border: HTTP ' + res.status);
    const fc = await res.json();
    if (seq !== nearSeq) return;
    // The risk-class filter is the page's own: the endpoint does not know risk classes.
    if (v.risk) fc.features = fc.features.filter((f) => f.properties.risk_class === v.risk);
    state.map.getSource('near-border').setData(fc);
    list.replaceChildren(...fc.features.map((f) => {
      const p = f.properties;
      return el('li', {
        'data-site': p.id,
        onclick: () => {
          state.map.flyTo({ center: f.geometry.coordinates, zoom: Math.max(state.map.getZoom(), 8) });
          openSite(p.id, f.geometry.coordinates, p).catch(report);
        },
      }, el('span', { class: 'dist' }, km(p.distance_m)), p.name, ' (', p.country, '→', text(p.neighbour), ')');
    }));
    summary.textContent = fc.features.length + (fc.features.length === 1 ? ' site' : ' sites') +
      ' within ' + kmValue + ' km of a border, nearest first (ringed on the map).';
  }

  // --- site popup and downstream path ---------------------------------------------------------
  function classColour(value) {
    const c = ((state.meta['tailings-atlas:filters'] || {}).risk_class || []).find((x) => x.value === value);
    return c ? c.colour : '#6b6b7b';
  }

  function riskBlock(p) {
    const out = [];
    if (p.risk_class !== undefined || p.risk_score !== undefined) {
      out.push(el('p', {},
        el('span', { class: 'badge', style: { background: classColour(p.risk_class) } }, text(p.risk_class).replace('_', ' ')),
        ' risk score ', el('strong', {}, text(p.risk_score)), ' / 100',
        p.hazard_score !== undefined ? ' · hazard ' + text(p.hazard_score) + ' / 55' : null,
        p.toxicity_class ? ' · ' + text(p.toxicity_class).replace('_', ' ') : null));
    } else {
      out.push(el('p', { class: 'note' }, 'No risk score published for this site yet.'));
    }
    const factors = p.risk_factors && typeof p.risk_factors === 'object' ? Object.entries(p.risk_factors) : [];
    if (factors.length) {
      factors.sort((a, b) => (b[1].points || 0) - (a[1].points || 0));
      const rows = factors.map(([name, f]) => el('tr', {},
        el('td', {}, name.replace(/_/g, ' '), f.assumed ? el('span', { class: 'assumed' }, ' (assumed)') : null),
        el('td', {}, text(f.value)),
        el('td', { class: 'num' }, text(f.points))));
      out.push(el('table', { class: 'factors' },
        el('tr', {}, el('th', {}, 'Factor'), el('th', {}, 'Value'), el('th', {}, 'Points')), ...rows));
    }
    return out;
  }

  function siteContent(id, p, full) {
    const seq = (p.downstream_countries || '').split(',').filter(Boolean).join(' → ');
    const rows = [
      ['Nearest river', p.nearest_river_name ? text(p.nearest_river_name) + ', ' + km(p.river_distance_m)
        : p.nearest_river_id ? 'unnamed (' + text(p.nearest_river_id) + '), ' + km(p.river_distance_m) : null],
      ['Nearest border', p.border_countries ? text(p.border_countries).replace(',', '–') + ', ' + km(p.border_distance_m) : null],
      ['First crossing', p.first_crossing_from ? p.first_crossing_from + ' → ' + text(p.first_crossing_to) +
        (typeof p.downstream_border_km === 'number' ? ', ' + p.downstream_border_km.toFixed(1) + ' km downstream' : '') : (full ? 'none downstream' : null)],
      ['Countries downstream', seq || null],
      ['Drainage', p.drainage_confidence ? text(p.drainage_confidence) : null],
      ['Ends in', p.terminal_water_body ? text(p.terminal_water_body) : null],
    ].filter(([, v]) => v !== null);
    const box = el('div', { class: 'popup', 'data-site': id },
      el('h3', {}, text(p.name)),
      el('p', { class: 'sub' }, [p.kind, p.country, p.status].filter(Boolean).map((s) => String(s).replace('_', ' ')).join(' · ')),
      ...riskBlock(p),
      el('table', { class: 'facts' }, ...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', { class: k === 'Countries downstream' ? 'seq' : '' }, v)))));
    if (full && state.apiBase) {
      const button = el('button', { type: 'button', class: 'downstream' }, 'Show downstream path');
      if (p.downstream_status !== 'ok') {
        button.disabled = true;
        button.title = 'No downstream path: ' + text(p.downstream_status);
      }
      button.addEventListener('click', () => showDownstream(id, button).catch(report));
      const item = state.apiBase + '/collections/sites/items/' + encodeURIComponent(id);
      // A browser cannot open the HTML page with a token: then the record comes as a GeoJSON file.
      const record = token()
        ? el('a', { href: item + '?f=json', onclick: (ev) => { ev.preventDefault(); download(item + '?f=json').catch(report); } }, 'full record (GeoJSON)')
        : el('a', { href: item + '?f=html' }, 'full record');
      box.append(button, ' ', record);
    } else if (!full) {
      box.append(el('p', { class: 'note' }, 'Full record not available here.'));
    }
    return box;
  }

  async function openSite(id, lngLat, tileProps) {
    if (state.popup) state.popup.remove();
    const popup = new maplibregl.Popup({ maxWidth: '23rem' }).setLngLat(lngLat)
      .setDOMContent(el('div', { class: 'popup' }, el('h3', {}, text((tileProps || {}).name || id)), el('p', { class: 'note' }, 'Loading…')))
      .addTo(state.map);
    state.popup = popup;
    if (!state.apiBase) {
      popup.setDOMContent(siteContent(id, tileProps || {}, false));
      return;
    }
    const res = await get(state.apiBase + '/collections/sites/items/' + encodeURIComponent(id), 'application/geo+json');
    if (!res.ok) throw new Error('site ' + id + ': HTTP ' + res.status);
    const feature = await res.json();
    if (state.popup === popup) {
      popup.setDOMContent(siteContent(id, feature.properties, true));
      keepVisible(popup);
    }
  }

  // Pans the map so that the popup is clear of the title box over the map.
  function keepVisible(popup) {
    const box = popup.getElement().getBoundingClientRect();
    const title = document.getElementById('title').getBoundingClientRect();
    if (box.left < title.right && box.top < title.bottom + 10) {
      state.map.panBy([0, box.top - title.bottom - 20], { duration: 300 });
    }
  }

  // Country names as HTML labels: the style has no text layers, so no fonts are needed.
  function addLabels() {
    for (const l of state.meta['tailings-atlas:labels'] || []) {
      const e = el('div', { class: 'label ' + (l.kind || '') }, l.text);
      new maplibregl.Marker({ element: e }).setLngLat([l.lon, l.lat]).addTo(state.map);
    }
  }

  async function showDownstream(id, button) {
    button.disabled = true;
    button.textContent = 'Loading path…';
    const res = await get(state.apiBase + '/collections/sites/items/' + encodeURIComponent(id) + '/downstream', 'application/geo+json');
    if (!res.ok) {
      button.textContent = 'No downstream path';
      throw new Error('downstream of ' + id + ': HTTP ' + res.status);
    }
    const fc = await res.json();
    state.map.getSource('downstream').setData(fc);
    const path = fc.features.find((f) => f.properties.kind === 'path');
    if (path) {
      const b = new maplibregl.LngLatBounds();
      for (const c of path.geometry.coordinates) b.extend(c);
      state.map.fitBounds(b, { padding: { top: 120, bottom: 50, left: 50, right: 50 }, maxZoom: 9 });
      const crossings = fc.features.filter((f) => f.properties.kind === 'crossing').length;
      setStatus('Downstream path of ' + id + ': ' + path.properties.length_km + ' km along the rivers, ' +
        crossings + (crossings === 1 ? ' border crossing' : ' border crossings') + ' (white dots).');
    }
    button.textContent = 'Path shown';
    state.map.once('idle', () => { document.body.dataset.downstream = id; });
  }

  function addOverlays() {
    const map = state.map;
    const empty = { type: 'FeatureCollection', features: [] };
    map.addSource('downstream', { type: 'geojson', data: empty });
    map.addSource('near-border', { type: 'geojson', data: empty });
    map.addLayer({ id: 'downstream-casing', type: 'line', source: 'downstream', filter: ['==', ['get', 'kind'], 'path'],
      layout: { 'line-cap': 'round', 'line-join': 'round' }, paint: { 'line-color': '#ffffff', 'line-width': 7, 'line-opacity': 0.9 } });
    map.addLayer({ id: 'downstream-line', type: 'line', source: 'downstream', filter: ['==', ['get', 'kind'], 'path'],
      layout: { 'line-cap': 'round', 'line-join': 'round' }, paint: { 'line-color': '#0b3d91', 'line-width': 3.5 } });
    map.addLayer({ id: 'downstream-points', type: 'circle', source: 'downstream', filter: ['!=', ['get', 'kind'], 'path'],
      paint: { 'circle-radius': 5, 'circle-color': ['match', ['get', 'kind'], 'crossing', '#ffffff', '#7fb8e8'],
        'circle-stroke-color': '#0b3d91', 'circle-stroke-width': 2 } });
    map.addLayer({ id: 'near-border-ring', type: 'circle', source: 'near-border',
      paint: { 'circle-radius': 12, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#1565c0', 'circle-stroke-width': 2.5 } });
  }

  async function start() {
    const styleUrl = sameOrigin(params.get('style') || 'map/style.json');
    if (!styleUrl) throw new Error('style must be a URL of this site');
    const res = await get(styleUrl.href, 'application/json');
    if (res.status === 401) {
      askToken(!!token());
      return;
    }
    if (!res.ok) throw new Error('style: HTTP ' + res.status);
    const style = adapt(await res.json());
    state.meta = style.metadata || {};
    const base = sameOrigin(state.meta['tailings-atlas:base'] || '');
    // Popups, the near-border tool and paths need the service; a static copy draws the map only.
    state.apiBase = base ? base.href.replace(/\/$/, '') : null;
    const sites = (state.meta['tailings-atlas:collections'] || []).find((c) => c.id === 'sites');
    state.siteLayers = sites ? sites.layers : [];
    const [w, s, e, n] = state.meta['tailings-atlas:bounds'] || [66, 39, 78.5, 46];
    const map = new maplibregl.Map({
      container: 'map',
      style,
      bounds: [[w - 1.2, s - 0.8], [e + 0.8, n + 0.8]],
      fitBoundsOptions: { padding: { top: 100, bottom: 30, left: 20, right: 20 } },
      attributionControl: { compact: false },
      maxZoom: 14,
      // Tiles, GeoJSON sources and the style's other requests carry the token, to this origin only.
      transformRequest: (url) => {
        const t = token();
        return t && sameOrigin(url) ? { url, headers: { Authorization: 'Bearer ' + t } } : { url };
      },
    });
    state.map = map;
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-left');
    map.addControl(new maplibregl.ScaleControl({ unit: 'metric', maxWidth: 140 }), 'bottom-left');
    map.on('error', (e) => {
      const msg = (e.error && e.error.message) || String(e.error || e);
      console.error('map error: ' + msg);
      setStatus('Map error: ' + msg);
    });
    buildLayerSwitcher();
    buildFilters();
    buildDownloads();
    map.on('load', () => {
      addOverlays();
      addLabels();
      for (const id of state.siteLayers) {
        map.on('click', id, (ev) => {
          const f = ev.features[0];
          openSite(f.properties.id, ev.lngLat, f.properties).catch(report);
        });
        map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
        map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
      }
      const slider = document.getElementById('near-km');
      slider.addEventListener('input', () => {
        document.getElementById('near-km-value').textContent = slider.value;
        refreshNearBorder();
      });
      loadNearBorder().catch(report);
      map.once('idle', () => {
        countSites();
        document.body.dataset.ready = '1';
      });
    });
  }

  function report(err) {
    console.error(String(err && err.message ? err.message : err));
    setStatus(String(err && err.message ? err.message : err));
  }

  start().catch(report);
}());
