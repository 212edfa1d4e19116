"""Risk fraction from the bot's own record: half-Kelly, shrunk toward the default early on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from risk.limits import FRACTION_BAND


@dataclass(frozen=True, slots=True)
class KellyEstimate:
    fraction: float  # what to risk, within the band
    half_kelly: float | None  # raw 0.5 × (p − (1 − p)/b), None without wins and losses
    trades: int
    win_rate: float | None
    payoff: float | None  # b: mean win / mean loss, in R
    weight: float  # how much the record counts against the default (trades / min_trades)


def half_kelly(p: float, b: float) -> float:
    return 0.5 * (p - (1 - p) / b)


def kelly_fraction(r_multiples: Sequence[float], default: float,
                   low: float = FRACTION_BAND[0], high: float = FRACTION_BAND[1],
                   min_trades: int = 30) -> KellyEstimate:
    """Half-Kelly clamped to [low, high], blended with the default by trades / min_trades."""
    n = len(r_multiples)
    wins = [r for r in r_multiples if r > 0]
    losses = [-r for r in r_multiples if r <= 0]
    if n == 0:
        return KellyEstimate(default, None, 0, None, None, 0.0)
    p = len(wins) / n
    if wins and losses and sum(losses) > 0:
        b = (sum(wins) / len(wins)) / (sum(losses) / len(losses))
        raw: float | None = half_kelly(p, b)
        clamped = min(max(raw, low), high)
    else:  # only wins (or break-evens) or only losses: the edge's sign is all we know
        b, raw = None, None
        clamped = high if wins else low
    weight = min(n / min_trades, 1.0)
    fraction = min(max(weight * clamped + (1 - weight) * default, low), high)
    return KellyEstimate(fraction, raw, n, p, b, weight)
