"""Funding-rate signals: extreme funding across exchanges and the funding z-score."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.series import (
    FRESH_HOURS,
    WeightedFunding,
    aggregate_funding,
    fresh_funding,
    last_of,
    weighted_funding,
)
from strategies.types import Direction, MarketView, Series, Signal


class FundingExtremeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    threshold: float = Field(default=0.0005, gt=0)  # per 8 h
    periods: int = Field(default=3, ge=1)
    min_exchanges: int = Field(default=2, ge=1)
    max_age_hours: float = Field(default=FRESH_HOURS, gt=0)  # older last print: stale, not counted


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
    fresh = fresh_funding(view, p.max_age_hours)
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


class FundingAccelerationParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    moderate: float = Field(default=0.0002, gt=0)  # change per period
    strong: float = Field(default=0.0003, gt=0)
    parabolic_ratio: float = Field(default=1.6, gt=1)  # each print ≥ this × the one before
    parabolic_floor: float = Field(default=0.0002, ge=0)  # |first print| of a parabolic run


def funding_acceleration(view: MarketView, p: FundingAccelerationParams,
                         aggregated: Series | None = None) -> Signal:
    """Funding rising (falling) fast: crowding building on the long (short) side → fade it."""
    name = "funding_acceleration"
    series = last_of(aggregated, 3) if aggregated is not None else aggregate_funding(view, 3)
    if series is None or len(series) < 3:
        return Signal.abstain(name, f"needs 3 funding periods on {view.venue}")
    r0, r1, r2 = (float(x) for x in series.value[-3:])
    step = r2 - r1
    sign = 1 if step > 0 else -1
    reasons = {"rates": [r0, r1, r2], "change": step}
    parabolic = (abs(r0) >= p.parabolic_floor and r0 * sign > 0
                 and r1 * sign >= p.parabolic_ratio * abs(r0)
                 and r2 * sign >= p.parabolic_ratio * abs(r1))
    if parabolic:
        level, strength = "parabolic", 1.0
    elif abs(step) >= p.strong - 1e-12:
        level, strength = "strong", 0.7
    elif abs(step) >= p.moderate - 1e-12:
        level, strength = "moderate", 0.4
    else:
        return Signal.flat(name, **reasons)
    return Signal(name, Direction(-sign), strength, {**reasons, "level": level})


class FundingDivergenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lookback_bars: int = Field(default=48, ge=2)  # the N-period high/low
    funding_periods: int = Field(default=3, ge=1)  # funding falling/rising over these prints


def funding_divergence(view: MarketView, p: FundingDivergenceParams,
                       aggregated: Series | None = None) -> Signal:
    """New price high while funding declines → bearish; new low while funding rises → bullish."""
    name = "funding_divergence"
    c = view.candles
    n = p.funding_periods + 1
    series = last_of(aggregated, n) if aggregated is not None else aggregate_funding(view, n)
    if len(c) < p.lookback_bars + 1:
        return Signal.abstain(name, f"needs {p.lookback_bars + 1} bars, have {len(c)}")
    if series is None or len(series) < p.funding_periods + 1:
        return Signal.abstain(name, f"needs {p.funding_periods + 1} funding periods")
    prior_high = float(c.high[-p.lookback_bars - 1:-1].max())
    prior_low = float(c.low[-p.lookback_bars - 1:-1].min())
    f_now, f_then = float(series.value[-1]), float(series.value[-1 - p.funding_periods])
    reasons = {"funding_now": f_now, "funding_before": f_then, "prior_high": prior_high,
               "prior_low": prior_low}
    if c.high[-1] > prior_high and f_now < f_then:
        return Signal(name, Direction.SHORT, min((f_then - f_now) / 0.0003, 1.0),
                      reasons, invalidation=float(c.high[-1]))
    if c.low[-1] < prior_low and f_now > f_then:
        return Signal(name, Direction.LONG, min((f_now - f_then) / 0.0003, 1.0),
                      reasons, invalidation=float(c.low[-1]))
    return Signal.flat(name, **reasons)


class FundingSpreadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    alert_spread: float = Field(default=0.0003, gt=0)
    max_age_hours: float = Field(default=FRESH_HOURS, gt=0)


def funding_spread(view: MarketView, p: FundingSpreadParams,
                   weighted: WeightedFunding | None = None) -> Signal:
    """Cross-exchange funding spread (alert above 0.03 %) and the OI-weighted funding."""
    name = "funding_spread"
    fresh = {ex: float(s.value[-1]) for ex, s in fresh_funding(view, p.max_age_hours).items()}
    if len(fresh) < 2:
        return Signal.abstain(name, f"needs funding from 2 exchanges, have {len(fresh)} fresh")
    rate, _ = weighted_funding(view, p.max_age_hours, weighted)
    hi, lo = max(fresh, key=fresh.get), min(fresh, key=fresh.get)
    spread = fresh[hi] - fresh[lo]
    reasons = {"spread": spread, "highest": hi, "lowest": lo, "oi_weighted": rate,
               "exchanges": len(fresh), "alert": spread > p.alert_spread}
    return Signal.flat(name, **reasons)
