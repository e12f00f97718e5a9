#!/usr/bin/env python3
"""Records everything a tailings-atlas binary produces on the default data, for before/after checks.

    scripts/snapshot.py BIN OUTDIR [--import CSV] [--keep-temp] [--repo DIR]

Starts `BIN serve --bind 127.0.0.1:0` on a fresh store in a temporary directory (seeded from the
repository's `data/`), records the responses to a fixed list of HTTP requests (reads, analysis,
errors, exports, then edits with tokens made by the CLI), runs the CLI (export, analyze, import
--dry-run, token, errors, --help), and writes one file per request or command into OUTDIR:
`http/`, `cli/` and `logs/`. `scripts/compare_snapshots.py A B` compares two snapshots.

With `--import CSV` (e.g. from `scripts/seeded_sites.py`), the file is copied into the temporary
directory and imported with `BIN import` (recorded as `cli/import-inventory.txt`) into the fresh
store, which that creates and seeds, before the server starts: the whole snapshot is then taken on
the seed plus those sites. The per-site requests (downstream, history) are made for every site,
and a few requests for large inventories are added (`Snapshot.large`: deep pages, a bbox page,
equality filters with and without a bbox, near-border with small distances, nearest with k=50,
filtered exports in every format, a few generated items).

Every HTTP request carries `Host: 127.0.0.1:8080`, so the links in the bodies (and the ETags,
which hash the bodies) do not depend on the port the server happened to get.

Only what legitimately varies between runs is normalised (see `Normaliser`):
- the digits of `timeStamp`, history `at`, token `created`/`revoked` and `Date` times (the shape
  is kept, so a change of format still shows); the DBF date in a Shapefile's `ogrinfo` dump;
- token ids and secrets (TOKEN1, TOKEN2... in order of creation);
- the port in `http://127.0.0.1:PORT`, the temporary directory (TMP) and repository (REPO) paths;
- durations in CLI messages (`in 0.42 s`, `1234 rows/s`) and log lines (`load_ms=`), whose
  timestamps and ANSI colours go too;
- an ETag that is exactly the server's hash of a body whose normalised parts vary (history `at`
  times, or a `timeStamp` inside the hash: /downstream, /analysis/*) is shown as
  `W/"SIPHASH(body as sent, before normalisation)"`; every other ETag is kept as sent;
- the lists in `Access-Control-Expose-Headers`/`-Allow-Methods`/`-Allow-Headers` are sorted
  (actix-cors keeps them in a HashSet: their order changes from worker to worker);
- in logs/serve.txt, the store watcher's "published changes" lines (it wakes every second) and
  the requests that wait for it are left out, and the shutdown lines after SIGTERM are sorted.
Binary exports (GeoPackage, FlatGeobuf, zipped Shapefile) carry timestamps, so they are recorded
as `ogrinfo -al -so` and `ogrinfo -al` dumps, not as bytes. Everything else is kept byte for byte.

Standard library only (Python 3.11), plus `ogrinfo` from gdal-bin.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST_HEADER = "127.0.0.1:8080"
START_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 120
CLI_TIMEOUT_S = 300

# Headers recorded, in this order; then any Access-Control-* header, sorted.
RECORDED_HEADERS = [
    "content-type",
    "content-encoding",
    "etag",
    "allow",
    "location",
    "vary",
    "cache-control",
    "www-authenticate",
    "content-disposition",
]
UNORDERED_HEADERS = {
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
}
BINARY_TYPES = {
    "application/geopackage+sqlite3": ".gpkg",
    "application/flatgeobuf": ".fgb",
    "application/zip": ".shp.zip",
    "application/octet-stream": ".bin",
}

COLLECTIONS = ["sites", "rivers", "borders", "countries", "water-bodies"]
# A filter on each collection's queryables that selects something on the default data.
FILTERS = {
    "sites": ["country=kgz", "status=legacy&precision=town"],
    "rivers": ["name=Syr%20Darya", "level=2", "source=gshhg&level=1"],
    "borders": ["iso3_left=KGZ", "iso3_left=UZB&iso3_right=KGZ"],
    "countries": ["iso3=KGZ", "iso2=tj"],
    "water-bodies": ["kind=reservoir", "name=Aral%20Sea"],
}
FERGANA_BBOX = "70.5,40.2,73.0,41.5"
FEATURES_PER_COLLECTION = 3
WAIT_QUERY = "?f=json"  # marks the requests that wait for the store watcher
WATCHER_LINE = "published changes from the store"

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\S+)\s+(TRACE|DEBUG|INFO|WARN|ERROR)\b")


MASK64 = (1 << 64) - 1


def siphash13(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-1-3, as Rust's `std::hash::DefaultHasher::new()` computes it (keys 0, 0)."""
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & MASK64

    def sip_round() -> None:
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & MASK64; v1 = rotl(v1, 13) ^ v0; v0 = rotl(v0, 32)  # noqa: E702
        v2 = (v2 + v3) & MASK64; v3 = rotl(v3, 16) ^ v2  # noqa: E702
        v0 = (v0 + v3) & MASK64; v3 = rotl(v3, 21) ^ v0  # noqa: E702
        v2 = (v2 + v1) & MASK64; v1 = rotl(v1, 17) ^ v2; v2 = rotl(v2, 32)  # noqa: E702

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v3 ^= m
        sip_round()
        v0 ^= m
    m = ((len(data) & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v3 ^= m
    sip_round()
    v0 ^= m
    v2 ^= 0xFF
    for _ in range(3):
        sip_round()
    return v0 ^ v1 ^ v2 ^ v3


def body_etag(body: bytes) -> str:
    """The ETag `src/api/respond.rs` derives from a body alone: `etag(&[&body])`, i.e. SipHash-1-3
    of the bytes followed by 0xFF (how `str` feeds a `Hasher`)."""
    return 'W/"%016x"' % siphash13(body + b"\xff")


def timestamp_shape(match: re.Match) -> str:
    """2026-12-02T07:14:40.381Z -> YYYY-MM-DDThh:mm:ss.fffZ: the digits go, the format stays."""
    rest = match.group(0)[19:]
    out = "YYYY-MM-DDThh:mm:ss"
    m = re.match(r"\.(\d+)", rest)
    if m:
        out += "." + "f" * len(m.group(1))
        rest = rest[m.end():]
    if rest and rest != "Z":
        rest = rest[0] + "hh:mm"
    return out + rest


class Normaliser:
    """The run-dependent parts of the output, and how each is replaced."""

    def __init__(self, tmp: Path):
        self.paths = sorted({str(tmp), os.path.realpath(tmp), str(REPO)}, key=len, reverse=True)
        self.names = {str(tmp): "TMP", os.path.realpath(tmp): "TMP", str(REPO): "REPO"}
        self.tokens: dict[str, str] = {}  # token id -> TOKENn, in order of creation
        self.ports = [HOST_HEADER.split(":")[1]]  # and the server's, once it is known

    def add_token(self, token_id: str) -> None:
        self.tokens.setdefault(token_id, f"TOKEN{len(self.tokens) + 1}")

    def host(self, text: str) -> str:
        """The server's address: its port varies, and every request says `Host: 127.0.0.1:8080`."""
        for port in self.ports:
            text = text.replace(f"http://127.0.0.1:{port}", "http://HOST")
            text = re.sub(rf"127\.0\.0\.1:{port}\b", "HOST", text)
        return text

    def common(self, text: str) -> str:
        for p in self.paths:
            text = text.replace(p, self.names[p])
        text = self.host(text)
        for token_id, name in self.tokens.items():
            text = re.sub(rf"ta_{token_id}_[0-9a-f]+", f"ta_{name}_SECRET", text)
            text = text.replace(token_id, name)
        return text

    def body(self, text: str) -> str:
        """HTTP bodies: the time of the response and of each history version."""
        text = self.common(text)
        text = re.sub(
            r'("(?:timeStamp|at)"\s*:\s*")([^"]*)(")',
            lambda m: m.group(1) + TIMESTAMP.sub(timestamp_shape, m.group(2)) + m.group(3),
            text,
        )
        # HTML pages show the same times in table cells.
        text = re.sub(
            r"(<td>)(\d{4}-\d\d-\d\dT[^<]*)(</td>)",
            lambda m: m.group(1) + TIMESTAMP.sub(timestamp_shape, m.group(2)) + m.group(3),
            text,
        )
        return text

    def header(self, name: str, value: str) -> str:
        value = self.common(value)
        if name == "date":
            value = HTTP_DATE.sub("DAY, DD MON YYYY hh:mm:ss GMT", value)
        return value

    def cli(self, text: str) -> str:
        """CLI messages: durations and rates (`in 0.42 s`, `1234 rows/s`), token times."""
        text = self.common(text)
        text = re.sub(r"\b\d+(?:\.\d+)? (s|ms|µs|rows/s|sites/s|points/s)\b", r"N \1", text)
        text = TIMESTAMP.sub(timestamp_shape, text)
        return text

    def log(self, line: str) -> str:
        """A tracing log line: colours, its timestamp, and `*_ms=`/`*_us=` durations."""
        line = ANSI.sub("", line)
        line = self.common(line)
        line = TIMESTAMP.sub(timestamp_shape, line, count=1)
        line = re.sub(r"\b(\w*_(?:ms|us|s))=\d+(?:\.\d+)?", r"\1=N", line)
        line = re.sub(r"\b\d+(?:\.\d+)? (s|ms)\b", r"N \1", line)
        return line

    def split_stderr(self, raw: str) -> tuple[str, str]:
        """Separates the CLI's own messages (kept as they are, bar `cli`) from tracing log lines."""
        messages, logs = [], []
        for line in raw.splitlines(keepends=True):
            if LOG_LINE.match(ANSI.sub("", line)):
                logs.append(self.log(line))
            else:
                messages.append(self.cli(line))
        return "".join(messages), "".join(logs)


def safe_name(method: str, target: str, variant: str = "") -> str:
    """GET /collections/sites/items?limit=5&offset=3 -> GET_collections_sites_items__limit=5+offset=3"""
    path, _, query = target.partition("?")
    name = method + "_" + (urllib.parse.unquote(path).strip("/").replace("/", "_") or "root")
    if query:
        name += "__" + urllib.parse.unquote(query).replace("&", "+")
    if variant:
        name += "__" + variant
    name = re.sub(r"[^A-Za-z0-9._=+,-]", lambda m: "%%%02X" % ord(m.group(0)), name)
    return name[:200] + ".txt"


class Snapshot:
    def __init__(self, binary: Path, outdir: Path, tmp: Path):
        self.binary = binary
        self.out = outdir
        self.tmp = tmp
        self.norm = Normaliser(tmp)
        self.store = tmp / "atlas.gpkg"
        self.server: subprocess.Popen | None = None
        self.server_log = tmp / "serve.stderr"
        self.server_stdout: list[str] = []
        self.addr: tuple[str, int] | None = None
        self.names: set[str] = set()
        self.count = 0
        self.last_exit = 0  # of the last `cli` run
        for sub in ("http", "cli", "logs"):
            (outdir / sub).mkdir(parents=True, exist_ok=True)

    # --- files ------------------------------------------------------------------------------

    def write(self, sub: str, name: str, text: str) -> None:
        key = f"{sub}/{name}"
        if key in self.names:
            raise RuntimeError(f"two records named {key}")
        self.names.add(key)
        (self.out / sub / name).write_text(text, encoding="utf-8", newline="")
        self.count += 1

    def ogrinfo(self, path: Path) -> str:
        """`ogrinfo -al -so` and `ogrinfo -al` of a binary vector file (zip through /vsizip/)."""
        src = f"/vsizip/{path}" if path.name.endswith(".zip") else str(path)
        parts = []
        for args in (["-al", "-so"], ["-al"]):
            r = subprocess.run(
                ["ogrinfo", "-ro", *args, src], capture_output=True, text=True, timeout=120
            )
            parts.append(f"=== ogrinfo {' '.join(args)} (exit {r.returncode})\n")
            # A DBF header records the day it was written.
            out = re.sub(r"(DBF_DATE_LAST_UPDATE=)\d{4}-\d\d-\d\d", r"\1YYYY-MM-DD", r.stdout)
            parts.append(self.norm.common(out))
            if r.stderr:
                parts.append("=== ogrinfo stderr\n" + self.norm.common(r.stderr))
        return "".join(parts)

    # --- the server -------------------------------------------------------------------------

    def start_server(self) -> None:
        cmd = [
            str(self.binary), "serve", "--bind", "127.0.0.1:0",
            "--store", str(self.store), "--data", "data",
        ]
        err = open(self.server_log, "wb")
        self.server = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
            env=cli_env(), text=True,
        )
        err.close()
        found = threading.Event()

        def read_stdout() -> None:
            assert self.server and self.server.stdout
            for line in self.server.stdout:
                self.server_stdout.append(line)
                m = re.search(r"listening on http://([0-9.]+):(\d+)", line)
                if m and not found.is_set():
                    self.addr = (m.group(1), int(m.group(2)))
                    self.norm.ports.append(m.group(2))
                    found.set()
            found.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not found.wait(START_TIMEOUT_S) or self.addr is None:
            raise RuntimeError(f"the server did not print its address; see {self.server_log}")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if self.raw("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.server.poll() is not None:
                raise RuntimeError("/health never answered 200")
            time.sleep(0.1)

    def stop_server(self) -> None:
        if self.server is None or self.server.poll() is not None:
            return
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()

    def raw(self, method, target, headers=(), body: bytes | None = None):
        assert self.addr
        conn = http.client.HTTPConnection(*self.addr, timeout=REQUEST_TIMEOUT_S)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", HOST_HEADER)
            for k, v in headers:
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, resp.version, resp.getheaders(), data
        finally:
            conn.close()

    # --- HTTP records -----------------------------------------------------------------------

    def http(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        variant: str = "",
    ) -> tuple[int, dict[str, str], bytes]:
        """Sends one request and records it; returns the status, headers (lower-case) and body."""
        headers = headers or []
        status, reason, version, resp_headers, data = self.raw(method, target, headers, body)
        lines = ["=== request\n", f"{method} {target}\n"]
        for k, v in headers:
            lines.append(f"{k}: {self.norm.common(v)}\n")
        if body is not None:
            lines.append(f"(body: {len(body)} bytes)\n")
        lines.append("=== response\n")
        lines.append(f"HTTP/{version // 10}.{version % 10} {status} {reason}\n")
        by_name: dict[str, list[str]] = {}
        for k, v in resp_headers:
            by_name.setdefault(k.lower(), []).append(v)
        ctype = by_name.get("content-type", [""])[0].split(";")[0].strip()
        gzipped = by_name.get("content-encoding", [""])[0] == "gzip"
        shown_headers = dict(by_name)
        if gzipped:
            data_shown = gzip.decompress(data)
            body_title = f"=== body (gzip, {len(data_shown)} bytes decoded)\n"
        elif ctype in BINARY_TYPES:
            data_shown = data
            body_title = f"=== body ({ctype}, {len(data)} bytes, shown by ogrinfo)\n"
        else:
            data_shown = data
            body_title = "=== body\n"
        if ctype in BINARY_TYPES and data:
            f = self.tmp / f"http-body{BINARY_TYPES[ctype]}"
            f.write_bytes(data_shown)
            text = self.ogrinfo(f)
            f.unlink()
        else:
            raw_text = data_shown.decode("utf-8", errors="backslashreplace")
            text = self.norm.body(raw_text)
            # An ETag hashed from a body whose times (or token ids) vary from run to run varies
            # with them; when it is exactly that hash, say so instead of printing it.
            if text != self.norm.host(raw_text) and by_name.get("etag") == [body_etag(data_shown)]:
                shown_headers["etag"] = ['W/"SIPHASH(body as sent, before normalisation)"']
        names = RECORDED_HEADERS + sorted(n for n in by_name if n.startswith("access-control-"))
        for n in names + ["date"]:
            for v in shown_headers.get(n, []):
                if n in UNORDERED_HEADERS:
                    # actix-cors keeps these in a HashSet: their order is random per worker.
                    v = ", ".join(sorted(x.strip() for x in v.split(",")))
                lines.append(f"{n}: {self.norm.header(n, v)}\n")
        lines.append(body_title)
        lines.append(text)
        self.write("http", safe_name(method, target, variant), "".join(lines))
        return status, {k: v[0] for k, v in by_name.items()}, data

    def get_json(self, target: str) -> dict:
        status, _, _, _, data = self.raw("GET", target)
        if status != 200:
            raise RuntimeError(f"GET {target}: {status}")
        return json.loads(data)

    def reads(self) -> None:
        for t in ["/", "/?f=html", "/conformance", "/conformance?f=html", "/api", "/api?f=html",
                  "/collections", "/collections?f=html"]:
            self.http("GET", t)
        for c in COLLECTIONS:
            base = f"/collections/{c}"
            self.http("GET", base)
            self.http("GET", base + "?f=html")
            for q in ["", "?limit=5", "?limit=5&offset=3", f"?bbox={FERGANA_BBOX}",
                      f"?bbox={FERGANA_BBOX}&limit=2&offset=1", "?f=html", "?limit=5&f=html",
                      "?country=KGZ&kind=tailings"] + ["?" + f for f in FILTERS[c]]:
                self.http("GET", base + "/items" + q)
            self.http("GET", base + "/queryables")
            self.http("GET", base + "/queryables?f=html")
            first = self.get_json(f"{base}/items?limit={FEATURES_PER_COLLECTION}")["features"]
            for f in first:
                fid = urllib.parse.quote(str(f["id"]), safe="")
                self.http("GET", f"{base}/items/{fid}")
                self.http("GET", f"{base}/items/{fid}?f=html")
        # Items parameters on sites: paging limits, bbox forms, datetime.
        for q in ["limit=1", "limit=10000", "limit=20000", "offset=25", "offset=100",
                  "limit=5&offset=25", "bbox=170,40,-170,50", "bbox=70.5,40.2,0,73.0,41.5,1000",
                  "bbox=0,0,1,1", "datetime=2020-01-01T00:00:00Z",
                  "datetime=2020-01-01T00:00:00Z/..", "f=json", "country=KGZ&f=html",
                  "kind=hazardous_site&bbox=68,40,71,42&limit=3"]:
            self.http("GET", "/collections/sites/items?" + q)
        # Content negotiation, conditional and other methods.
        html = [("Accept", "text/html,application/xhtml+xml")]
        self.http("GET", "/", html, variant="accept-html")
        self.http("GET", "/collections/sites/items?limit=2", html, variant="accept-html")
        self.http("GET", "/collections/sites/items/tjk_degmay", html, variant="accept-html")
        self.http("GET", "/collections", [("Accept", "application/json")], variant="accept-json")
        _, h, _ = self.http("GET", "/collections/sites/items?limit=2", variant="etag-source")
        self.http("GET", "/collections/sites/items?limit=2", [("If-None-Match", h.get("etag", ""))],
                  variant="if-none-match")
        self.http("GET", "/collections/sites/items?limit=5", [("Accept-Encoding", "gzip")],
                  variant="gzip")
        self.http("HEAD", "/collections")
        self.http("HEAD", "/collections/sites/items/tjk_degmay")
        self.http("OPTIONS", "/collections/sites/items",
                  [("Origin", "http://example.org"), ("Access-Control-Request-Method", "GET")],
                  variant="cors-preflight")
        self.http("OPTIONS", "/collections/sites/items/tjk_degmay",
                  [("Origin", "http://example.org"), ("Access-Control-Request-Method", "PUT"),
                   ("Access-Control-Request-Headers", "authorization,if-match,content-type")],
                  variant="cors-preflight-put")
        self.http("GET", "/collections/sites/items?limit=1", [("Origin", "http://example.org")],
                  variant="cors")
        self.http("GET", "/health")
        self.http("GET", "/attribution")

    def per_site(self) -> list[str]:
        ids: list[str] = []
        while True:  # every site, also when there are more than a page holds (--import)
            page = self.get_json(f"/collections/sites/items?limit=10000&offset={len(ids)}")
            ids += [f["id"] for f in page["features"]]
            if not page["features"] or len(ids) >= page.get("numberMatched", 0):
                break
        for sid in ids:
            q = urllib.parse.quote(sid, safe="")
            self.http("GET", f"/collections/sites/items/{q}/downstream")
            self.http("GET", f"/collections/sites/items/{q}/history")
        self.http("GET", "/collections/sites/items/tjk_degmay/downstream?f=html")
        self.http("GET", "/collections/sites/items/tjk_degmay/history?f=html")
        return ids

    def analysis(self) -> None:
        points = [("72.448", "41.246"), ("69.64", "40.57"), ("69.62", "40.28"),
                  ("71.0", "40.5"), ("10.0", "10.0"), ("-170.0", "-80.0")]
        for lon, lat in points:
            self.http("GET", f"/analysis/proximity?lon={lon}&lat={lat}")
        self.http("GET", "/analysis/proximity?lon=72.448&lat=41.246&f=html")
        for q in ["within_km=10", "within_km=10&country=KGZ", "within_km=10&neighbour=UZB",
                  "within_km=10&kind=tailings", "within_km=25&country=KGZ&neighbour=UZB",
                  "within_km=0", "within_km=1000", "within_km=50&kind=hazardous_site",
                  "within_km=10&f=html"]:
            self.http("GET", "/analysis/near-border?" + q)
        for q in ["lon=70&lat=41&k=5", "lon=70&lat=41", "lon=72.448&lat=41.246&k=1",
                  "lon=70&lat=41&k=1000", "lon=70&lat=41&k=5&f=html"]:
            self.http("GET", "/analysis/nearest?" + q)

    def large(self) -> None:
        """Requests for a large inventory (--import): bounded pages deep into it, filters, analyses
        with small distances, filtered exports in every format."""
        items = "/collections/sites/items"
        bbox = "65,43,66,44"
        for q in ["limit=100&offset=5000", "limit=100&offset=5000&f=html",
                  "limit=100&offset=9950", "limit=10000&offset=5000", f"bbox={bbox}",
                  f"bbox={bbox}&f=html", f"bbox={bbox}&limit=1000", "country=KAZ",
                  "country=KAZ&limit=100&offset=2000", "kind=tailings",
                  "kind=tailings&limit=1000&offset=3000", "status=legacy",
                  f"status=legacy&bbox={bbox}", f"status=legacy&bbox={bbox}&limit=1000",
                  f"country=KAZ&bbox={bbox}&limit=1000", f"kind=tailings&bbox={bbox}&limit=1000",
                  "country=KAZ&kind=tailings&status=legacy&bbox=63,41,70,45&limit=1000",
                  f"status=legacy&bbox={FERGANA_BBOX}&limit=1000",
                  f"status=legacy&bbox={FERGANA_BBOX}&f=html",
                  "precision=town&kind=hazardous_site&limit=1000"]:
            self.http("GET", f"{items}?{q}")
        for sid in ["gen_000004", "gen_000777", "gen_005000", "gen_009999", "gen_010000"]:
            self.http("GET", f"{items}/{sid}")
            self.http("GET", f"{items}/{sid}?f=html")
        for q in ["within_km=1", "within_km=2", "within_km=0.5&kind=tailings",
                  "within_km=2&country=KAZ", "within_km=2&country=UZB&neighbour=KAZ",
                  "within_km=3&kind=hazardous_site", "within_km=1&f=html"]:
            self.http("GET", "/analysis/near-border?" + q)
        for q in ["lon=70&lat=41&k=50", "lon=66&lat=43.5&k=50", "lon=72.448&lat=41.246&k=50",
                  "lon=63&lat=37&k=50", "lon=70&lat=41&k=50&f=html"]:
            self.http("GET", "/analysis/nearest?" + q)
        for f in ["csv", "geojson", "kml", "gpkg", "fgb", "shp"]:
            self.http("GET", f"{items}?f={f}&country=KAZ")
            self.http("GET", f"{items}?f={f}&status=legacy&bbox={bbox}")

    def errors(self) -> None:
        for t in [
            "/nope", "/collections/nope", "/collections/nope/items", "/collections/sites/items/nope",
            "/collections/sites/items/nope/downstream", "/collections/sites/items/nope/history",
            "/collections/rivers/items/nope",
            "/collections/sites/items?bbox=1,2,3", "/collections/sites/items?bbox=a,b,c,d",
            "/collections/sites/items?bbox=10,50,20,40", "/collections/sites/items?bbox=0,-95,1,1",
            "/collections/sites/items?foo=bar", "/collections/rivers/items?country=KGZ",
            "/collections/sites/items?limit=abc", "/collections/sites/items?limit=-1",
            "/collections/sites/items?limit=0", "/collections/sites/items?offset=abc",
            "/collections/sites/items?f=xyz", "/collections/sites/items?datetime=yesterday",
            "/collections/sites/items?limit=1&limit=2", "/collections/sites/items?volume_m3=abc",
            "/conformance?foo=1", "/collections?f=xyz", "/health?limit=5",
            "/analysis/proximity", "/analysis/proximity?lon=abc&lat=41",
            "/analysis/proximity?lon=72&lat=95", "/analysis/proximity?lon=72&lat=41&foo=1",
            "/analysis/near-border", "/analysis/near-border?within_km=5000",
            "/analysis/near-border?within_km=-1", "/analysis/near-border?within_km=10&country=XX",
            "/analysis/near-border?within_km=10&kind=mine", "/analysis/nearest?lon=70&lat=41&k=0",
            "/analysis/nearest?lon=70&lat=41&k=5000", "/analysis/nearest?lon=70",
        ]:
            self.http("GET", t)
        feature = json.dumps(site_feature("kgz_snapshot_site", 72.40, 41.25, "KGZ")).encode()
        geo = [("Content-Type", "application/geo+json")]
        self.http("POST", "/collections/rivers/items", geo, feature)
        self.http("POST", "/", geo, feature)
        self.http("DELETE", "/collections/countries/items/KGZ")
        self.http("PUT", "/collections/sites/items/tjk_degmay", geo, feature, variant="no-token")
        self.http("PATCH", "/collections/sites/items/tjk_degmay",
                  [("Content-Type", "application/merge-patch+json")], b'{"properties":{}}',
                  variant="no-token")
        self.http("DELETE", "/collections/sites/items/tjk_degmay", variant="no-token")
        self.http("POST", "/collections/sites/items", geo, feature, variant="no-token")
        self.http("POST", "/collections/sites/items",
                  geo + [("Authorization", "Bearer ta_000000000000_00")], feature,
                  variant="bad-token")
        self.http("POST", "/import", variant="no-token")
        self.http("POST", "/collections/sites/items/tjk_degmay/restore",
                  [("Content-Type", "application/json")], b"{}", variant="no-token")

    def exports(self) -> None:
        for f in ["csv", "geojson", "kml", "gpkg", "fgb", "shp"]:
            self.http("GET", f"/collections/sites/items?f={f}")
        for q in ["f=csv&country=KGZ", f"f=geojson&bbox={FERGANA_BBOX}", "f=kml&kind=tailings",
                  "f=gpkg&country=TJK", "f=csv&limit=2"]:
            self.http("GET", "/collections/sites/items?" + q)

    # --- CLI --------------------------------------------------------------------------------

    def cli(self, name: str, args: list[str], outputs: list[str] = (), store: bool = True) -> str:
        """Runs BIN with args (cwd: the repository) and records exit code, stdout, stderr and the
        named output files (relative to TMP); returns the raw stdout."""
        cmd = [str(self.binary), *args]
        if store:
            cmd += ["--store", str(self.store), "--data", "data"]
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=CLI_TIMEOUT_S,
                           env=cli_env(), stdin=subprocess.DEVNULL)
        self.last_exit = r.returncode
        stdout = r.stdout.decode("utf-8", errors="backslashreplace")
        stderr = r.stderr.decode("utf-8", errors="backslashreplace")
        for m in re.finditer(r"\bta_([0-9a-f]{12})_[0-9a-f]+", stdout):
            self.norm.add_token(m.group(1))
        messages, logs = self.norm.split_stderr(stderr)
        shown = shlex.join(self.norm.common(a) for a in cmd[1:])
        parts = [f"=== command\ntailings-atlas {shown}\n", f"=== exit {r.returncode}\n",
                 "=== stdout\n", self.norm.cli(stdout), "=== stderr\n", messages,
                 "=== log (stderr: tracing lines, normalised)\n", logs]
        for out in outputs:
            p = self.tmp / out
            parts.append(f"=== file {out}\n")
            if not p.exists():
                parts.append("(not written)\n")
            elif p.name.endswith((".gpkg", ".fgb", ".zip")):
                parts.append(f"({p.stat().st_size} bytes, shown by ogrinfo)\n" + self.ogrinfo(p))
            else:
                parts.append(self.norm.body(p.read_text(encoding="utf-8",
                                                        errors="backslashreplace")))
        self.write("cli", re.sub(r"[^A-Za-z0-9._=+,-]", "_", name) + ".txt", "".join(parts))
        return stdout

    def cli_runs(self) -> None:
        t = self.tmp
        (t / "cli").mkdir()
        self.cli("version", ["--version"], store=False)
        self.cli("help", ["--help"], store=False)
        self.cli("no-command", [], store=False)
        for sub in ["serve", "export", "analyze", "import", "token", "token create",
                    "token list", "token revoke"]:
            self.cli("help-" + sub.replace(" ", "-"), [*sub.split(), "--help"], store=False)
        self.cli("token-list-fresh", ["token", "list"])
        for f, ext in [("gpkg", "gpkg"), ("shp", "shp.zip"), ("kml", "kml"), ("csv", "csv"),
                       ("fgb", "fgb"), ("geojson", "geojson")]:
            out = f"cli/sites.{ext}"
            self.cli(f"export-{f}", ["export", "--format", f, "--out", str(t / out)], [out])
        analyze = [
            ("points-csv", "tests/fixtures/points.csv", "csv", []),
            ("points-csv", "tests/fixtures/points.csv", "geojson", []),
            ("points-csv", "tests/fixtures/points.csv", "json", []),
            ("points-geojson", "tests/fixtures/points.geojson", "csv", []),
            ("points-geojson", "tests/fixtures/points.geojson", "geojson", []),
            ("points-utm42n", "tests/fixtures/points_utm42n.geojson", "csv", []),
            ("points-utm42n", "tests/fixtures/points_utm42n.geojson", "geojson", []),
            ("import-sites-lonlat", "tests/fixtures/import/sites_lonlat.csv", "csv", []),
            ("import-sites-wkt", "tests/fixtures/import/sites_wkt.csv", "csv", []),
            ("import-sites-utm42n", "tests/fixtures/import/sites_utm42n.geojson", "csv", []),
            ("hydrorivers-points", "tests/fixtures/hydrorivers/points.csv", "csv",
             ["--layers", "tests/fixtures/hydrorivers/layers.json"]),
            ("hydrorivers-points", "tests/fixtures/hydrorivers/points.csv", "geojson",
             ["--layers", "tests/fixtures/hydrorivers/layers.json"]),
            ("points-snap-limit-1km", "tests/fixtures/points.csv", "csv",
             ["--snap-limit-km", "1"]),
            ("points-runout-config", "tests/fixtures/points.csv", "csv",
             ["--runout-config", "config/runout.json"]),
            # Errors: a bad row, no coordinates, a bad extension, a bad limit, a missing file.
            ("points-bad-row", "tests/fixtures/points_bad_row.csv", "csv", []),
            ("geodesic-reference", "tests/fixtures/geodesic_point_segment.csv", "csv", []),
            ("gtp-sample", "tests/fixtures/import/gtp_sample.csv", "csv", []),
            ("points-bad-extension", "tests/fixtures/points.csv", "txt", []),
            ("points-snap-limit-negative", "tests/fixtures/points.csv", "csv",
             ["--snap-limit-km", "-5"]),
            ("points-bad-layers", "tests/fixtures/points.csv", "csv",
             ["--layers", "tests/fixtures/hydrorivers/points.csv"]),
            ("missing", "missing.csv", "csv", []),
        ]
        for name, src, ext, extra in analyze:
            out = f"cli/analyze-{name}.{ext}"
            self.cli(f"analyze-{name}-{ext}", ["analyze", src, "--out", str(t / out), *extra],
                     [out])
        mapping = ["--mapping", "config/mappings/global-tailings-portal.json"]
        imports = [
            ("sites-lonlat", ["tests/fixtures/import/sites_lonlat.csv"]),
            ("sites-wkt", ["tests/fixtures/import/sites_wkt.csv"]),
            ("sites-utm42n", ["tests/fixtures/import/sites_utm42n.geojson"]),
            ("gtp-sample", ["tests/fixtures/import/gtp_sample.csv", *mapping]),
            ("gtp-sample-skip-invalid", ["tests/fixtures/import/gtp_sample.csv", *mapping,
                                         "--skip-invalid"]),
            ("gtp-sample-no-mapping", ["tests/fixtures/import/gtp_sample.csv"]),
            ("gtp-sample-map-set", ["tests/fixtures/import/gtp_sample.csv",
                                    "--map", "name=TSF Name", "--map", "lon=Longitude",
                                    "--map", "lat=Latitude", "--set", "kind=tailings",
                                    "--set", "country=KGZ"]),
            ("points", ["tests/fixtures/points.csv"]),
            ("missing", ["missing.csv"]),
            ("bad-mapping", ["tests/fixtures/import/sites_lonlat.csv",
                             "--mapping", "tests/fixtures/points.csv"]),
        ]
        for name, args in imports:
            self.cli(f"import-dry-run-{name}", ["import", *args, "--dry-run"])
        garbage = t / "garbage.gpkg"
        garbage.write_text("not a geopackage")
        self.cli("serve-bad-bind", ["serve", "--bind", "nonsense"])
        self.cli("serve-bad-data", ["serve", "--bind", "127.0.0.1:0", "--store",
                                    str(t / "never.gpkg"), "--data", "/nonexistent/atlas-data"],
                 ["never.gpkg"], store=False)
        self.cli("serve-bad-seed", ["serve", "--bind", "127.0.0.1:0", "--store",
                                    str(t / "never.gpkg"), "--data", "tests/fixtures/bad-sites"],
                 ["never.gpkg"], store=False)
        self.cli("serve-garbage-store", ["serve", "--bind", "127.0.0.1:0", "--store",
                                         str(garbage), "--data", "data"], store=False)
        self.cli("serve-bad-max-body", ["serve", "--bind", "127.0.0.1:0", "--max-body-mb", "x"])
        self.cli("export-bad-format", ["export", "--format", "xyz", "--out", str(t / "x")], ["x"])
        self.cli("export-unwritable", ["export", "--format", "csv", "--out",
                                       "/nonexistent/dir/x.csv"])
        self.cli("token-create-bad-role", ["token", "create", "--role", "boss", "--name", "x"])
        self.cli("token-create-bad-country", ["token", "create", "--role", "editor",
                                              "--countries", "XX", "--name", "x"])
        self.cli("token-revoke-unknown", ["token", "revoke", "000000000000"])

    # --- edits --------------------------------------------------------------------------------

    def edits(self) -> None:
        admin_out = self.cli("token-create-admin", ["token", "create", "--role", "admin",
                                                    "--name", "Snapshot admin"])
        editor_out = self.cli("token-create-editor", ["token", "create", "--role", "editor",
                                                      "--countries", "KGZ,tjk",
                                                      "--name", "Snapshot editor KGZ TJK"])
        reader_out = self.cli("token-create-reader", ["token", "create", "--role", "reader",
                                                      "--name", "Snapshot reader"])
        self.cli("token-list-three", ["token", "list"])
        admin = self.secret(admin_out)
        editor = self.secret(editor_out)
        reader = self.secret(reader_out)
        geo = [("Content-Type", "application/geo+json")]
        merge = [("Content-Type", "application/merge-patch+json")]

        def auth(tok: str) -> list[tuple[str, str]]:
            return [("Authorization", f"Bearer {tok}")]

        items = "/collections/sites/items"
        site = f"{items}/kgz_snapshot_site"
        feature = site_feature("kgz_snapshot_site", 72.40, 41.25, "KGZ")
        body = json.dumps(feature).encode()
        # Refusals that write nothing.
        self.http("POST", items, geo + auth(reader), body, variant="reader")
        self.http("POST", items, geo + auth(editor),
                  json.dumps(site_feature("uzb_snapshot_site", 69.6, 40.85, "UZB")).encode(),
                  variant="editor-other-country")
        self.http("POST", items, geo + auth(editor),
                  json.dumps(site_feature("kgz_snapshot_moved", 69.6, 40.85, "KGZ")).encode(),
                  variant="editor-declared-kgz-in-uzb")
        self.http("POST", items, [("Content-Type", "text/plain")] + auth(admin), body,
                  variant="text-plain")
        self.http("POST", items, geo + auth(admin), b"{not json", variant="malformed")
        for name, change in [
            ("polygon", lambda f: f.update(geometry={"type": "Polygon", "coordinates": [[
                [72.0, 41.0], [72.1, 41.0], [72.0, 41.1], [72.0, 41.0]]]})),
            ("lat-95", lambda f: f.update(geometry={"type": "Point", "coordinates": [72.0, 95.0]})),
            ("unknown-kind", lambda f: f["properties"].update(kind="mine")),
            ("negative-volume", lambda f: f["properties"].update(volume_m3=-1.0)),
            ("unknown-property", lambda f: f["properties"].update(colour="red")),
            ("no-geometry", lambda f: f.pop("geometry")),
        ]:
            f = json.loads(body)
            change(f)
            self.http("POST", items, geo + auth(admin), json.dumps(f).encode(), variant=name)
        self.http("POST", items, geo + auth(admin), b'{"type": "FeatureCollection"}',
                  variant="collection")
        # Create, read, conflicting and correct edits, history, delete, restore.
        _, h, _ = self.http("POST", items, geo + auth(admin), body, variant="create")
        self.http("POST", items, geo + auth(admin), body, variant="create-again")
        etag = h.get("etag", "")

        def change(method, extra, data, variant) -> None:
            """An edit with If-Match; a 2xx gives the ETag of the next one."""
            nonlocal etag
            status, h, _ = self.http(method, site, extra, data, variant=variant)
            if 200 <= status < 300 and "etag" in h:
                etag = h["etag"]

        self.http("GET", site, variant="after-create")
        self.http("GET", site + "?f=html", variant="after-create")
        patch = json.dumps({"properties": {"name": "Renamed", "dam_height_m": None}}).encode()
        self.http("PATCH", site, merge + auth(admin), patch, variant="no-if-match")
        self.http("PATCH", site, merge + auth(admin) + [("If-Match", '"999"')], patch,
                  variant="stale-if-match")
        self.http("PATCH", site, [("Content-Type", "text/plain")] + auth(admin)
                  + [("If-Match", etag)], patch, variant="text-plain")
        self.http("PATCH", site, merge + auth(admin) + [("If-Match", etag)], b"[1,",
                  variant="malformed")
        change("PATCH", merge + auth(admin) + [("If-Match", etag),
                                               ("X-Change-Reason", "snapshot")], patch, "ok")
        move = json.dumps({"geometry": {"type": "Point", "coordinates": [69.24, 41.31]}}).encode()
        self.http("PATCH", site, merge + auth(editor) + [("If-Match", etag)], move,
                  variant="editor-move-to-uzb")
        change("PATCH", geo + auth(admin) + [("If-Match", etag)],
               json.dumps({"properties": {"status_note": "patched as geo+json"}}).encode(),
               "geojson-content-type")
        moved = site_feature("kgz_snapshot_site", 72.45, 41.26, "KGZ")
        moved["properties"]["name"] = "Replaced"
        change("PUT", geo + auth(editor) + [("If-Match", etag)], json.dumps(moved).encode(),
               "editor-ok")
        self.http("GET", site, variant="after-put")
        self.http("GET", site + "/downstream", variant="after-put")
        self.http("GET", site + "/history", variant="after-put")
        self.http("DELETE", site, auth(admin), variant="no-if-match")
        change("DELETE", auth(admin) + [("If-Match", etag)], None, "ok")
        self.http("GET", site, variant="after-delete")
        self.http("GET", site + "/history", variant="after-delete")
        restore = [("Content-Type", "application/json")] + auth(admin)
        self.http("POST", site + "/restore", restore, b'{"version": 999999}',
                  variant="unknown-version")
        status, h, _ = self.http("POST", site + "/restore", restore, b"{}", variant="ok")
        if 200 <= status < 300 and "etag" in h:
            etag = h["etag"]
        self.http("GET", site, variant="after-restore")
        versions = self.get_json(site + "/history")["versions"]
        first = json.dumps({"version": versions[-1]["version"]}).encode()
        self.http("POST", site + "/restore", restore, first, variant="first-no-if-match")
        status, h, _ = self.http("POST", site + "/restore", restore + [("If-Match", etag)], first,
                                 variant="first")
        self.http("GET", site, variant="after-restore-first")
        self.http("GET", site + "/history", variant="after-restore-first")
        self.http("GET", items + "?country=KGZ&kind=tailings", variant="after-edits")
        # Bulk import over HTTP.
        gtp = (REPO / "tests/fixtures/import/gtp_sample.csv").read_bytes()
        mapping = (REPO / "config/mappings/global-tailings-portal.json").read_bytes()
        ct, mp = multipart([("file", "gtp_sample.csv", gtp), ("mapping", "gtp.json", mapping)])
        for q, tok, variant in [("?dry_run=true", editor, "editor"),
                                ("?dry_run=true", admin, ""),
                                ("?dry_run=true&skip_invalid=true", admin, ""),
                                ("", admin, ""),
                                ("?skip_invalid=true", admin, "")]:
            self.http("POST", "/import" + q, [("Content-Type", ct)] + auth(tok), mp,
                      variant=variant)
        self.http("POST", "/import", [("Content-Type", "text/csv")] + auth(admin), gtp,
                  variant="not-multipart")
        # Revocation applies to the next request.
        self.cli("token-revoke-reader", ["token", "revoke", self.token_id(reader)])
        self.cli("token-list-after-revoke", ["token", "list"])
        self.http("POST", items, geo + auth(reader), body, variant="revoked")
        # A CLI import beside the service, then what the service shows of it once it noticed.
        self.cli("import-sites-lonlat", ["import", "tests/fixtures/import/sites_lonlat.csv",
                                         "--actor", "snapshot", "--reason", "snapshot run"])
        # The service publishes another process's writes within about a second; wait for it
        # (these requests are left out of logs/serve.txt: how many it takes depends on timing).
        deadline = time.monotonic() + 30
        while self.raw("GET", f"{items}/kgz_mailuu_suu_tp3{WAIT_QUERY}")[0] != 200:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.http("GET", f"{items}/kgz_mailuu_suu_tp3", variant="after-cli-import")
        self.http("GET", f"{items}/kgz_mailuu_suu_tp3/history", variant="after-cli-import")
        self.http("GET", f"{items}/tjk_degmay", variant="after-cli-import")
        # The same file again changes nothing; give the watcher time to show it if it did.
        self.cli("import-sites-lonlat-again", ["import", "tests/fixtures/import/sites_lonlat.csv",
                                               "--actor", "snapshot"])
        time.sleep(1.5)
        self.http("GET", f"{items}?limit=10000", variant="after-everything")
        self.http("GET", f"{items}?f=csv", variant="after-everything")
        self.http("GET", "/health", variant="after-everything")
        self.cli("export-csv-after-everything",
                 ["export", "--format", "csv", "--out", str(self.tmp / "cli/after.csv")],
                 ["cli/after.csv"])

    @staticmethod
    def secret(stdout: str) -> str:
        m = re.search(r"\bta_[0-9a-f]{12}_[0-9a-f]+", stdout)
        if not m:
            raise RuntimeError(f"token create printed no token: {stdout!r}")
        return m.group(0)

    def token_id(self, secret: str) -> str:
        return secret.split("_")[1]

    def logs(self) -> None:
        raw = self.server_log.read_text(encoding="utf-8", errors="backslashreplace")
        wait = f"path=/collections/sites/items/kgz_mailuu_suu_tp3 query={WAIT_QUERY[1:]} "
        lines = [self.norm.log(line) for line in raw.splitlines(keepends=True)]
        # The store watcher wakes every second and also re-reads the service's own writes, so
        # where its "published changes" lines fall, and their counts, depend on timing.
        lines = [line for line in lines if wait not in line and WATCHER_LINE not in line]
        # After SIGTERM, actix's worker and accept threads log their shutdown in a racy order.
        stop = next((i for i, line in enumerate(lines) if "SIGTERM received" in line), None)
        if stop is not None:
            lines[stop + 1:] = sorted(lines[stop + 1:])
        self.write("logs", "serve.txt",
                   "=== stdout\n" + self.norm.common("".join(self.server_stdout))
                   + "=== stderr (normalised)\n" + "".join(lines))


def site_feature(sid: str, lon: float, lat: float, country: str) -> dict:
    return {
        "type": "Feature",
        "id": sid,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "name": "Snapshot tailings",
            "kind": "tailings",
            "activity": "uranium legacy",
            "country": country,
            "status": "legacy",
            "precision": "site",
            "volume_m3": 250000.0,
            "dam_height_m": 12.0,
            "sources": ["https://example.org/survey-2024"],
        },
    }


def multipart(parts: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    boundary = "atlas-snapshot-boundary-7f3a"
    body = b""
    for name, filename, data in parts:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                 ).encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def cli_env() -> dict[str, str]:
    """The default log settings, whatever the caller's environment says."""
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "ATLAS_LOG_FORMAT",
                                                           "RUST_BACKTRACE", "NO_COLOR")}
    env["USER"] = "snapshot"  # the default import actor is cli:$USER
    return env


def main() -> int:
    global REPO
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", type=Path, help="the tailings-atlas binary")
    ap.add_argument("outdir", type=Path, help="where to write the snapshot (new or empty)")
    ap.add_argument("--import", dest="import_csv", type=Path, metavar="CSV",
                    help="import these sites (any file `BIN import` reads) into the fresh store "
                         "before serving, and add the requests for large inventories")
    ap.add_argument("--keep-temp", action="store_true", help="keep the temporary directory")
    ap.add_argument("--repo", type=Path, default=REPO,
                    help="where data/, config/ and tests/fixtures/ are read (default: this script's "
                         "repository)")
    a = ap.parse_args()
    REPO = a.repo.resolve()
    binary = a.binary.resolve()
    if not os.access(binary, os.X_OK):
        print(f"error: {a.binary}: not an executable", file=sys.stderr)
        return 2
    if a.outdir.exists() and any(a.outdir.iterdir()):
        print(f"error: {a.outdir}: exists and is not empty", file=sys.stderr)
        return 2
    if a.import_csv is not None and not a.import_csv.is_file():
        print(f"error: {a.import_csv}: not a file", file=sys.stderr)
        return 2
    if shutil.which("ogrinfo") is None:
        print("error: ogrinfo not found (apt-get install gdal-bin)", file=sys.stderr)
        return 2

    def stop(signum, _frame):
        print(f"interrupted by signal {signum}; {a.outdir} is incomplete", file=sys.stderr)
        raise SystemExit(128 + signum)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, stop)

    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="atlas-snapshot-"))
    snap = Snapshot(binary, a.outdir.resolve(), tmp)
    try:
        if a.import_csv is not None:
            # Copied, so the command and messages name TMP/inventory.csv wherever the file was.
            inventory = tmp / ("inventory" + "".join(a.import_csv.suffixes[-1:]))
            shutil.copyfile(a.import_csv, inventory)
            snap.cli("import-inventory", ["import", str(inventory), "--actor", "snapshot",
                                          "--reason", "snapshot inventory"])
            if snap.last_exit != 0:
                raise RuntimeError(f"import of {a.import_csv} failed; see "
                                   f"{a.outdir}/cli/import-inventory.txt")
        snap.start_server()
        snap.reads()
        snap.per_site()
        snap.analysis()
        if a.import_csv is not None:
            snap.large()
        snap.errors()
        snap.exports()
        snap.cli_runs()
        snap.edits()
        snap.stop_server()
        snap.logs()
    finally:
        snap.stop_server()
        if a.keep_temp:
            print(f"temporary directory kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{snap.count} files in {a.outdir} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
