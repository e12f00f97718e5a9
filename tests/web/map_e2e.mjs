// End-to-end test of the web map in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): `node tests/web/map_e2e.mjs BASE_URL OUTDIR [PAGE_QUERY]`.
//
// Loads BASE_URL/map (with PAGE_QUERY, e.g. "?source=geojson"), waits for the layers, and checks:
// no console errors, no failed requests (network failures or HTTP errors), no request to another
// origin; the layer switcher lists only collections /collections lists; a click on a site opens a
// popup with its risk breakdown, distances, first crossing and country sequence; "show downstream
// path" draws the path; the country filter and the near-border tool work; the HTML items page shows
// its small map. Saves screenshots into OUTDIR. Prints a JSON summary; exits 1 on any failure.
//
// With ATLAS_TOKEN set (a service run with --private-reads), the page gets the token in its
// fragment (/map#token=…) and must send it itself: the browser adds nothing. Before that, a page
// without a token must ask for one, and a token typed into its form must open the map. The HTML
// items page is not checked then (a browser cannot send a bearer token when it navigates).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [base, outDir, query = ''] = process.argv.slice(2);
if (!base || !outDir) {
  console.error('usage: node map_e2e.mjs BASE_URL OUTDIR [PAGE_QUERY]');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const origin = new URL(base).origin;
const TIMEOUT = 90_000;
const token = process.env.ATLAS_TOKEN || '';
// What this script's own requests (run in the page) send: the page's requests must send it too.
const auth = token ? { Authorization: 'Bearer ' + token } : {};

const problems = [];
const summary = { base, query, checks: [] };
const check = (ok, what) => {
  summary.checks.push({ ok: !!ok, what });
  if (!ok) problems.push(what);
};

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'atlas-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  viewport: { width: 1400, height: 900 },
});

const consoleErrors = [];
const failed = [];
const foreign = [];
let requests = 0;
function watch(page) {
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text() + ' (' + (m.location().url || page.url()) + ')'); });
  page.on('pageerror', (e) => consoleErrors.push('page error: ' + e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    requests++;
    if (new URL(u).origin !== origin) foreign.push(u);
  });
  page.on('requestfailed', (r) => failed.push(r.url() + ': ' + (r.failure() || {}).errorText));
  page.on('response', (r) => { if (r.status() >= 400) failed.push(r.url() + ': HTTP ' + r.status()); });
}

try {
  if (token) {
    // Without a token the page asks for one (its request for the style is refused: not watched),
    // and the token typed into the form opens the map.
    const ask = await context.newPage();
    await ask.goto(base + '/map' + query, { waitUntil: 'load', timeout: TIMEOUT });
    await ask.locator('#token-form').waitFor({ timeout: TIMEOUT });
    check(await ask.locator('#token-input').isVisible(), 'a page without a token asks for one');
    await ask.fill('#token-input', token);
    await Promise.all([ask.waitForNavigation({ timeout: TIMEOUT }), ask.click('#token-form button')]);
    await ask.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: TIMEOUT });
    check(await ask.evaluate(() => window.atlas.map.queryRenderedFeatures({ layers: window.atlas.siteLayers }).length > 0),
      'the token typed into the form opens the map with its sites');
    await ask.close();
  }
  const page = context.pages()[0] || await context.newPage();
  watch(page);
  const t0 = Date.now();
  await page.goto(base + '/map' + query + (token ? '#token=' + encodeURIComponent(token) : ''), { waitUntil: 'load', timeout: TIMEOUT });
  if (token) check(!page.url().includes('token='), 'the page takes the token out of the address bar');
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: TIMEOUT });
  await page.waitForFunction(() => window.atlas.map.loaded() && window.atlas.map.areTilesLoaded(), null, { timeout: TIMEOUT });
  summary.load_ms = Date.now() - t0;

  // The layer switcher: only collections /collections lists, and each drawn collection has layers.
  const layers = await page.evaluate(async (auth) => {
    const listed = (await (await fetch('/collections', { headers: { Accept: 'application/json', ...auth } })).json())
      .collections.map((c) => c.id);
    const shown = [...document.querySelectorAll('#layers > li')].map((li) => li.dataset.collection);
    const drawn = {};
    for (const c of window.atlas.meta['tailings-atlas:collections']) {
      drawn[c.id] = c.layers.filter((id) => window.atlas.map.getLayer(id)).length;
    }
    const rendered = {};
    for (const c of window.atlas.meta['tailings-atlas:collections']) {
      rendered[c.id] = window.atlas.map.queryRenderedFeatures({ layers: c.layers.filter((id) => window.atlas.map.getLayoutProperty(id, 'visibility') !== 'none') }).length;
    }
    return { listed, shown, drawn, rendered };
  }, auth);
  summary.layers = layers;
  check(layers.shown.length > 0, 'the layer switcher lists collections');
  check(layers.shown.every((id) => layers.listed.includes(id)), 'the layer switcher lists only collections of /collections');
  for (const id of ['countries', 'rivers', 'borders', 'sites']) {
    check(layers.shown.includes(id), `the layer switcher lists ${id}`);
    check(layers.rendered[id] > 0, `${id} features are drawn`);
  }
  await page.screenshot({ path: path.join(outDir, 'map.png') });

  // A site that stands apart from the others on screen and is not under a panel, with a path.
  const target = await page.evaluate(async (auth) => {
    const map = window.atlas.map;
    const feats = map.queryRenderedFeatures({ layers: window.atlas.siteLayers });
    const seen = new Map();
    for (const f of feats) seen.set(f.properties.id, f.geometry.coordinates);
    const pts = [...seen].map(([id, c]) => ({ id, c, p: map.project(c) }));
    const canvas = map.getCanvas().getBoundingClientRect();
    let best = null;
    for (const a of pts) {
      const gap = Math.min(...pts.filter((b) => b !== a).map((b) => Math.hypot(a.p.x - b.p.x, a.p.y - b.p.y)), 1e9);
      const x = canvas.left + a.p.x;
      const y = canvas.top + a.p.y;
      if (document.elementFromPoint(x, y) !== map.getCanvas()) continue;
      const res = await fetch('/collections/sites/items/' + encodeURIComponent(a.id), { headers: { Accept: 'application/geo+json', ...auth } });
      const props = (await res.json()).properties;
      if (props.downstream_status !== 'ok' || !props.first_crossing_from) continue;
      if (!best || gap > best.gap) best = { id: a.id, x, y, gap, props };
    }
    return best;
  }, auth);
  check(target && target.gap > 10, 'a site stands apart on screen to click');
  if (target) {
    summary.clicked = { id: target.id, gap_px: Math.round(target.gap) };
    await page.mouse.click(target.x, target.y);
    const popup = page.locator(`.maplibregl-popup .popup[data-site="${target.id}"]`);
    await popup.locator('button.downstream').waitFor({ timeout: TIMEOUT });
    const popupText = await popup.innerText();
    summary.popup = popupText;
    const p = target.props;
    check(popupText.includes(p.name), 'the popup names the site');
    check(popupText.includes('Nearest river') && popupText.includes('Nearest border'), 'the popup gives the distances');
    check(popupText.includes((p.river_distance_m / 1000).toFixed(p.river_distance_m < 10000 ? 2 : 1) + ' km'), 'the popup gives the river distance');
    check(popupText.includes(`${p.first_crossing_from} → ${p.first_crossing_to}`), 'the popup gives the first crossing');
    check(popupText.includes(p.downstream_countries.split(',').join(' → ')), 'the popup gives the country sequence');
    if (p.risk_factors && typeof p.risk_factors === 'object') {
      for (const [name, f] of Object.entries(p.risk_factors)) {
        check(popupText.includes(name.replace(/_/g, ' ')) && popupText.includes(String(f.points)), `the popup lists risk factor ${name}`);
      }
      check(popupText.includes(String(p.risk_score)), 'the popup gives the risk score');
    } else {
      check(popupText.includes('No risk score published'), 'the popup says the site has no risk score yet');
    }
    await page.screenshot({ path: path.join(outDir, 'map-popup.png') });
    if (token) {
      // The full record comes as a file the page fetched with the token.
      const [dl] = await Promise.all([
        page.waitForEvent('download', { timeout: TIMEOUT }),
        popup.locator('a', { hasText: 'full record' }).click(),
      ]);
      const record = JSON.parse(fs.readFileSync(await dl.path(), 'utf8'));
      check(record.id === target.id && dl.suggestedFilename().endsWith('.geojson'),
        'the full record downloads with the token: ' + dl.suggestedFilename());
    }
    await popup.locator('button.downstream').click();
    await page.waitForFunction((id) => document.body.dataset.downstream === id, target.id, { timeout: TIMEOUT });
    const drawnPath = await page.evaluate(() => ({
      source: window.atlas.map.querySourceFeatures('downstream').length,
      rendered: window.atlas.map.queryRenderedFeatures({ layers: ['downstream-line'] }).length,
      status: document.getElementById('status').textContent,
    }));
    summary.path = drawnPath;
    check(drawnPath.source > 0 && drawnPath.rendered > 0, 'the downstream path is drawn');
    await page.screenshot({ path: path.join(outDir, 'map-downstream.png') });
  }

  // The near-border tool lists what /analysis/near-border answers, and rings it on the map.
  await page.evaluate(() => {
    const s = document.getElementById('near-km');
    s.value = '40';
    s.dispatchEvent(new Event('input'));
  });
  const expected = await page.evaluate(async (auth) => (await (await fetch('/analysis/near-border?within_km=40', { headers: auth })).json()).features.map((f) => f.properties.id), auth);
  await page.waitForFunction((n) => document.querySelectorAll('#near-list li').length === n &&
    document.getElementById('near-summary').textContent.includes('within 40 km'), expected.length, { timeout: TIMEOUT });
  const listed = await page.evaluate(() => [...document.querySelectorAll('#near-list li')].map((li) => li.dataset.site));
  check(expected.length > 0 && JSON.stringify(listed) === JSON.stringify(expected), 'the near-border list matches /analysis/near-border');
  summary.near_border_40km = listed.length;

  // The country filter keeps only that country's sites on the map.
  await page.selectOption('#filter-country', 'KGZ');
  await page.waitForFunction(() => window.atlas.map.loaded() && window.atlas.map.areTilesLoaded(), null, { timeout: TIMEOUT });
  await page.evaluate(() => new Promise((r) => { window.atlas.map.once('idle', r); window.atlas.map.triggerRepaint(); }));
  const countries = await page.evaluate(() => [...new Set(window.atlas.map.queryRenderedFeatures({ layers: window.atlas.siteLayers }).map((f) => f.properties.country))]);
  check(countries.length === 1 && countries[0] === 'KGZ', 'the country filter shows only KGZ sites');
  await page.selectOption('#filter-country', '');

  // The HTML items page shows its features on a small map.
  if (!token) {
    const items = await context.newPage();
    watch(items);
    await items.goto(base + '/collections/sites/items?f=html', { waitUntil: 'load', timeout: TIMEOUT });
    await items.waitForFunction(() => window.featureMap && window.featureMap.loaded() && window.featureMap.areTilesLoaded(), null, { timeout: TIMEOUT });
    const onItems = await items.evaluate(() => window.featureMap.queryRenderedFeatures({ layers: ['page-point'] }).length);
    check(onItems > 0, 'the items page draws its sites on a small map');
    await items.screenshot({ path: path.join(outDir, 'items.png') });
  }
} catch (e) {
  problems.push('exception: ' + (e && e.stack ? e.stack : e));
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

summary.requests = requests;
check(requests > 0, 'the page made requests');
check(consoleErrors.length === 0, 'no console errors: ' + JSON.stringify(consoleErrors.slice(0, 5)));
check(failed.length === 0, 'no failed requests: ' + JSON.stringify(failed.slice(0, 5)));
check(foreign.length === 0, 'no request to another origin: ' + JSON.stringify(foreign.slice(0, 5)));
summary.problems = problems;
console.log(JSON.stringify(summary, null, 2));
process.exit(problems.length ? 1 : 0);
