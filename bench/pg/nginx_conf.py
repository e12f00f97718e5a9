"""deploy/nginx.conf rewritten as tests/api/replicas.rs rewrites it: its upstream `server
127.0.0.1:…` lines replaced by one line per given upstream (keeping the shipped options), and its
`listen` line by LISTEN. Fails if the shipped file no longer has those lines.
Usage: nginx_conf.py SHIPPED LISTEN UPSTREAM... > site.conf"""
import sys

shipped, listen, upstreams = sys.argv[1], sys.argv[2], sys.argv[3:]
out, servers, listens = [], 0, 0
for line in open(shipped).read().splitlines():
    t = line.lstrip()
    if t.startswith("server 127.0.0.1:"):
        servers += 1
        if servers == 1:
            rest = t[len("server 127.0.0.1:"):]
            options = rest.split(" ", 1)[1] if " " in rest else ";"
            out += [f"    server {u} {options}" for u in upstreams]
    elif t.startswith("listen "):
        listens += 1
        out.append(f"    listen {listen};")
    else:
        out.append(line)
if servers < 1 or listens != 1:
    sys.exit(f"{shipped} changed shape ({servers} upstream servers, {listens} listen lines)")
print("\n".join(out))
