"""From a direction and an invalidation level to a full TradePlan (SPEC §3)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from strategies.indicators import point_of_control, vwap
from strategies.liquidation_map import Cluster
from strategies.regime import VOLATILE
from strategies.types import Direction, MarketView, Target, TradePlan


class PlanParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stop_buffer_atr: float = Field(default=0.1, ge=0)
    min_stop_atr: float = Field(default=1.0, gt=0)
    max_stop_atr: float = Field(default=2.0, gt=0)
    vwap_bars: int = Field(default=24, ge=1)
    profile_bars: int = Field(default=72, ge=2)
    extreme_bars: int = Field(default=24, ge=2)
    fractions: tuple[float, float, float] = (0.4, 0.3, 0.3)

    @model_validator(mode="after")
    def _consistent(self) -> PlanParams:
        if any(not 0 < f <= 1 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-9:
            raise ValueError(f"fractions {list(self.fractions)} must each be in (0, 1] and "
                             "add up to 1")
        if self.min_stop_atr > self.max_stop_atr:
            raise ValueError(f"min_stop_atr {self.min_stop_atr} is above max_stop_atr "
                             f"{self.max_stop_atr}")
        return self


def build_plan(strategy: str, view: MarketView, direction: Direction, invalidation: float,
               regime: str, reasons: Mapping[str, Any], found: Sequence[Cluster],
               p: PlanParams, is_fade: bool = True, stop_atr: float | None = None,
               goal: float | None = None) -> TradePlan | None:
    """Entry at the last close; stop at the structure plus a buffer within 1–2 ATR (1 ATR when
    volatile, `stop_atr` when given); T1 = 1R, T2 = the nearest of VWAP, point of control and
    the next dense liquidation cluster beyond T1, T3 = the next level beyond T2 (or `goal`)."""
    c = view.candles
    atr = float(c.atr[-1]) if len(c) else math.nan
    if not math.isfinite(atr) or atr <= 0 or direction == Direction.FLAT:
        return None
    d = int(direction)
    entry = float(c.close[-1])
    if stop_atr is not None:
        dist = stop_atr * atr
    elif regime == VOLATILE:
        dist = atr
    else:
        structure = abs(entry - invalidation) + p.stop_buffer_atr * atr
        dist = min(max(structure, p.min_stop_atr * atr), p.max_stop_atr * atr)
    t1 = entry + d * dist
    n = p.vwap_bars
    levels = {
        "vwap": vwap(c.high[-n:], c.low[-n:], c.close[-n:], c.volume[-n:]),
        "poc": point_of_control(c.high[-p.profile_bars:], c.low[-p.profile_bars:],
                                c.close[-p.profile_bars:], c.volume[-p.profile_bars:]),
        "opposite_extreme": float(c.high[-p.extreme_bars:].max() if d > 0
                                  else c.low[-p.extreme_bars:].min()),
    }
    for i, cl in enumerate(sorted((x for x in found if x.dense),
                                  key=lambda x: abs(x.price - entry))):
        levels[f"cluster_{i}"] = cl.price
    if goal is not None:
        levels = {"goal": goal, "goal_beyond": goal * (1 + d * 0.002)}
    ahead = sorted(((px - entry) * d, name, px) for name, px in levels.items()
                   if math.isfinite(px) and (px - t1) * d > 0.25 * dist)
    t2_name, t2 = (ahead[0][1], ahead[0][2]) if ahead else ("2R", entry + 2 * d * dist)
    beyond = [(name, px) for _, name, px in ahead if (px - t2) * d > 0.25 * dist]
    t3_name, t3 = beyond[0] if beyond else ("T2+1R", t2 + d * dist)
    plan = TradePlan(
        strategy=strategy, symbol=view.symbol, direction=direction, entry=entry,
        stop=entry - d * dist,
        targets=tuple(Target(px, f) for px, f in zip((t1, t2, t3), p.fractions)),
        regime=regime, atr=atr, created_at=view.now, is_fade=is_fade,
        reasons={**reasons, "targets": {"t1": "1R", "t2": t2_name, "t3": t3_name}},
    )
    plan.check()
    return plan
