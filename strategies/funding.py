"""Funding-rate signals: extreme funding across exchanges and the funding z-score."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from strategies.frame import Frame, Rows, at, streaks, windows
from strategies.types import Direction, MarketView, Signal
from strategies.venues import FRESH_HOURS, Crowd, aggregate, crowd


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


def funding_extreme(view: MarketView, p: FundingExtremeParams) -> Signal:
    return funding_extreme_rows(Frame.of(view), p).signal(0)


def funding_extreme_rows(f: Frame, p: FundingExtremeParams) -> Rows:
    """Each exchange's run of prints beyond the threshold on either side, row by row."""
    c = crowd(f, p.max_age_hours)
    up, down = np.zeros(c.rate.shape, np.int64), np.zeros(c.rate.shape, np.int64)
    for j, ex in enumerate(c.exchanges):
        s, k = f.funding[ex], f.funding_known(ex)
        up[:, j] = streaks(s.value >= p.threshold - 1e-12, k)
        down[:, j] = streaks(-s.value >= p.threshold - 1e-12, k)
    return Rows({"rate": c.rate, "fresh": c.fresh, "up": up, "down": down},
                lambda cols, i: _extreme(c.exchanges, cols, i, p))


def _extreme(exchanges: tuple[str, ...], cols, i: int, p: FundingExtremeParams) -> Signal:
    name = "funding_extreme"
    fresh = [j for j in range(len(exchanges)) if cols["fresh"][i, j]]
    if len(fresh) < p.min_exchanges:
        return Signal.abstain(name, f"needs funding from {p.min_exchanges} exchanges, "
                                    f"have {len(fresh)} fresh", exchanges=len(fresh))
    rate = cols["rate"][i]
    best: tuple[int, list[int], list[int]] = (0, [], [])
    for sign, run in ((1, cols["up"][i]), (-1, cols["down"][i])):
        agree = [j for j in fresh if run[j] >= p.periods]
        if len(agree) > len(best[1]):
            best = (sign, agree, [int(run[j]) for j in agree])
    sign, agree, streak_lens = best
    if len(agree) < p.min_exchanges:
        return Signal.flat(name, exchanges=len(fresh), agreeing=len(agree),
                           funding_avg=float(np.mean([rate[j] for j in fresh])))
    avg = float(np.mean([float(rate[j]) for j in agree]))
    distance = min(abs(avg) / (3 * p.threshold), 1.0)
    duration = min(min(streak_lens) / (2 * p.periods), 1.0)
    breadth = len(agree) / len(fresh)
    strength = round(0.4 * distance + 0.3 * duration + 0.3 * breadth, 6)
    return Signal(name, Direction(-sign), strength,
                  {"funding_avg": avg, "exchanges": len(agree), "periods": min(streak_lens)})


def funding_zscore(view: MarketView, p: FundingZScoreParams) -> Signal:
    return funding_zscore_rows(Frame.of(view), p).signal(0)


def funding_zscore_rows(f: Frame, p: FundingZScoreParams) -> Rows:
    """The venue's 7-day funding sums over a window four times as long, row by row."""
    series = f.funding.get(f.venue)
    rows, need = len(f), p.window + p.window * p.z_window_mult - 1
    have = np.zeros(rows, np.int64) if series is None else f.funding_known(f.venue)
    z, cum, mean = np.zeros(rows), np.full(rows, np.nan), np.full(rows, np.nan)
    if series is not None and len(series) >= need:
        known, row = np.unique(have, return_inverse=True)  # rows between prints share one
        rates = series.value
        if len(known) == 1 and known[0] >= need:  # one print's rows: its last `need` only
            rates, known = rates[known[0] - need:known[0]], np.array([need])
        sums = sliding_window_view(rates, p.window).sum(axis=1)  # rolling 7-day sums
        win = windows(sums, known - p.window + 1, p.window * p.z_window_mult)
        sd = win.std(axis=1)
        z = np.where(sd == 0, 0.0, (win[:, -1] - win.mean(axis=1)) / np.where(sd == 0, 1, sd))
        z, cum = z[row], win[row, -1]
        mean = windows(rates, known, p.window).mean(axis=1)[row]
    return Rows({"have": have, "z": z, "cum": cum, "mean": mean},
                lambda cols, i: _zscore(f.venue, cols, i, p))


def _zscore(venue: str, cols, i: int, p: FundingZScoreParams) -> Signal:
    name = "funding_zscore"
    need = p.window + p.window * p.z_window_mult - 1
    if cols["have"][i] < need:
        return Signal.abstain(name, f"needs {need} funding periods on {venue}, "
                                    f"have {int(cols['have'][i])}")
    z = float(cols["z"][i])
    reasons = {"z": round(z, 4), "cum_funding": float(cols["cum"][i]),
               "annualised": annualised(float(cols["mean"][i]), p.periods_per_day)}
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


def funding_acceleration(view: MarketView, p: FundingAccelerationParams) -> Signal:
    """Funding rising (falling) fast: crowding building on the long (short) side → fade it."""
    return funding_acceleration_rows(Frame.of(view), p).signal(0)


def funding_acceleration_rows(f: Frame, p: FundingAccelerationParams) -> Rows:
    rates, have = aggregate(f, 3)
    return Rows({"rates": rates, "have": have}, lambda cols, i: _acceleration(f.venue, cols,
                                                                              i, p))


def _acceleration(venue: str, cols, i: int, p: FundingAccelerationParams) -> Signal:
    name = "funding_acceleration"
    if cols["have"][i] < 3:
        return Signal.abstain(name, f"needs 3 funding periods on {venue}")
    r0, r1, r2 = (float(x) for x in cols["rates"][i])
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


def funding_divergence(view: MarketView, p: FundingDivergenceParams) -> Signal:
    """New price high while funding declines → bearish; new low while funding rises → bullish."""
    return funding_divergence_rows(Frame.of(view), p).signal(0)


def funding_divergence_rows(f: Frame, p: FundingDivergenceParams) -> Rows:
    c, n = f.candles, p.funding_periods + 1
    rates, have = aggregate(f, n)
    prior = f.bars - 1
    return Rows({"bars": f.bars, "have": have, "now": rates[:, -1].copy(),
                 "then": rates[:, 0].copy(),
                 "prior_high": windows(c.high, prior, p.lookback_bars).max(axis=1),
                 "prior_low": windows(c.low, prior, p.lookback_bars).min(axis=1),
                 "high": at(c.high, f.bars), "low": at(c.low, f.bars)},
                lambda cols, i: _divergence(cols, i, p))


def _divergence(cols, i: int, p: FundingDivergenceParams) -> Signal:
    name = "funding_divergence"
    bars = int(cols["bars"][i])
    if bars < p.lookback_bars + 1:
        return Signal.abstain(name, f"needs {p.lookback_bars + 1} bars, have {bars}")
    if cols["have"][i] < p.funding_periods + 1:
        return Signal.abstain(name, f"needs {p.funding_periods + 1} funding periods")
    prior_high, prior_low = float(cols["prior_high"][i]), float(cols["prior_low"][i])
    f_now, f_then = float(cols["now"][i]), float(cols["then"][i])
    reasons = {"funding_now": f_now, "funding_before": f_then, "prior_high": prior_high,
               "prior_low": prior_low}
    high, low = float(cols["high"][i]), float(cols["low"][i])
    if high > prior_high and f_now < f_then:
        return Signal(name, Direction.SHORT, min((f_then - f_now) / 0.0003, 1.0),
                      reasons, invalidation=high)
    if low < prior_low and f_now > f_then:
        return Signal(name, Direction.LONG, min((f_now - f_then) / 0.0003, 1.0),
                      reasons, invalidation=low)
    return Signal.flat(name, **reasons)


class FundingSpreadParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    alert_spread: float = Field(default=0.0003, gt=0)
    max_age_hours: float = Field(default=FRESH_HOURS, gt=0)


def funding_spread(view: MarketView, p: FundingSpreadParams) -> Signal:
    """Cross-exchange funding spread (alert above 0.03 %) and the OI-weighted funding."""
    return funding_spread_rows(Frame.of(view), p).signal(0)


def funding_spread_rows(f: Frame, p: FundingSpreadParams) -> Rows:
    c = crowd(f, p.max_age_hours)
    return Rows({"fresh": c.fresh}, lambda cols, i: _spread(c, i, p))


def _spread(c: Crowd, i: int, p: FundingSpreadParams) -> Signal:
    name = "funding_spread"
    fresh = c.fresh_rates(i)
    if len(fresh) < 2:
        return Signal.abstain(name, f"needs funding from 2 exchanges, have {len(fresh)} fresh")
    rate, _ = c.weighted(i)
    hi, lo = max(fresh, key=fresh.get), min(fresh, key=fresh.get)
    spread = fresh[hi] - fresh[lo]
    reasons = {"spread": spread, "highest": hi, "lowest": lo, "oi_weighted": rate,
               "exchanges": len(fresh), "alert": spread > p.alert_spread}
    return Signal.flat(name, **reasons)
