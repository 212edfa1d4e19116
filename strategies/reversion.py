"""funding_reversion: the funding z-score rule on its own, as the playbook's article trades
it — no structure trigger, a fixed stop a few ATR of a higher timeframe away, out at the
stop or after a fixed hold. Its ATR is read on bars of `atr_hours` built from the 1 h
candles, each known only once it has closed."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import HOUR_MS, Direction, MarketView, Signal, TradePlan


class FundingReversionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stop_atr: float = Field(default=3.0, gt=0)  # the stop, in ATRs of the timeframe below
    atr_hours: int = Field(default=4, ge=1, le=24)  # the ATR's bars: 4 h by default
    atr_period: int = Field(default=14, ge=2)  # Wilder's ATR over this many of them
    max_hold_hours: float = Field(default=77.0, gt=0)  # out at market after this long


def closed_bars(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                hours: int, now: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High, low and close of the `hours` bars (aligned to UTC midnight) the 1 h candles
    make, those that have closed by `now` only."""
    if len(ts) == 0:
        return np.empty(0), np.empty(0), np.empty(0)
    span = hours * HOUR_MS
    bucket = ts // span
    starts = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))
    ends = np.append(starts[1:], len(ts)) - 1
    done = (bucket[starts] + 1) * span <= now
    return (np.maximum.reduceat(high, starts)[done], np.minimum.reduceat(low, starts)[done],
            close[ends][done])


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> float:
    """The last value of Wilder's ATR: true ranges (the first bar's: high − low), their mean
    over the first `period`, then atr = (atr·(period − 1) + tr) / period."""
    if len(close) < period:
        return math.nan
    prev = np.concatenate([[close[0]], close[:-1]])
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    tr[0] = high[0] - low[0]
    atr = float(tr[:period].mean())
    for x in tr[period:].tolist():
        atr = (atr * (period - 1) + x) / period
    return atr


def funding_reversion(view: MarketView, zscore: Signal, regime: str,
                      p: FundingReversionParams) -> TradePlan | None:
    """Short when the funding z-score is above its threshold, long below the negative one:
    entry at the close, stop `stop_atr` ATRs away, no targets, out after `max_hold_hours`."""
    if zscore.direction == Direction.FLAT:
        return None
    c = view.candles
    atr = wilder_atr(*closed_bars(c.ts, c.high, c.low, c.close, p.atr_hours, view.now),
                     p.atr_period)
    if not math.isfinite(atr) or atr <= 0:
        return None
    d = int(zscore.direction)
    entry = float(c.close[-1])
    plan = TradePlan("funding_reversion", view.symbol, zscore.direction, entry,
                     entry - d * p.stop_atr * atr, (), regime, atr, view.now, is_fade=True,
                     reasons={"funding_zscore": dict(zscore.reasons),
                              f"atr_{p.atr_hours}h": atr},
                     max_hold_hours=p.max_hold_hours, fixed_stop=True)
    plan.check()
    return plan
