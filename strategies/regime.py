"""Market regime: trending, volatile, vacuum or ranging (SPEC §2)."""

from __future__ import annotations

import math
from bisect import bisect_left, insort

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from strategies.frame import Frame, Rows, at
from strategies.series import quantile, sorted_quantile
from strategies.types import Direction, MarketView, Signal

TRENDING, VOLATILE, VACUUM, RANGING = "trending", "volatile", "vacuum", "ranging"


class RegimeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    adx_trending: float = Field(default=30.0, gt=0)
    vol_lookback_bars: int = Field(default=90 * 24, ge=20)
    vol_quantile: float = Field(default=0.8, gt=0, lt=1)
    oi_lookback_bars: int = Field(default=30 * 24, ge=2)
    oi_near_low: float = Field(default=0.02, ge=0)  # within 2 % of the 30-day low
    vacuum_funding: float = Field(default=0.0001, ge=0)


def atr_quantiles(atr: np.ndarray, ends: np.ndarray, lookback: int, q: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the quantile q of atr[end - lookback:end] (NaN left out) and how many values
    it had. One row gathers its window; many rows (ends rising) carry one window in order
    from row to row — the values that left it out, those that came in — bit for bit the
    same quantile (sorted_quantile)."""
    cut, counted = np.full(len(ends), np.nan), np.zeros(len(ends), np.int64)
    if len(ends) == 1:
        window = atr[max(0, int(ends[0]) - lookback):int(ends[0])]
        window = window[~np.isnan(window)]
        cut[0], counted[0] = quantile(window, q), len(window)
        return cut, counted
    ordered: list[float] = []
    lo = hi = 0  # the window held: atr[lo:hi]
    values = atr.tolist()
    for r in np.argsort(ends, kind="stable").tolist():
        end = int(ends[r])
        start = max(0, end - lookback)
        if start >= hi or end < hi:  # no overlap, or backwards: start over
            ordered = sorted(v for v in values[start:end] if not math.isnan(v))
        else:
            for v in values[lo:start]:
                if not math.isnan(v):
                    del ordered[bisect_left(ordered, v)]
            for v in values[hi:end]:
                if not math.isnan(v):
                    insort(ordered, v)
        lo, hi = start, end
        cut[r], counted[r] = sorted_quantile(ordered, q), len(ordered)
    return cut, counted


def oi_lows(oi: np.ndarray, known: np.ndarray, lookback: int) -> np.ndarray:
    """Per row: the lowest of the last `lookback` open interest points known (NaN if one
    is NaN, as min gives)."""
    if len(oi) == 0:
        return np.full(len(known), np.nan)
    if len(known) == 1:  # a view's row: its window's low
        k = int(known[0])
        return np.array([oi[max(0, k - lookback):k].min() if k > 0 else np.nan])
    lows = np.minimum.accumulate(oi)  # fewer than lookback points: all of them
    if len(oi) >= lookback:
        lows[lookback - 1:] = sliding_window_view(oi, lookback).min(axis=1)
    return np.where(known > 0, lows[np.maximum(known - 1, 0)], np.nan)


def regime(view: MarketView, p: RegimeParams) -> Signal:
    """Direction carries the trend's side when trending; strength is ADX / 100."""
    return regime_rows(Frame.of(view), p).signal(0)


def regime_rows(f: Frame, p: RegimeParams) -> Rows:
    c = f.candles
    cols = {"bars": f.bars, "adx": at(c.adx, f.bars), "atr": at(c.atr, f.bars),
            "drift": at(c.close, f.bars) - at(c.close, f.bars, np.minimum(f.bars, 24))}
    cols["cut"], cols["counted"] = atr_quantiles(c.atr, f.bars, p.vol_lookback_bars,
                                                 p.vol_quantile)
    oi, funding = f.open_interest.get(f.venue), f.funding.get(f.venue)
    if oi is not None and funding is not None:
        k = f.oi_known(f.venue)
        cols["vacuum_read"] = (k >= 2) & (f.funding_known(f.venue) > 0)
        cols["oi"], cols["oi_low"] = at(oi.value, k), oi_lows(oi.value, k, p.oi_lookback_bars)
        cols["funding"] = at(funding.value, f.funding_known(f.venue))
    return Rows(cols, lambda cols, i: _regime(cols, i, p))


def _regime(cols, i: int, p: RegimeParams) -> Signal:
    name = "regime"
    if cols["bars"][i] == 0 or math.isnan(cols["adx"][i]):
        return Signal.abstain(name, "not enough bars for ADX", bars=int(cols["bars"][i]))
    adx, atr = float(cols["adx"][i]), float(cols["atr"][i])
    reasons: dict = {"adx": round(adx, 3), "atr": atr}
    if "vacuum_read" in cols and cols["vacuum_read"][i]:
        low, last = float(cols["oi_low"][i]), float(cols["oi"][i])
        near_low = low > 0 and last <= low * (1 + p.oi_near_low)
        quiet = abs(float(cols["funding"][i])) < p.vacuum_funding
        reasons["oi_vs_low"] = last / low if low > 0 else None
        if near_low and quiet:
            return Signal(name, Direction.FLAT, 0.0, {**reasons, "regime": VACUUM})
    if adx > p.adx_trending:
        d = Direction.LONG if cols["drift"][i] > 0 else Direction.SHORT
        return Signal(name, d, min(adx / 100, 1.0), {**reasons, "regime": TRENDING})
    cut, counted = float(cols["cut"][i]), int(cols["counted"][i])
    reasons["atr_q80"] = cut
    if counted >= 20 and atr > cut:
        return Signal(name, Direction.FLAT, 0.0, {**reasons, "regime": VOLATILE})
    return Signal(name, Direction.FLAT, 0.0, {**reasons, "regime": RANGING})


def regime_name(sig: Signal) -> str:
    return str(sig.reasons.get("regime", RANGING))
