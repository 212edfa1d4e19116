"""When a delta-neutral basis pair pays (SPEC §5): pure rules over the funding series."""

from __future__ import annotations

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
