"""Writes bench/filter.sh's Markdown report from its results (server, request, key, value lines) and
the META_* variables the script exports. Usage: report.py RESULTS.tsv"""
import json
import os
import sys

REQUESTS = [
    ("filter", "filtered page of 100: `filter=country='KGZ' AND river_distance_m < 30000`"),
    ("sortby", "sorted page of 100: `sortby=-risk_score`"),
    ("crs", "projected page of 100: `crs=…/EPSG/0/32642`"),
]
SERVERS = [
    ("ours", "ours (no page cache)"),
    ("ours_cached", "ours (page cache on: a repeated URL is served from it)"),
    ("pygeoapi", "pygeoapi"),
    ("tipg", "tipg"),
]
# Targets of issue 13 §6: ours / peer in req/s, and ours' p99 on the filtered page.
RATIO_TARGETS = [("pygeoapi", 10.0), ("tipg", 3.0)]
P99_TARGET_MS = 20.0


def read(path):
    r = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 3)
            if len(parts) == 4:
                server, req, key, value = parts
                r[(server, req, key)] = value
    return r


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt_rps(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"


def main():
    res = read(sys.argv[1])
    m = lambda k: os.environ.get("META_" + k, "?")
    out = []
    w = out.append
    w("## bench/filter.sh: issue 13 §6, ours against pygeoapi and tipg")
    w("")
    w(f"Machine: {m('NPROC')} cores ({m('CPU')}), {m('RAM')} RAM, {m('KERNEL')}; {m('RUSTC')}, release "
      f"build. Commit {m('COMMIT')}. Date: {m('DATE')}.")
    before = res.get(("meta", "-", "load_before"), "?")
    after = res.get(("meta", "-", "load_after"), "?")
    w(f"Load average (1, 5, 15 min) before the timed runs: {before}; after: {after}.")
    w(f"Data: {m('N')} sites from bench/scale/gen_sites.py (seed {m('SEED')}) imported into a fresh "
      f"store, plus the 27 seed sites: {m('TOTAL')} features, the same in every server (ours' "
      f"GeoPackage export, loaded into PostGIS with ogr2ogr; primary key `id`, B-tree indexes on "
      f"`(country, river_distance_m)` and `risk_score`, GiST on the geometry).")
    w(f"Peers: pygeoapi {m('PYGEOAPI')} (PostgreSQL provider, gunicorn sync workers) and tipg "
      f"{m('TIPG')} (uvicorn), on PostgreSQL {m('PG')} + PostGIS {m('POSTGIS')} (a throw-away "
      f"cluster: fsync off, shared_buffers 256MB).")
    w(f"Every server has {m('WORKERS')} workers (ours `--workers {m('WORKERS')}`, gunicorn "
      f"`--workers {m('WORKERS')}`, uvicorn `--workers {m('WORKERS')}`); PostgreSQL's backends, the "
      f"servers and wrk (`-t{m('THREADS')} -c{m('CONNS')} -d{m('DUR')}s --latency`) share the same "
      f"cores. Each answer is checked against PostgreSQL's own evaluation (count, order, coordinates "
      f"projected by PROJ) before it is timed; an answer other than 200 is *unsupported*, a wrong one "
      f"*wrong*, and neither is timed.")
    w("")
    w("| request | server | answer | req/s | p50 | p99 |")
    w("|---|---|---|---:|---:|---:|")
    for req, title in REQUESTS:
        for server, name in SERVERS:
            raw = res.get((server, req, "check"))
            if raw is None:
                continue
            try:
                check = json.loads(raw)
            except ValueError:
                check = {"status": "checker failed", "reason": raw[:120]}
            status = check.get("status", "?")
            if status == "ok":
                answer = f"ok ({check.get('returned')} of {check.get('matched')})"
            else:
                answer = f"{status}: {check.get('reason', '')}".replace("|", "\\|")
            fail = res.get((server, req, "fail"))
            rps, p50, p99 = (num(res.get((server, req, k))) for k in ("rps", "p50", "p99"))
            if fail:
                answer += f"; timing failed: {fail}"
            if rps is None:
                w(f"| {title} | {name} | {answer} | — | — | — |")
            else:
                w(f"| {title} | {name} | {answer} | {fmt_rps(rps)} | {p50:.2f} ms | {p99:.2f} ms |")
    w("")
    w("| target | measured | result |")
    w("|---|---|---|")
    met = total = 0
    for req, title in REQUESTS:
        ours = num(res.get(("ours", req, "rps")))
        for peer, target in RATIO_TARGETS:
            theirs = num(res.get((peer, req, "rps")))
            label = f"{req}: ours ≥ {target:g}× {peer} in req/s"
            if ours is None or theirs is None:
                why = "ours" if ours is None else peer
                w(f"| {label} | not measured ({why}: not timed) | n/a |")
                continue
            ratio = ours / theirs
            ok = ratio >= target
            met += ok
            total += 1
            w(f"| {label} | {fmt_rps(ours)} vs {fmt_rps(theirs)}: {ratio:.1f}× | {'PASS' if ok else 'FAIL'} |")
    p99 = num(res.get(("ours", "filter", "p99")))
    label = f"filter: ours' p99 ≤ {P99_TARGET_MS:g} ms"
    if p99 is None:
        w(f"| {label} | not measured (ours: not timed) | n/a |")
    else:
        ok = p99 <= P99_TARGET_MS
        met += ok
        total += 1
        w(f"| {label} | {p99:.2f} ms | {'PASS' if ok else 'FAIL'} |")
    w("")
    w(f"{met} of {total} measured targets met.")
    w("")
    w("<details><summary>requests as sent</summary>")
    w("")
    for line in os.environ.get("META_PATHS", "").splitlines():
        key, _, p = line.partition("\t")
        w(f"- {key}: `{p}`")
    w("")
    w("</details>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
