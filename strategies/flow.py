"""Taker flow: cumulative volume delta and its divergence from price."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import Candles, Direction, Signal


class CVDParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window: int = Field(default=48, ge=4)  # bars compared
    recent: int = Field(default=12, ge=1)  # the latest swing is in these bars


def cvd(c: Candles) -> np.ndarray:
    """Cumulative (taker buy − taker sell) volume."""
    buy = c.taker_buy
    return np.cumsum(buy - (c.volume - buy))


def cvd_divergence(c: Candles, p: CVDParams) -> Signal:
    """Price higher high with CVD lower high → bearish; lower low with CVD higher low → bullish."""
    name = "cvd_divergence"
    if c.taker_buy is None:
        return Signal.abstain(name, "no taker buy volume in the feed")
    if len(c) < p.window:
        return Signal.abstain(name, f"needs {p.window} bars, have {len(c)}")
    flow = cvd(c)[-p.window:]
    hi, lo = c.high[-p.window:], c.low[-p.window:]
    cut = p.window - p.recent
    reasons = {"cvd": float(flow[-1])}
    if hi[cut:].max() > hi[:cut].max() and flow[cut:].max() < flow[:cut].max():
        size = (flow[:cut].max() - flow[cut:].max()) / (np.ptp(flow) or 1.0)
        return Signal(name, Direction.SHORT, float(min(0.3 + size, 1.0)),
                      {**reasons, "price": "higher high", "cvd_shape": "lower high"},
                      invalidation=float(hi[cut:].max()))
    if lo[cut:].min() < lo[:cut].min() and flow[cut:].min() > flow[:cut].min():
        size = (flow[cut:].min() - flow[:cut].min()) / (np.ptp(flow) or 1.0)
        return Signal(name, Direction.LONG, float(min(0.3 + size, 1.0)),
                      {**reasons, "price": "lower low", "cvd_shape": "higher low"},
                      invalidation=float(lo[cut:].min()))
    return Signal.flat(name, **reasons)
