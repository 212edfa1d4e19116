"""Structure triggers a fade waits for: the swing failure pattern."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.frame import Frame, Rows, at, windows
from strategies.types import Direction, MarketView, Signal


class SwingFailureParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lookback: int = Field(default=24, ge=3)  # bars that define the prior swing


def swing_failure(view: MarketView, p: SwingFailureParams) -> Signal:
    """Last bar sweeps beyond the prior swing high/low and closes back inside it."""
    return swing_failure_rows(Frame.of(view), p).signal(0)


def swing_failure_rows(f: Frame, p: SwingFailureParams) -> Rows:
    c, prior = f.candles, f.bars - 1
    return Rows({"bars": f.bars, "hi": at(c.high, f.bars), "lo": at(c.low, f.bars),
                 "close": at(c.close, f.bars),
                 "swing_high": windows(c.high, prior, p.lookback).max(axis=1),
                 "swing_low": windows(c.low, prior, p.lookback).min(axis=1)},
                lambda cols, i: _swing_failure(cols, i, p))


def _swing_failure(cols, i: int, p: SwingFailureParams) -> Signal:
    name = "swing_failure"
    bars = int(cols["bars"][i])
    if bars < p.lookback + 1:
        return Signal.abstain(name, f"needs {p.lookback + 1} bars, have {bars}")
    hi, lo, close = float(cols["hi"][i]), float(cols["lo"][i]), float(cols["close"][i])
    swing_high, swing_low = float(cols["swing_high"][i]), float(cols["swing_low"][i])
    if hi > swing_high and close < swing_high:
        wick = hi - swing_high
        strength = min((swing_high - close) / (wick + (swing_high - close)) + 0.25, 1.0)
        return Signal(name, Direction.SHORT, strength,
                      {"swing_high": swing_high, "sweep_high": hi, "close": close}, invalidation=hi)
    if lo < swing_low and close > swing_low:
        wick = swing_low - lo
        strength = min((close - swing_low) / (wick + (close - swing_low)) + 0.25, 1.0)
        return Signal(name, Direction.LONG, strength,
                      {"swing_low": swing_low, "sweep_low": lo, "close": close}, invalidation=lo)
    return Signal.flat(name, swing_high=swing_high, swing_low=swing_low)


class SpringParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lookback: int = Field(default=24, ge=3)  # bars that define the range
    reclaim_bars: int = Field(default=3, ge=1)  # the sweep may be this many bars back


def spring(view: MarketView, p: SpringParams) -> Signal:
    """A sweep below the range low reclaimed within a few bars (long); the upthrust mirrors it."""
    return spring_rows(Frame.of(view), p).signal(0)


def spring_rows(f: Frame, p: SpringParams) -> Rows:
    c, k = f.candles, p.reclaim_bars
    return Rows({"bars": f.bars,
                 "rng_hi": windows(c.high, f.bars - k, p.lookback).max(axis=1),
                 "rng_lo": windows(c.low, f.bars - k, p.lookback).min(axis=1),
                 "sweep_hi": windows(c.high, f.bars, k).max(axis=1),
                 "sweep_lo": windows(c.low, f.bars, k).min(axis=1),
                 "close": at(c.close, f.bars), "open": at(c.open, f.bars)},
                lambda cols, i: _spring(cols, i, p))


def _spring(cols, i: int, p: SpringParams) -> Signal:
    name = "spring"
    bars = int(cols["bars"][i])
    if bars < p.lookback + p.reclaim_bars:
        return Signal.abstain(name, f"needs {p.lookback + p.reclaim_bars} bars, have {bars}")
    rng_hi, rng_lo = float(cols["rng_hi"][i]), float(cols["rng_lo"][i])
    close, up_bar = float(cols["close"][i]), cols["close"][i] > cols["open"][i]
    sweep_lo, sweep_hi = float(cols["sweep_lo"][i]), float(cols["sweep_hi"][i])
    if sweep_lo < rng_lo and close > rng_lo and up_bar:
        return Signal(name, Direction.LONG, 0.6, {"range_low": rng_lo, "sweep_low": sweep_lo},
                      invalidation=sweep_lo)
    if sweep_hi > rng_hi and close < rng_hi and not up_bar:
        return Signal(name, Direction.SHORT, 0.6, {"range_high": rng_hi, "sweep_high": sweep_hi},
                      invalidation=sweep_hi)
    return Signal.flat(name, range_low=rng_lo, range_high=rng_hi)


class BreakParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pivot: int = Field(default=2, ge=1)  # bars each side of a swing point
    lookback: int = Field(default=48, ge=5)


def swing_points(high: np.ndarray, low: np.ndarray, n: int) -> tuple[list[int], list[int]]:
    """Indices of fractal swing highs and lows: strictly above (below) n bars on each side.
    Highs and negated lows side by side (a swing low is a swing high of -low): one set of
    comparisons of shifted views for both, no window copies."""
    m = len(high) - 2 * n
    if m < 1:
        return [], []
    both = np.empty((2, len(high)))
    both[0] = high
    np.negative(low, out=both[1])
    mid = both[:, n:n + m]
    swing = (both[:, n - 1:n - 1 + m] < mid) & (both[:, n + 1:n + 1 + m] < mid)
    for k in range(2, n + 1):
        swing &= (both[:, n - k:n - k + m] < mid) & (both[:, n + k:n + k + m] < mid)
    return (swing[0].nonzero()[0] + n).tolist(), (swing[1].nonzero()[0] + n).tolist()


def _last_swings(points: list[int], n: int, first: np.ndarray, last: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the last of the swing points (indices in ascending order, of n candles) in
    [first, last] (-1: none), and how many there are."""
    if len(first) == 1:  # a view's row: the points of its window alone
        lo, hi = max(int(first[0]), 0), min(int(last[0]) + 1, n)
        inside = [k for k in points if lo <= k < hi]
        return np.array([inside[-1] if inside else -1]), np.array([len(inside)])
    flags = np.zeros(n, bool)
    flags[points] = True
    latest = np.maximum.accumulate(np.where(flags, np.arange(n), -1))
    counts = np.concatenate([[0], np.cumsum(flags)])
    end, start = np.clip(last + 1, 0, n), np.clip(first, 0, n)
    found = latest[np.maximum(end - 1, 0)] if n else np.full(len(end), -1)
    found = np.where((end > 0) & (found >= first), found, -1)
    return found, np.maximum(counts[end] - counts[start], 0)


def break_of_structure(view: MarketView, p: BreakParams) -> Signal:
    """The latest close breaks the last confirmed swing high (long) or swing low (short).

    Read on the bars given (1 h here; a lower timeframe feed makes it faster)."""
    return break_of_structure_rows(Frame.of(view, last=p.lookback), p).signal(0)


def break_of_structure_rows(f: Frame, p: BreakParams) -> Rows:
    """A bar is a swing point of a row's window when its n neighbours each side are in the
    window and below (above) it — the same bars whatever else the history holds, so each
    bar's flag is read once over all the candles."""
    c, n = f.candles, p.pivot
    highs, lows = swing_points(c.high, c.low, n)
    first, last = f.bars - p.lookback + n, f.bars - 2 - n  # the window: bars[-lookback:-1]
    hi_at, hi_count = _last_swings(highs, len(c), first, last)
    lo_at, lo_count = _last_swings(lows, len(c), first, last)
    return Rows({"bars": f.bars, "close": at(c.close, f.bars), "prev": at(c.close, f.bars, 2),
                 "high": at(c.high, f.bars), "low": at(c.low, f.bars),
                 "level_hi": at(c.high, hi_at + 1), "level_lo": at(c.low, lo_at + 1),
                 "hi_count": hi_count, "lo_count": lo_count},
                lambda cols, i: _break(cols, i, p))


def _break(cols, i: int, p: BreakParams) -> Signal:
    name = "break_of_structure"
    bars = int(cols["bars"][i])
    if bars < p.lookback:
        return Signal.abstain(name, f"needs {p.lookback} bars, have {bars}")
    close, prev = float(cols["close"][i]), float(cols["prev"][i])
    has_hi, has_lo = cols["hi_count"][i] > 0, cols["lo_count"][i] > 0
    if has_hi:
        level = float(cols["level_hi"][i])
        if close > level >= prev:
            return Signal(name, Direction.LONG, 0.6, {"swing_high": level},
                          invalidation=float(cols["level_lo"][i] if has_lo else cols["low"][i]))
    if has_lo:
        level = float(cols["level_lo"][i])
        if close < level <= prev:
            return Signal(name, Direction.SHORT, 0.6, {"swing_low": level},
                          invalidation=float(cols["level_hi"][i] if has_hi
                                             else cols["high"][i]))
    return Signal.flat(name, swing_highs=int(cols["hi_count"][i]),
                       swing_lows=int(cols["lo_count"][i]))


class VolumeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    multiple: float = Field(default=3.0, gt=0)
    mean_bars: int = Field(default=20, ge=2)


def volume_confirmation(view: MarketView, p: VolumeParams) -> Signal:
    """The trigger candle's volume ≥ 3× its 20-bar mean; direction is the candle's."""
    return volume_confirmation_rows(Frame.of(view), p).signal(0)


def volume_confirmation_rows(f: Frame, p: VolumeParams) -> Rows:
    c = f.candles
    return Rows({"bars": f.bars, "volume": at(c.volume, f.bars),
                 "mean": windows(c.volume, f.bars - 1, p.mean_bars).mean(axis=1),
                 "up": at(c.close, f.bars) >= at(c.open, f.bars)},
                lambda cols, i: _volume(cols, i, p))


def _volume(cols, i: int, p: VolumeParams) -> Signal:
    name = "volume_confirmation"
    bars = int(cols["bars"][i])
    if bars < p.mean_bars + 1:
        return Signal.abstain(name, f"needs {p.mean_bars + 1} bars, have {bars}")
    mean = float(cols["mean"][i])
    ratio = float(cols["volume"][i]) / mean if mean > 0 else 0.0
    reasons = {"volume_ratio": round(ratio, 4)}
    if ratio < p.multiple:
        return Signal.flat(name, **reasons)
    d = Direction.LONG if cols["up"][i] else Direction.SHORT
    return Signal(name, d, min(ratio / (2 * p.multiple), 1.0), reasons)
