"""Taker flow: cumulative volume delta and its divergence from price."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.frame import Frame, Rows, at, windows
from strategies.types import Candles, Direction, MarketView, Signal


class CVDParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window: int = Field(default=48, ge=4)  # bars compared
    recent: int = Field(default=12, ge=1)  # the latest swing is in these bars


def cvd(c: Candles) -> np.ndarray:
    """Cumulative (taker buy − taker sell) volume over the bars given."""
    buy = c.taker_buy
    return np.cumsum(buy - (c.volume - buy))


def cvd_divergence(view: MarketView, p: CVDParams) -> Signal:
    """Price higher high with CVD lower high → bearish; lower low with CVD higher low → bullish."""
    return cvd_divergence_rows(Frame.of(view), p).signal(0)


def cvd_divergence_rows(f: Frame, p: CVDParams) -> Rows:
    """Each row's CVD over its last `window` bars, counted from the window's first bar."""
    c, n = f.candles, p.window
    buy = c.taker_buy
    if buy is None:
        return Rows({"bars": f.bars}, lambda cols, i: Signal.abstain(
            "cvd_divergence", "no taker buy volume in the feed"))
    flow = windows(buy - (c.volume - buy), f.bars, n).cumsum(axis=1)
    hi, lo = windows(c.high, f.bars, n), windows(c.low, f.bars, n)
    cut = n - p.recent
    return Rows({"bars": f.bars, "taker": at(buy, f.bars), "cvd": flow[:, -1].copy(),
                 "hi_new": hi[:, cut:].max(axis=1), "hi_old": hi[:, :cut].max(axis=1),
                 "lo_new": lo[:, cut:].min(axis=1), "lo_old": lo[:, :cut].min(axis=1),
                 "flow_hi_new": flow[:, cut:].max(axis=1), "flow_hi_old": flow[:, :cut].max(axis=1),
                 "flow_lo_new": flow[:, cut:].min(axis=1), "flow_lo_old": flow[:, :cut].min(axis=1),
                 "flow_range": np.ptp(flow, axis=1)}, lambda cols, i: _cvd(cols, i, p))


def _cvd(cols, i: int, p: CVDParams) -> Signal:
    name = "cvd_divergence"
    bars = int(cols["bars"][i])
    if bars == 0 or np.isnan(cols["taker"][i]):
        return Signal.abstain(name, "no taker buy volume in the feed")
    if bars < p.window:
        return Signal.abstain(name, f"needs {p.window} bars, have {bars}")
    v = {k: float(x[i]) for k, x in cols.items()}
    reasons = {"cvd": v["cvd"]}
    if v["hi_new"] > v["hi_old"] and v["flow_hi_new"] < v["flow_hi_old"]:
        size = (v["flow_hi_old"] - v["flow_hi_new"]) / (v["flow_range"] or 1.0)
        return Signal(name, Direction.SHORT, float(min(0.3 + size, 1.0)),
                      {**reasons, "price": "higher high", "cvd_shape": "lower high"},
                      invalidation=v["hi_new"])
    if v["lo_new"] < v["lo_old"] and v["flow_lo_new"] > v["flow_lo_old"]:
        size = (v["flow_lo_new"] - v["flow_lo_old"]) / (v["flow_range"] or 1.0)
        return Signal(name, Direction.LONG, float(min(0.3 + size, 1.0)),
                      {**reasons, "price": "lower low", "cvd_shape": "higher low"},
                      invalidation=v["lo_new"])
    return Signal.flat(name, **reasons)
