#!/usr/bin/env python3
"""Runs two commands alternately, N times each, and prints min/median/max wall seconds of each
and the JSON a command printed on its last run (stdout) or its last stderr line.

Usage: timing.py N -- label1 cmd1... -- label2 cmd2...
"""
import json
import statistics
import subprocess
import sys
import time


def main():
    n = int(sys.argv[1])
    groups, cur = [], None
    for arg in sys.argv[2:]:
        if arg == "--":
            cur = []
            groups.append(cur)
        else:
            cur.append(arg)
    runs = {g[0]: [] for g in groups}
    last = {}
    for _ in range(n):
        for g in groups:
            t0 = time.perf_counter()
            p = subprocess.run(g[1:], capture_output=True, text=True)
            dt = time.perf_counter() - t0
            if p.returncode != 0:
                sys.exit(f"{g[0]} failed:\n{p.stderr}")
            runs[g[0]].append(dt)
            last[g[0]] = {"stdout": p.stdout.strip(), "stderr": p.stderr.strip().splitlines()[-1:] }
    print(json.dumps({k: {"min": min(v), "median": statistics.median(v), "max": max(v), "all": v,
                          "last": last[k]} for k, v in runs.items()}))


if __name__ == "__main__":
    main()
