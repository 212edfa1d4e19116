"""Structure triggers a fade waits for: the swing failure pattern."""

from __future__ import annotations

import operator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import Candles, Direction, Signal


class SwingFailureParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    lookback: int = Field(default=24, ge=3)  # bars that define the prior swing


def swing_failure(c: Candles, p: SwingFailureParams) -> Signal:
    """Last bar sweeps beyond the prior swing high/low and closes back inside it."""
    name = "swing_failure"
    if len(c) < p.lookback + 1:
        return Signal.abstain(name, f"needs {p.lookback + 1} bars, have {len(c)}")
    hi, lo, close = float(c.high[-1]), float(c.low[-1]), float(c.close[-1])
    swing_high = float(c.high[-p.lookback - 1:-1].max())
    swing_low = float(c.low[-p.lookback - 1:-1].min())
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


def spring(c: Candles, p: SpringParams) -> Signal:
    """A sweep below the range low reclaimed within a few bars (long); the upthrust mirrors it."""
    name = "spring"
    k = p.reclaim_bars
    if len(c) < p.lookback + k:
        return Signal.abstain(name, f"needs {p.lookback + k} bars, have {len(c)}")
    rng_hi = float(c.high[-p.lookback - k:-k].max())
    rng_lo = float(c.low[-p.lookback - k:-k].min())
    close, up_bar = float(c.close[-1]), c.close[-1] > c.open[-1]
    sweep_lo, sweep_hi = float(c.low[-k:].min()), float(c.high[-k:].max())
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


class SwingTrack:
    """break_of_structure's swing points carried from bar to bar. A bar's swing status
    depends only on the n bars each side of it, and bars never change once closed: one bar
    later the window's swing points are the same bars one place to the left, less the one
    that lost its left neighbours, plus the bar that has just gained its right ones.
    Anything else (a first view, a gap, other parameters) is computed whole."""

    __slots__ = ("highs", "key", "last_ts", "lows")

    def __init__(self) -> None:
        self.key: tuple[int, int] | None = None
        self.last_ts = None
        self.highs: list[int] = []
        self.lows: list[int] = []

    def points(self, hi: np.ndarray, lo: np.ndarray, ts: np.ndarray, p: BreakParams
               ) -> tuple[list[int], list[int]]:
        """swing_points(hi, lo, p.pivot) of the window ending before the bar at ts[-1]."""
        n, key = p.pivot, (p.pivot, p.lookback)
        j = len(hi) - 1 - n  # the bar confirmed now
        if j >= n and self.key == key and len(ts) > p.lookback and ts[-2] == self.last_ts:
            highs = _carried(self.highs, hi, j, n, operator.lt)
            lows = _carried(self.lows, lo, j, n, operator.gt)
        else:
            highs, lows = swing_points(hi, lo, n)
        self.key, self.last_ts, self.highs, self.lows = key, ts[-1], highs, lows
        return highs, lows


def _carried(points: list[int], x: np.ndarray, j: int, n: int, beaten) -> list[int]:
    """The points one bar later: each one place left (those keeping n bars on their left),
    and bar j when every bar beside it is `beaten` by it (lt: a high; gt: a low)."""
    side = x[j - n:j + n + 1].tolist()
    mid = side.pop(n)
    out = [i - 1 for i in points if i > n]
    if all(beaten(v, mid) for v in side):
        out.append(j)
    return out


def break_of_structure(c: Candles, p: BreakParams, track: SwingTrack | None = None) -> Signal:
    """The latest close breaks the last confirmed swing high (long) or swing low (short).

    Read on the bars given (1 h here; a lower timeframe feed makes it faster). `track`
    carries the swing points from the previous bar (same answer, less work)."""
    name = "break_of_structure"
    if len(c) < p.lookback:
        return Signal.abstain(name, f"needs {p.lookback} bars, have {len(c)}")
    hi, lo = c.high[-p.lookback:-1], c.low[-p.lookback:-1]
    highs, lows = (swing_points(hi, lo, p.pivot) if track is None
                   else track.points(hi, lo, c.ts, p))
    close, prev = float(c.close[-1]), float(c.close[-2])
    if highs:
        level = float(hi[highs[-1]])
        if close > level >= prev:
            return Signal(name, Direction.LONG, 0.6, {"swing_high": level},
                          invalidation=float(lo[lows[-1]]) if lows else float(c.low[-1]))
    if lows:
        level = float(lo[lows[-1]])
        if close < level <= prev:
            return Signal(name, Direction.SHORT, 0.6, {"swing_low": level},
                          invalidation=float(hi[highs[-1]]) if highs else float(c.high[-1]))
    return Signal.flat(name, swing_highs=len(highs), swing_lows=len(lows))


class VolumeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    multiple: float = Field(default=3.0, gt=0)
    mean_bars: int = Field(default=20, ge=2)


def volume_confirmation(c: Candles, p: VolumeParams) -> Signal:
    """The trigger candle's volume ≥ 3× its 20-bar mean; direction is the candle's."""
    name = "volume_confirmation"
    if len(c) < p.mean_bars + 1:
        return Signal.abstain(name, f"needs {p.mean_bars + 1} bars, have {len(c)}")
    mean = float(c.volume[-p.mean_bars - 1:-1].mean())
    ratio = float(c.volume[-1]) / mean if mean > 0 else 0.0
    reasons = {"volume_ratio": round(ratio, 4)}
    if ratio < p.multiple:
        return Signal.flat(name, **reasons)
    d = Direction.LONG if c.close[-1] >= c.open[-1] else Direction.SHORT
    return Signal(name, d, min(ratio / (2 * p.multiple), 1.0), reasons)
