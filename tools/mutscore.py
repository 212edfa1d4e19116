"""The mutation score of `make mutate`, per file and in all, from mutmut's results under
mutants/ (killed / (killed + survived + no tests); timeouts count as killed)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes of a mutant's test run: 0 its tests passed (it survived),
# 33 no test covers it, 34 skipped, None not run yet; anything else killed it
SURVIVED, NO_TESTS, SKIPPED = 0, 33, 34


def tally(meta: Path) -> Counter:
    codes = json.loads(meta.read_text()).get("exit_code_by_key", {}).values()
    out: Counter = Counter()
    for code in codes:
        out[{SURVIVED: "survived", NO_TESTS: "no tests", SKIPPED: "skipped",
             None: "not run"}.get(code, "killed")] += 1
    return out


def score(c: Counter) -> float:
    judged = c["killed"] + c["survived"] + c["no tests"]
    return 100.0 * c["killed"] / judged if judged else 0.0


def main(root: str = "mutants") -> int:
    metas = sorted(Path(root).rglob("*.py.meta"))
    if not metas:
        print(f"no mutation results under {root}/: run `make mutate` first", file=sys.stderr)
        return 2
    total: Counter = Counter()
    print(f"{'file':42} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>7}")
    for meta in metas:
        c = tally(meta)
        if not sum(c.values()):
            continue
        total += c
        name = str(meta.relative_to(root))[: -len(".meta")]
        print(f"{name:42} {c['killed']:7} {c['survived']:9} {c['no tests']:9} "
              f"{score(c):6.1f}%")
    print(f"{'all':42} {total['killed']:7} {total['survived']:9} {total['no tests']:9} "
          f"{score(total):6.1f}%" + (f"  ({total['not run']} not run)" if total["not run"]
                                      else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
