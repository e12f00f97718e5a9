#!/usr/bin/env python3
"""Compares two snapshots written by scripts/snapshot.py, file by file.

    scripts/compare_snapshots.py A B [--lines N]

Prints every file that differs with a short unified diff (its first N lines, default 20), the
files found on one side only, and a summary. Exit status 0 when the snapshots are identical, 1
when they differ, 2 on a usage error.

The comparison is of bytes. Only the diff shown is made readable: a JSON body (most of them are
one long line) is shown pretty-printed, and other long lines are folded, so the diff points at
the change instead of at a 50 kB line. When two JSON bodies differ only in formatting (the same
JSON value), that is said, with the first differing characters. Every differing file also gets
the offset (and line) of its first differing byte with the raw bytes around it, and how many raw
lines differ. Large files are diffed after their common first and last lines are set aside (the
hunk line numbers then count from the first line kept, which is said), so a 20 MB ogrinfo dump
that differs in one place does not take minutes.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

BODY_MARKERS = ("=== body", "=== file ")
FOLD = 160


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def readable(text: str) -> list[str]:
    """The lines to diff: each section that is a JSON document pretty-printed, long lines folded."""
    out: list[str] = []
    section: list[str] = []

    def flush() -> None:
        body = "".join(section)
        try:
            value = json.loads(body) if body.strip()[:1] in ("{", "[") else None
        except ValueError:
            value = None
        if value is not None:
            out.extend(json.dumps(value, indent=1, ensure_ascii=False).splitlines())
        else:
            for line in body.splitlines():
                while len(line) > FOLD:
                    out.append(line[:FOLD] + " \\")
                    line = line[FOLD:]
                out.append(line)
        section.clear()

    for line in text.splitlines(keepends=True):
        if line.startswith("=== "):
            flush()
            out.append(line.rstrip("\n"))
        else:
            section.append(line)
    flush()
    return out


def first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lo = max(0, i - 60)
    return (f"  first difference at character {i}:\n"
            f"  - …{a[lo:i + 60]!r}…\n  + …{b[lo:i + 60]!r}…")


def first_byte(a: bytes, b: bytes) -> str:
    """Where the raw bytes first differ: offset, line and column, the bytes around it; and how many
    raw lines differ by position."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i:i + 65536] == b[i:i + 65536]:  # chunks first: files can be 20 MB
        i += 65536
    i = min(i, n)
    while i < n and a[i] == b[i]:
        i += 1
    line = a.count(b"\n", 0, i) + 1
    col = i - (a.rfind(b"\n", 0, i) + 1) + 1
    lo = max(0, i - 80)
    la, lb = a.splitlines(), b.splitlines()
    by_pos = sum(1 for x, y in zip(la, lb) if x != y) + abs(len(la) - len(lb))
    return (f"  sizes {len(a)} and {len(b)} bytes, {len(la)} and {len(lb)} lines; "
            f"{by_pos} lines differ by position\n"
            f"  first differing byte at offset {i} (line {line}, column {col}):\n"
            f"  A …{a[lo:i + 80]!r}…\n  B …{b[lo:i + 80]!r}…")


def describe(path: str, a: bytes, b: bytes, lines: int) -> str:
    head = first_byte(a, b) + "\n"
    try:
        ta, tb = a.decode("utf-8"), b.decode("utf-8")
    except UnicodeDecodeError:
        return head + f"  binary files differ ({len(a)} and {len(b)} bytes)"
    ra, rb = readable(ta), readable(tb)
    # Set aside the common first and last lines (keeping 3 of context) so difflib stays fast.
    start = 0
    while start < min(len(ra), len(rb)) and ra[start] == rb[start]:
        start += 1
    start = max(0, start - 3)
    end = 0
    while end < min(len(ra), len(rb)) - start and ra[-1 - end] == rb[-1 - end]:
        end += 1
    end = max(0, end - 3)
    ra, rb = ra[start:len(ra) - end], rb[start:len(rb) - end]
    if start:
        head += f"  (diff of the readable lines from line {start + 1}; those before are equal)\n"
    diff = list(difflib.unified_diff(ra, rb, f"A/{path}", f"B/{path}", n=3, lineterm=""))
    if not diff:
        # Same JSON values, or a difference of line endings only: show the raw bytes.
        return head + ("  same content once JSON is parsed; the bytes differ:\n"
                       + first_difference(ta, tb))
    shown = diff[:lines]
    if len(diff) > lines:
        shown.append(f"  … ({len(diff) - lines} more diff lines)")
    return head + "\n".join("  " + d for d in shown)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--lines", type=int, default=20, help="diff lines shown per file")
    args = ap.parse_args()
    for d in (args.a, args.b):
        if not d.is_dir():
            print(f"error: {d}: not a directory", file=sys.stderr)
            return 2
    fa, fb = files(args.a), files(args.b)
    differing = 0
    for path in sorted(fa & fb):
        a, b = (args.a / path).read_bytes(), (args.b / path).read_bytes()
        if a != b:
            differing += 1
            print(f"differs: {path}")
            print(describe(path, a, b, args.lines))
    only_a, only_b = sorted(fa - fb), sorted(fb - fa)
    for path in only_a:
        print(f"only in A: {path}")
    for path in only_b:
        print(f"only in B: {path}")
    same = len(fa & fb) - differing
    print(f"\n{same} identical, {differing} differing, {len(only_a)} only in A ({args.a}), "
          f"{len(only_b)} only in B ({args.b})")
    return 0 if differing == 0 and not only_a and not only_b else 1


if __name__ == "__main__":
    sys.exit(main())
