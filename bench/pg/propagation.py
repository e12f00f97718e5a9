"""Replica propagation delay: N PATCHes of one site on replica A (sequential, If-Match); after each,
replica B's /collections/sites/items/SITE is polled (every 5 ms, keep-alive) until its ETag is the
one A answered, or 10 s pass. The delay runs from A's answer to the first B answer with that ETag.
Usage: propagation.py PORT_A PORT_B TOKEN N [SITE]
Prints "p50 p99 max timeouts patch_p50" (ms; an edit that never arrived counts as infinite)."""
import http.client, json, sys, time

pa, pb, token, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
site = sys.argv[5] if len(sys.argv) > 5 else "kgz_sumsar"
path = f"/collections/sites/items/{site}"
POLL_S, TIMEOUT_S = 0.005, 10.0
a = http.client.HTTPConnection("127.0.0.1", pa, timeout=60)
b = http.client.HTTPConnection("127.0.0.1", pb, timeout=60)


def get_etag(c):
    c.request("GET", path)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    return r.getheader("ETag")


etag = get_etag(a)
# Both replicas start from the same state.
t0 = time.monotonic()
while get_etag(b) != etag:
    assert time.monotonic() - t0 < TIMEOUT_S, "the replicas disagree at start"
    time.sleep(POLL_S)
delays, patches, timeouts = [], [], 0
for i in range(n):
    body = json.dumps({"properties": {"status_note": f"propagation edit {i}"},
                       "geometry": {"type": "Point", "coordinates": [71.31 + (i % 10) * 0.001, 41.3]}})
    t_send = time.monotonic()
    a.request("PATCH", path, body, {"Authorization": f"Bearer {token}", "If-Match": etag,
                                    "Content-Type": "application/merge-patch+json"})
    r = a.getresponse(); text = r.read()
    t_done = time.monotonic()
    assert r.status == 200, (r.status, text[:300])
    etag = r.getheader("ETag")
    patches.append((t_done - t_send) * 1000)
    while True:
        if get_etag(b) == etag:
            delays.append((time.monotonic() - t_done) * 1000)
            break
        if time.monotonic() - t_done > TIMEOUT_S:
            timeouts += 1
            delays.append(float("inf"))  # counts against the percentiles
            break
        time.sleep(POLL_S)
delays.sort(); patches.sort()
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
print(f"{q(delays, 0.5):.1f} {q(delays, 0.99):.1f} {max(delays):.1f} "
      f"{timeouts} {q(patches, 0.5):.1f}")
