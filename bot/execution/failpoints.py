"""Named crash points for the SIGKILL tests, as in fail-rs or FoundationDB's buggify.

DERIVBOT_FAILPOINTS="basis.leg:2,stop.moved:1" kills the process (SIGKILL: no cleanup,
no flush) the 2nd time a basis leg has been sent and the 1st time a new stop is placed
before the old one is cancelled. Unset, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "DERIVBOT_FAILPOINTS"


def _parse(raw: str) -> dict[str, int]:
    out = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, n = part.partition(":")
        out[name] = int(n or 1)
    return out


_armed = _parse(os.environ.get(ENV, ""))
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    if name not in _armed:
        return
    _hits[name] += 1
    if _hits[name] == _armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)
