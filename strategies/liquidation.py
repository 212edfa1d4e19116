"""Liquidation signals (SPEC §2): the map's reading, the magnet that trades price's pull
toward a dense cluster, and the cascade's climax. The map itself is liquidation_map.py."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.liquidation_map import Cluster, LiquidationMapParams, map_view
from strategies.types import Direction, MarketView, Signal


def liquidation_map(view: MarketView, p: LiquidationMapParams) -> Signal:
    name = "liquidation_map"
    if not view.open_interest.get(view.venue) or len(view.open_interest[view.venue]) < 2:
        return Signal.abstain(name, f"no open interest history for {view.venue}")
    found = map_view(view, p)
    top = [{"price": round(c.price, 8), "notional": round(c.notional, 2), "side": c.side,
            "dense": c.dense} for c in found[:p.top]]
    return Signal.flat(name, clusters=top, levels=len(found))


class MagnetParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_distance: float = Field(default=0.03, gt=0)  # the cluster was 3–5 % away ...
    max_distance: float = Field(default=0.05, gt=0)
    near: float = Field(default=0.01, gt=0)  # ... and price has come within 1 % of it
    approach_bars: int = Field(default=48, ge=1)
    beyond: float = Field(default=0.002, ge=0)  # target just beyond the cluster
    stop_atr: float = Field(default=0.75, gt=0)  # a tight stop


def liquidation_magnet(view: MarketView, found: list[Cluster], p: MagnetParams) -> Signal:
    """Price drawn toward a dense cluster it approached from 3–5 % away: trade into it."""
    name = "liquidation_magnet"
    c = view.candles
    if not found:
        return Signal.abstain(name, "no liquidation map (needs open interest)")
    if len(c) < p.approach_bars + 1:
        return Signal.abstain(name, f"needs {p.approach_bars + 1} bars")
    price = float(c.close[-1])
    past = c.close[-p.approach_bars - 1:-1]
    for cl in (x for x in found if x.dense):
        dist = abs(cl.price - price) / price
        if dist > p.near or dist == 0:
            continue
        was = np.abs(cl.price - past) / past
        if not ((was >= p.min_distance) & (was <= p.max_distance)).any():
            continue
        d = Direction.LONG if cl.price > price else Direction.SHORT
        target = cl.price * (1 + int(d) * p.beyond)
        return Signal(name, d, min(0.5 + cl.notional / (cl.notional + 1e9), 1.0),
                      {"cluster": cl.price, "notional": cl.notional, "side": cl.side,
                       "target": target, "distance": round(dist, 5)},
                      invalidation=price - int(d) * p.stop_atr * float(c.atr[-1]))
    return Signal.flat(name, dense_clusters=sum(1 for x in found if x.dense))


class ClimaxParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    volume_multiple: float = Field(default=5.0, gt=0)
    mean_bars: int = Field(default=24, ge=2)


def cascade_climax(view: MarketView, direction: int, p: ClimaxParams) -> bool:
    """The cascade's end: volume ≥ 5× its trailing mean and a candle reversing the move."""
    c = view.candles
    if len(c) < p.mean_bars + 1:
        return False
    mean = float(c.volume[-p.mean_bars - 1:-1].mean())
    spike = mean > 0 and float(c.volume[-1]) >= p.volume_multiple * mean
    body = float(c.close[-1] - c.open[-1])
    rng = float(c.high[-1] - c.low[-1]) or 1e-12
    if direction > 0:  # riding a squeeze up: a long upper wick / red close reverses it
        reversal = body < 0 or (c.high[-1] - max(c.open[-1], c.close[-1])) / rng > 0.5
    else:
        reversal = body > 0 or (min(c.open[-1], c.close[-1]) - c.low[-1]) / rng > 0.5
    return bool(spike and reversal)
