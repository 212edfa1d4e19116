"""The funding fade: crowded funding + a swing-failure trigger → a plan against the crowd."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from strategies.funding import (
    FundingExtremeParams,
    FundingZScoreParams,
    funding_extreme,
    funding_zscore,
)
from strategies.indicators import vwap
from strategies.regime import VOLATILE, RegimeParams, regime, regime_name
from strategies.structure import SwingFailureParams, swing_failure
from strategies.types import Direction, MarketView, Signal, Target, TradePlan


class FadeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    use_zscore: bool = True  # z-score extreme may stand in for the cross-exchange extreme
    stop_buffer_atr: float = Field(default=0.1, ge=0)
    min_stop_atr: float = Field(default=1.0, gt=0)
    max_stop_atr: float = Field(default=2.0, gt=0)
    vwap_bars: int = Field(default=24, ge=1)
    fractions: tuple[float, float, float] = (0.4, 0.3, 0.3)


@dataclass(frozen=True, slots=True)
class SignalParams:
    extreme: FundingExtremeParams = field(default_factory=FundingExtremeParams)
    zscore: FundingZScoreParams = field(default_factory=FundingZScoreParams)
    regime: RegimeParams = field(default_factory=RegimeParams)
    sfp: SwingFailureParams = field(default_factory=SwingFailureParams)


@dataclass(frozen=True, slots=True)
class Reading:
    """Every signal read on this bar, and the plan they add up to (or None)."""

    signals: tuple[Signal, ...]
    plan: TradePlan | None


def read_signals(view: MarketView, sp: SignalParams) -> tuple[Signal, ...]:
    return (
        funding_extreme(view, sp.extreme),
        funding_zscore(view, sp.zscore),
        regime(view, sp.regime),
        swing_failure(view.candles, sp.sfp),
    )


def funding_fade(view: MarketView, sp: SignalParams, p: FadeParams) -> Reading:
    signals = read_signals(view, sp)
    extreme, zscore, reg, sfp = signals
    bias = extreme.direction
    if bias == Direction.FLAT and p.use_zscore:
        bias = zscore.direction
    if bias == Direction.FLAT or sfp.direction != bias or sfp.invalidation is None:
        return Reading(signals, None)
    c = view.candles
    atr = float(c.atr[-1])
    if not math.isfinite(atr) or atr <= 0:
        return Reading(signals, None)
    entry = float(c.close[-1])
    d = int(bias)
    regime_now = regime_name(reg)
    structure = abs(entry - sfp.invalidation) + p.stop_buffer_atr * atr
    if regime_now == VOLATILE:
        dist = atr
    else:
        dist = min(max(structure, p.min_stop_atr * atr), p.max_stop_atr * atr)
    stop = entry - d * dist
    t1 = entry + d * dist
    mean_price = vwap(c.high[-p.vwap_bars:], c.low[-p.vwap_bars:],
                      c.close[-p.vwap_bars:], c.volume[-p.vwap_bars:])
    t2 = mean_price if _beyond(mean_price, t1, d, 0.25 * dist) else entry + 2 * d * dist
    lookback = sp.sfp.lookback
    extreme_px = float(c.low[-lookback:].min() if d > 0 else c.high[-lookback:].max())
    opposite = float(c.high[-lookback:].max() if d > 0 else c.low[-lookback:].min())
    t3 = opposite if _beyond(opposite, t2, d, 0.25 * dist) else t2 + d * dist
    plan = TradePlan(
        strategy="funding_fade", symbol=view.symbol, direction=bias, entry=entry, stop=stop,
        targets=tuple(Target(px, f) for px, f in zip((t1, t2, t3), p.fractions)),
        regime=regime_now, atr=atr, created_at=view.now, is_fade=True,
        reasons={s.module: dict(s.reasons) for s in signals}
        | {"trigger_extreme": extreme_px, "vwap": mean_price},
    )
    plan.check()
    return Reading(signals, plan)


def _beyond(price: float, ref: float, d: int, margin: float) -> bool:
    return math.isfinite(price) and (price - ref) * d > margin
