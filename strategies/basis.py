"""When a delta-neutral basis pair pays (SPEC §5): pure rules over the funding series."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from strategies.types import DAY_MS, Series

EIGHT_HOURS_MS = 8 * 3_600_000


def average_funding(funding: Series | None, now: int, days: float) -> float | None:
    """Mean 8 h-equivalent funding over the last `days`; None until the window is covered."""
    if funding is None or len(funding) == 0:
        return None
    start = now - days * DAY_MS
    if funding.ts[0] > start + EIGHT_HOURS_MS:
        return None  # history does not reach back far enough yet
    window = funding.value[funding.ts > start]
    return float(np.mean(window)) if len(window) else None


def should_open(funding: Series | None, now: int, days: float, entry_rate: float
                ) -> tuple[bool, float | None]:
    avg = average_funding(funding, now, days)
    return avg is not None and avg > entry_rate, avg


class FundingWindows:
    """should_open per perp, computed again only when its window's prints changed (one
    arrived, or one left the window) — not on every hourly tick in between."""

    def __init__(self, days: float, entry_rate: float) -> None:
        self.days, self.entry_rate = days, entry_rate
        self.known: dict[str, tuple] = {}  # perp -> (its window, should_open's answer)
        self.held: dict[str, tuple] = {}  # perp -> (version, valid until, the answer)

    def __call__(self, perp: str, funding: Series | None, now: int
                 ) -> tuple[bool, float | None]:
        if funding is None or len(funding) == 0:
            return should_open(funding, now, self.days, self.entry_rate)
        start = now - self.days * DAY_MS
        key = (len(funding), int(funding.ts.searchsorted(start, side="right")),
               bool(funding.ts[0] > start + EIGHT_HOURS_MS), int(funding.ts[-1]),
               float(funding.value[-1]))
        known = self.known.get(perp)
        if known is None or known[0] != key:
            known = self.known[perp] = (key, should_open(funding, now, self.days,
                                                         self.entry_rate))
        return known[1]

    def at(self, perp: str, version: object, now: int,
           funding: Callable[[], Series | None]) -> tuple[bool, float | None]:
        """The answer for the perp's prints as of `version` (a value that changes whenever
        they do), asked of funding() only when it can have changed: a print arrived, one
        left the window, or the history came to cover it."""
        hit = self.held.get(perp)
        if hit is not None and hit[0] == version and now < hit[1]:
            return hit[2]
        series = funding()
        answer = self(perp, series, now)
        self.held[perp] = (version, holds_until(series, now, self.days), answer)
        return answer


def holds_until(funding: Series | None, now: int, days: float) -> float:
    """The first instant after `now` at which average_funding over the same prints may
    differ (a millisecond early: never late): the window's oldest print leaves it, or the
    history comes to reach back over the window."""
    if funding is None or len(funding) == 0:
        return math.inf
    span, start = days * DAY_MS, now - days * DAY_MS
    until = math.inf
    if funding.ts[0] > start + EIGHT_HOURS_MS:
        until = float(funding.ts[0]) + span - EIGHT_HOURS_MS
    first = int(funding.ts.searchsorted(start, side="right"))
    if first < len(funding):
        until = min(until, float(funding.ts[first]) + span)
    return until - 1


def exit_reason(funding: Series | None, exit_rate: float) -> str | None:
    """Close when the last print is below the exit rate (negative included)."""
    if funding is None or len(funding) == 0:
        return None
    last = float(funding.value[-1])
    if last < 0:
        return f"funding turned negative ({last:.4%})"
    if last < exit_rate:
        return f"funding {last:.4%} below {exit_rate:.4%}"
    return None


def margin_short(margin: float, unrealised: float, maintenance: float, buffer: float) -> bool:
    """Less than `buffer` of the cushion (posted margin above maintenance) is left: the
    short is near its warning level. At 5× with a 0.4 % maintenance rate the cushion is
    19.6 % of notional; a 20 % buffer closes after a 15.7 % adverse move, ~4 % before
    liquidation — room for an hourly check to act."""
    cushion = margin - maintenance
    return margin + unrealised - maintenance < buffer * cushion
