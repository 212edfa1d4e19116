"""Market regime: trending, volatile, vacuum or ranging (SPEC §2)."""

from __future__ import annotations

import math
from bisect import bisect_left, insort

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.series import quantile, sorted_quantile
from strategies.types import Candles, Direction, MarketView, Signal

TRENDING, VOLATILE, VACUUM, RANGING = "trending", "volatile", "vacuum", "ranging"


class RegimeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    adx_trending: float = Field(default=30.0, gt=0)
    vol_lookback_bars: int = Field(default=90 * 24, ge=20)
    vol_quantile: float = Field(default=0.8, gt=0, lt=1)
    oi_lookback_bars: int = Field(default=30 * 24, ge=2)
    oi_near_low: float = Field(default=0.02, ge=0)  # within 2 % of the 30-day low
    vacuum_funding: float = Field(default=0.0001, ge=0)


class AtrWindow:
    """regime's window of ATRs (the last vol_lookback_bars, NaN left out), kept in order
    from bar to bar: one bar later it is the same values less the one that left the window,
    plus the new bar's. Anything else (a first view, a skipped bar, other parameters, a
    window longer than the history kept) is gathered whole, and put in order only if the
    next bar follows it (a lone read, as a decision alone makes, costs a partial sort)."""

    __slots__ = ("bars", "gathered", "last_ts", "lookback", "ordered")

    def __init__(self) -> None:
        self.lookback = self.bars = 0
        self.last_ts = None
        self.gathered = np.empty(0)  # the window gathered whole, not yet in order
        self.ordered: list[float] | None = None

    def quantile(self, c: Candles, lookback: int, q: float) -> tuple[float, int]:
        """(quantile of the window at q, values in it) — as regime computes them whole."""
        n, atr = len(c), c.atr
        follows = (self.lookback == lookback and n >= 2 and c.ts[-2] == self.last_ts
                   and (n > lookback or n == self.bars + 1))
        self.lookback, self.bars, self.last_ts = lookback, n, c.ts[-1]
        if not follows:
            window = atr[-lookback:]
            self.gathered, self.ordered = window[~np.isnan(window)], None
            return quantile(self.gathered, q), len(self.gathered)
        if self.ordered is None:
            self.ordered = np.sort(self.gathered).tolist()
        if n > lookback and not math.isnan(gone := float(atr[-lookback - 1])):
            del self.ordered[bisect_left(self.ordered, gone)]
        if not math.isnan(new := float(atr[-1])):
            insort(self.ordered, new)
        return sorted_quantile(self.ordered, q), len(self.ordered)


def regime(view: MarketView, p: RegimeParams, window: AtrWindow | None = None) -> Signal:
    """Direction carries the trend's side when trending; strength is ADX / 100. `window`
    carries the ATR window from the previous bar (same answer, less work)."""
    name = "regime"
    c = view.candles
    if len(c) == 0 or math.isnan(c.adx[-1]):
        return Signal.abstain(name, "not enough bars for ADX", bars=len(c))
    adx, atr = float(c.adx[-1]), float(c.atr[-1])
    reasons: dict = {"adx": round(adx, 3), "atr": atr}
    # the carried window follows every bar (one it skips is gathered whole again)
    kept = None if window is None else window.quantile(c, p.vol_lookback_bars, p.vol_quantile)
    if _vacuum(view, p, reasons):
        return Signal(name, Direction.FLAT, 0.0, {**reasons, "regime": VACUUM})
    if adx > p.adx_trending:
        lookback = min(len(c), 24)
        drift = c.close[-1] - c.close[-lookback]
        d = Direction.LONG if drift > 0 else Direction.SHORT
        return Signal(name, d, min(adx / 100, 1.0), {**reasons, "regime": TRENDING})
    if kept is None:  # no window carried: one gathered whole for this read
        kept = AtrWindow().quantile(c, p.vol_lookback_bars, p.vol_quantile)
    cut, counted = kept
    reasons["atr_q80"] = cut
    if counted >= 20 and atr > cut:
        return Signal(name, Direction.FLAT, 0.0, {**reasons, "regime": VOLATILE})
    return Signal(name, Direction.FLAT, 0.0, {**reasons, "regime": RANGING})


def _vacuum(view: MarketView, p: RegimeParams, reasons: dict) -> bool:
    oi = view.open_interest.get(view.venue)
    funding = view.funding.get(view.venue)
    if oi is None or len(oi) < 2 or funding is None or len(funding) == 0:
        return False
    window = oi.value[-p.oi_lookback_bars:]
    low = float(window.min())
    near_low = low > 0 and float(oi.value[-1]) <= low * (1 + p.oi_near_low)
    quiet = abs(float(funding.value[-1])) < p.vacuum_funding
    reasons["oi_vs_low"] = float(oi.value[-1]) / low if low > 0 else None
    return near_low and quiet


def regime_name(sig: Signal) -> str:
    return str(sig.reasons.get("regime", RANGING))
