"""Funding-rate signals: extreme funding across exchanges and the funding z-score."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import Direction, MarketView, Signal

HOUR_MS = 3_600_000


class FundingExtremeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: float = Field(default=0.0005, gt=0)  # per 8 h
    periods: int = Field(default=3, ge=1)
    min_exchanges: int = Field(default=2, ge=1)
    max_age_hours: float = Field(default=16.0, gt=0)  # older last print: stale, not counted


class FundingZScoreParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window: int = Field(default=21, ge=2)  # 7 days of 8 h periods
    z_window_mult: int = Field(default=4, ge=2)
    threshold: float = Field(default=2.0, gt=0)
    periods_per_day: float = Field(default=3.0, gt=0)


def to_8h(rate: float, interval_hours: float) -> float:
    """A rate paid every `interval_hours`, expressed per 8 h."""
    return rate * 8.0 / interval_hours


def annualised(rate_8h: float, periods_per_day: float = 3.0) -> float:
    return rate_8h * periods_per_day * 365.0


def _streak(rates: np.ndarray, threshold: float, sign: int) -> int:
    """How many of the latest rates are beyond the threshold on `sign`'s side."""
    beyond = rates * sign >= threshold - 1e-12
    if len(beyond) == 0 or not beyond[-1]:
        return 0
    breaks = np.flatnonzero(~beyond)
    return len(beyond) - (breaks[-1] + 1 if len(breaks) else 0)


def funding_extreme(view: MarketView, p: FundingExtremeParams) -> Signal:
    name = "funding_extreme"
    fresh = {ex: s for ex, s in view.funding.items()
             if len(s) and view.now - int(s.ts[-1]) <= p.max_age_hours * HOUR_MS}
    if len(fresh) < p.min_exchanges:
        return Signal.abstain(name, f"needs funding from {p.min_exchanges} exchanges, "
                                    f"have {len(fresh)} fresh", exchanges=len(fresh))
    best: tuple[int, int, list[float], list[int]] = (0, 0, [], [])
    for sign in (1, -1):
        streaks = {ex: _streak(s.value, p.threshold, sign) for ex, s in fresh.items()}
        agree = [ex for ex, k in streaks.items() if k >= p.periods]
        if len(agree) > best[1]:
            best = (sign, len(agree), [float(fresh[ex].value[-1]) for ex in agree],
                    [streaks[ex] for ex in agree])
    sign, n_agree, latest, streak_lens = best
    if n_agree < p.min_exchanges:
        return Signal.flat(name, exchanges=len(fresh), agreeing=n_agree,
                           funding_avg=float(np.mean([s.value[-1] for s in fresh.values()])))
    avg = float(np.mean(latest))
    distance = min(abs(avg) / (3 * p.threshold), 1.0)
    duration = min(min(streak_lens) / (2 * p.periods), 1.0)
    breadth = n_agree / len(fresh)
    strength = round(0.4 * distance + 0.3 * duration + 0.3 * breadth, 6)
    return Signal(name, Direction(-sign), strength,
                  {"funding_avg": avg, "exchanges": n_agree, "periods": min(streak_lens)})


def funding_zscore(view: MarketView, p: FundingZScoreParams) -> Signal:
    name = "funding_zscore"
    series = view.funding.get(view.venue)
    need = p.window + p.window * p.z_window_mult - 1
    if series is None or len(series) < need:
        have = 0 if series is None else len(series)
        return Signal.abstain(name, f"needs {need} funding periods on {view.venue}, have {have}")
    rates = series.value[-need:]
    cum = np.convolve(rates, np.ones(p.window), mode="valid")  # rolling 7-day sums
    sd = float(cum.std())
    z = 0.0 if sd == 0 else float((cum[-1] - cum.mean()) / sd)
    reasons = {"z": round(z, 4), "cum_funding": float(cum[-1]),
               "annualised": annualised(float(rates[-p.window:].mean()), p.periods_per_day)}
    if abs(z) < p.threshold:
        return Signal.flat(name, **reasons)
    strength = min((abs(z) - p.threshold) / p.threshold + 0.5, 1.0)
    return Signal(name, Direction.SHORT if z > 0 else Direction.LONG, strength, reasons)
