"""Turns the measures bench/scale.sh recorded into the Markdown report, with each target of issue 11
and PASS/FAIL.

Input: a tab-separated file of `label<TAB>key<TAB>value` lines, label `seed` or a size N; a key ending
in `.fail` holds the reason a step failed. Machine and run details come from the environment (META_*).
Units: KB = 1000 bytes, MB = 10^6 bytes, GB = 10^9 bytes (the issue's 18.6 KB a site is 1.86 GB / 100,000).
Usage: report.py RESULTS.tsv
"""
import os
import sys

KB, MB, GB = 1e3, 1e6, 1e9


def load(path):
    runs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, key, value = line.rstrip("\n").split("\t", 2)
            runs.setdefault(label, {})[key] = value
    return runs


class Run:
    def __init__(self, values):
        self.v = values

    def num(self, key):
        try:
            return float(self.v[key])
        except (KeyError, ValueError):
            return None

    def first_failure(self):
        """The first failure recorded in this run, for the measures that it kept from being made."""
        for k, v in self.v.items():
            if k.endswith(".fail"):
                return f"{k[:-5]}: {v}"
        return "not measured: an earlier step failed"

    def why(self, *keys):
        """The first recorded failure among these steps, or None."""
        for k in keys:
            if k + ".fail" in self.v:
                return f"{k}: {self.v[k + '.fail']}"
        return None


def verdict(ok):
    return "PASS" if ok else "FAIL"


def answer(run, key):
    """How many features and bytes one response of that query had."""
    count, size = run.v.get(f"count_{key}", "?") or "?", run.num(f"bytes_{key}")
    return f"{count} features, {size / KB:,.1f} KB" if size is not None else "?"


def size_table(n, run, seed):
    rows = []
    told = set()  # failure reasons already given in full

    def row(measure, target, compute, *steps):
        """compute() returns (value text, ok) or None when a needed number is missing."""
        try:
            got = compute()
        except (TypeError, ZeroDivisionError):
            got = None
        if got is None:
            reason = run.why(*steps) or (seed.why(*steps) and f"seed: {seed.why(*steps)}") \
                or run.first_failure()
            shown = reason if reason not in told else "the same failure as above"
            told.add(reason)
            rows.append((measure, f"— ({shown})", target, "FAIL" if target != "—" else "—"))
        else:
            text, ok = got
            rows.append((measure, text, target, "info" if ok is None else verdict(ok)))

    def per_site():
        d = (run.num("rss_kb") - seed.num("rss_kb")) * 1024 / n
        text = f"{d / KB:.2f} KB ({run.num('rss_kb') * 1024 / GB:.2f} GB with N, " \
               f"{seed.num('rss_kb') * 1024 / MB:.0f} MB with the seed)"
        later = run.num("export_rss_before_kb")
        if later is not None:  # the allocator may give memory back after a while: shown, not judged
            text += f"; after the load runs, before the export: " \
                    f"{(later - seed.num('rss_kb')) * 1024 / n / KB:.2f} KB"
        return text, d <= 2 * KB
    row("serving memory per site: (VmRSS_N − VmRSS_seed) / N", "≤ 2 KB", per_site, "startup")

    def served():
        s = run.num("startup_s")
        sites = run.v.get("sites_served", "?")
        return f"yes: {sites} sites, VmRSS {run.num('rss_kb') * 1024 / GB:.2f} GB, " \
               f"peak {run.num('hwm_kb') * 1024 / GB:.2f} GB", s is not None
    row("served with the whole analysis on this machine", f"fits in {os.environ.get('META_RAM', '?')}",
        served, "startup")

    def ratio(key, unit, fmt, bound, higher_is_better):
        def f():
            a, b = run.num(key), seed.num(key)
            r = a / b
            ok = r >= bound if higher_is_better else r <= bound
            return f"{fmt(a)} {unit} vs {fmt(b)} with the seed: {r:.2f}×", ok
        return f

    rps = lambda x: f"{x:,.0f}"
    ms = lambda x: f"{x:.2f}"
    row("throughput, `items?limit=100`", "≥ 0.8× seed", ratio("rps_items", "req/s", rps, 0.8, True),
        "startup", "wrk_items")
    row("throughput, bbox page (`items?limit=100&bbox=65,43,66,44`)", "≥ 0.5× seed",
        ratio("rps_bbox", "req/s", rps, 0.5, True), "startup", "wrk_bbox")
    for key, name in (("near", "near-border"), ("knn", "kNN (`/analysis/nearest`)"),
                      ("bbox", "bbox page")):
        def p99(key=key):
            text, ok = ratio(f"p99_{key}_ms", "ms", ms, 5, False)()
            text += f" (a response: {answer(run, key)} at N, {answer(seed, key)} with the seed)"
            return text, ok
        row(f"p99 latency, {name}", "≤ 5× seed", p99, "startup", f"wrk_{key}")

    def startup():
        s, a = run.num("startup_s"), run.num("analyze_s")
        return f"start-up {s:.2f} s, analyze {a:.2f} s: {s / a:.2f}×", s / a <= 3
    row("start-up (start to first /health 200) vs `analyze` of the same N points", "≤ 3×", startup,
        "startup", "analyze")

    def import_rss():
        kb = run.num("import_rss_kb")
        return f"{kb * 1024 / GB:.2f} GB", kb * 1024 <= GB
    row("import: peak RSS (`/usr/bin/time`, Maximum resident set size)", "< 1 GB", import_rss, "import", "startup")

    def import_wall():
        s = run.num("import_s")
        return f"{s:.1f} s ({n / s:,.0f} rows/s)", None
    row("import: wall time (validate, one transaction, analyse)", "—", import_wall, "import", "startup")

    def ttfb():
        t = run.num("export_ttfb_s")
        return f"{t:.2f} s", t <= 1
    row("export GeoJSON: first byte (curl time_starttransfer)", "≤ 1 s", ttfb, "startup", "export")

    def rate():
        b, t = run.num("export_bytes"), run.num("export_total_s")
        return f"{b / MB:,.0f} MB in {t:.1f} s: {b / MB / t:.1f} MB/s", b / MB / t >= 50
    row("export GeoJSON: size / total time", "≥ 50 MB/s", rate, "startup", "export")

    def rise():
        a, b = run.num("export_rss_before_kb"), run.num("export_rss_after_kb")
        return f"{a * 1024 / GB:.2f} → {b * 1024 / GB:.2f} GB: {100 * (b - a) / a:+.1f} %", b <= a * 1.1
    row("export GeoJSON: VmRSS before → after", "rise ≤ 10 %", rise, "startup", "export")

    out = [f"### N = {n:,} sites (+ the seed)", "", "| measure | value | target | result |",
           "|---|---|---|---|"]
    out += [f"| {m} | {v} | {t} | {r} |" for m, v, t, r in rows]
    passed = sum(r == "PASS" for _, _, _, r in rows)
    judged = sum(r in ("PASS", "FAIL") for _, _, _, r in rows)
    out += ["", f"{passed} of {judged} targets met at N = {n:,}.", ""]
    return out


def seed_table(seed):
    def val(key, fmt):
        x = seed.num(key)
        return fmt(x) if x is not None else f"— ({seed.why('startup') or 'not measured'})"
    lines = ["### The seed (baseline)", "", "| measure | value |", "|---|---|"]
    lines.append(f"| sites served | {seed.v.get('sites_served', '—')} |")
    lines.append(f"| start to first /health 200 (existing store) | {val('startup_s', lambda x: f'{x:.2f} s')} |")
    lines.append(f"| VmRSS after start | {val('rss_kb', lambda x: f'{x * 1024 / MB:.0f} MB')} |")
    for key, name in (("items", "`items?limit=100`"), ("bbox", "bbox page"), ("near", "near-border"),
                      ("knn", "kNN")):
        rps, p99 = seed.num(f"rps_{key}"), seed.num(f"p99_{key}_ms")
        text = f"{rps:,.0f} req/s, p99 {p99:.2f} ms" if rps is not None and p99 is not None \
            else f"— ({seed.why('startup', 'wrk_' + key) or 'not measured'})"
        lines.append(f"| {name} | {text} |")
    failed = [f"{k[:-5]}: {v}" for k, v in seed.v.items() if k.endswith(".fail")]
    if failed:
        lines.append(f"| failures | {'; '.join(failed)} |")
    return lines + [""]


def main():
    runs = load(sys.argv[1])
    seed = Run(runs.pop("seed", {}))
    e = os.environ.get
    out = ["## bench/scale.sh: the targets of issue 11", "",
           f"Machine: {e('META_NPROC')} cores ({e('META_CPU')}), {e('META_RAM')} RAM, {e('META_KERNEL')}; "
           f"{e('META_RUSTC')}, release build. Commit {e('META_COMMIT')}. Date: {e('META_DATE')}.",
           f"Sizes: {e('META_SIZES')}; seeded sites inside KAZ/KGZ/TJK/UZB (lon 63–76, lat 37–45), seed "
           f"{e('META_SEED')}. wrk -t{e('META_THREADS')} -c{e('META_CONNS')} -d{e('META_DUR')}s --latency, "
           "on the same machine as the server (they share the cores).",
           f"Queries: near-border `{e('META_NEAR')}`, kNN `{e('META_KNN')}`, bbox `{e('META_BBOX')}`. Extra serve flags: `{e('META_SERVE_ARGS')}`.",
           "KB, MB, GB are 10^3, 10^6, 10^9 bytes. Ratios are against the seed in the same run.", ""]
    out += seed_table(seed)
    for label in sorted(runs, key=int):
        out += size_table(int(label), Run(runs[label]), seed)
    print("\n".join(out).rstrip() + "\n")


if __name__ == "__main__":
    main()
