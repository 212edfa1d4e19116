"""Structure triggers a fade waits for: the swing failure pattern."""

from __future__ import annotations

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
