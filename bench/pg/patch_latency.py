"""Single-site update latency, as bench/store.sh measures it: N sequential PATCHes (If-Match, merge
patch of a property and the geometry) of one site on one keep-alive connection.
Usage: patch_latency.py PORT TOKEN N [SITE]; prints "p50 p90 p99" in ms."""
import http.client, json, sys, time

port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
site = sys.argv[4] if len(sys.argv) > 4 else "kgz_sumsar"
path = f"/collections/sites/items/{site}"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
c.request("GET", path)
r = c.getresponse(); r.read(); etag = r.getheader("ETag")
assert r.status == 200 and etag, (r.status, etag)
times = []
for i in range(n):
    body = json.dumps({"properties": {"status_note": f"benchmark edit {i}"},
                       "geometry": {"type": "Point", "coordinates": [71.31 + (i % 10) * 0.001, 41.3]}})
    t0 = time.perf_counter()
    c.request("PATCH", path, body, {"Authorization": f"Bearer {token}", "If-Match": etag,
                                    "Content-Type": "application/merge-patch+json"})
    r = c.getresponse(); text = r.read()
    times.append((time.perf_counter() - t0) * 1000)
    assert r.status == 200, (r.status, text[:300])
    etag = r.getheader("ETag")
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print(f"{q(0.5):.1f} {q(0.9):.1f} {q(0.99):.1f}")
