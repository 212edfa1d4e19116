"""Compare two replay databases table by table: `python tools/compare_replays.py A.db B.db`.

Every table `derivbot replay` writes is compared row for row (in primary-key order); the
exit code is 0 when all are equal, 1 otherwise, with the first differing row of each table.
Use it to show that a change of structure or speed left every trade, order, fill, signal,
alert, risk decision and equity row as it was.
"""

from __future__ import annotations

import sqlite3
import sys


def tables(db: sqlite3.Connection) -> list[str]:
    return sorted(r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"))


def rows(db: sqlite3.Connection, table: str) -> list[tuple]:
    return db.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


def compare(a_path: str, b_path: str) -> list[str]:
    a, b = sqlite3.connect(a_path), sqlite3.connect(b_path)
    out = []
    names = tables(a)
    if names != tables(b):
        out.append(f"tables differ: {names} vs {tables(b)}")
    for name in names:
        ra, rb = rows(a, name), rows(b, name)
        if ra == rb:
            print(f"{name:16} {len(ra):>8} rows  equal")
            continue
        first = next((i for i, (x, y) in enumerate(zip(ra, rb, strict=False)) if x != y),
                     min(len(ra), len(rb)))
        left = ra[first] if first < len(ra) else None
        right = rb[first] if first < len(rb) else None
        out.append(f"{name}: {len(ra)} vs {len(rb)} rows; row {first}: {left} vs {right}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: compare_replays.py A.db B.db", file=sys.stderr)
        return 2
    diffs = compare(*argv)
    for line in diffs:
        print(line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
