"""Open-interest signals: the price/OI regime, OI divergence, OI spikes, trapped traders."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.series import (
    FRESH_HOURS,
    WeightedFunding,
    change,
    price_change,
    values_at,
    venue_oi,
    weighted_funding,
)
from strategies.types import DAY_MS, HOUR_MS, Direction, MarketView, Signal


class OIPriceRegimeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hours: int = Field(default=24, ge=1)
    min_price_move: float = Field(default=0.005, ge=0)
    min_oi_move: float = Field(default=0.01, ge=0)


CASES = {  # (price up, oi up) -> (case, bias, strength)
    (True, True): ("new_longs", Direction.LONG, 0.6),  # continuation
    (True, False): ("short_covering", Direction.FLAT, 0.0),  # a weak rally
    (False, True): ("new_shorts", Direction.SHORT, 0.6),  # continuation
    (False, False): ("long_capitulation", Direction.LONG, 0.3),  # exhaustion
}


def oi_price_regime(view: MarketView, p: OIPriceRegimeParams) -> Signal:
    name = "oi_price_regime"
    oi = venue_oi(view)
    if oi is None:
        return Signal.abstain(name, "no open interest feed")
    dp, doi = price_change(view, p.hours), change(oi, view.now, p.hours)
    if not (math.isfinite(dp) and math.isfinite(doi)):
        return Signal.abstain(name, f"needs {p.hours} h of price and open interest")
    reasons = {"price_change": round(dp, 6), "oi_change": round(doi, 6)}
    if abs(dp) < p.min_price_move or abs(doi) < p.min_oi_move:
        return Signal.flat(name, **reasons, case="unclear")
    case, bias, strength = CASES[(dp > 0, doi > 0)]
    return Signal(name, bias, strength, {**reasons, "case": case})


class OIDivergenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    days: int = Field(default=3, ge=1)  # the divergence must hold over each of these days
    min_ratio: float = Field(default=0.5, gt=0)
    strong_ratio: float = Field(default=1.0, gt=0)
    min_oi_change: float = Field(default=0.08, gt=0)


def divergence_ratio(price_move: float, oi_move: float) -> float:
    """OI moving −Y % against a price move of X %: Y / X (0 when they agree)."""
    if price_move == 0 or price_move * oi_move >= 0:
        return 0.0
    return abs(oi_move) / abs(price_move)


def oi_divergence(view: MarketView, p: OIDivergenceParams) -> Signal:
    """Price and OI moving apart for days: bias against the price move."""
    name = "oi_divergence"
    oi = venue_oi(view)
    if oi is None:
        return Signal.abstain(name, "no open interest feed")
    c = view.candles
    hours = p.days * 24
    if len(c) <= hours or view.now - int(oi.ts[0]) < hours * HOUR_MS:
        return Signal.abstain(name, f"needs {p.days} days of price and open interest")
    dp, doi = price_change(view, hours), change(oi, view.now, hours)
    ratio = divergence_ratio(dp, doi)
    reasons = {"price_change": round(dp, 6), "oi_change": round(doi, 6), "ratio": round(ratio, 4)}
    sustained = all(
        divergence_ratio(price_change(view, 24 * d), change(oi, view.now, 24 * d)) > 0
        for d in range(1, p.days + 1))
    if ratio < p.min_ratio or abs(doi) < p.min_oi_change or not sustained:
        return Signal.flat(name, **reasons, sustained=sustained)
    strength = 1.0 if ratio >= p.strong_ratio else 0.5 + 0.5 * (ratio - p.min_ratio) / (
        p.strong_ratio - p.min_ratio)
    direction = Direction.SHORT if dp > 0 else Direction.LONG
    return Signal(name, direction, round(strength, 4),
                  {**reasons, "strong": ratio >= p.strong_ratio})


class OISpikeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    change_24h: float = Field(default=0.10, gt=0)
    roc_multiple: float = Field(default=3.0, gt=0)
    average_days: int = Field(default=7, ge=1)


def oi_spike(view: MarketView, p: OISpikeParams, weighted: WeightedFunding | None = None
             ) -> Signal:
    """OI up > 10 % in 24 h, or its 24 h change ≥ 3× the 7-day average: fragile positioning."""
    name = "oi_spike"
    oi = venue_oi(view)
    if oi is None:
        return Signal.abstain(name, "no open interest feed")
    now_chg = change(oi, view.now, 24)
    if not math.isfinite(now_chg):
        return Signal.abstain(name, "needs 24 h of open interest")
    # day d's absolute 24 h change, d = 1..average_days: the values d and d + 1 days ago
    at = values_at(oi, view.now - DAY_MS * np.arange(1, p.average_days + 2))
    past = [_abs_change(at[d], at[d - 1]) for d in range(1, p.average_days + 1)]
    past = [x for x in past if math.isfinite(x)]
    avg = float(np.mean(past)) if past else math.nan
    reasons = {"oi_change_24h": round(now_chg, 6), "avg_abs_change_24h": avg}
    spike = now_chg > p.change_24h or (math.isfinite(avg) and avg > 0
                                       and now_chg >= p.roc_multiple * avg)
    if not spike:
        return Signal.flat(name, **reasons)
    funding, _ = weighted_funding(view, FRESH_HOURS, weighted)
    if not math.isfinite(funding) or funding == 0:
        return Signal(name, Direction.FLAT, 0.0, {**reasons, "fragile": True,
                                                  "side": "unknown without funding"})
    direction = Direction.SHORT if funding > 0 else Direction.LONG
    strength = min(now_chg / (2 * p.change_24h), 1.0)
    return Signal(name, direction, max(strength, 0.3), {**reasons, "fragile": True,
                                                          "funding": funding})


def _abs_change(a: float, b: float) -> float:
    """|b / a − 1|: the size of a change from a to b (NaN without both)."""
    return abs(b / a - 1) if math.isfinite(a) and a > 0 and math.isfinite(b) else math.nan


class TrappedParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    oi_change: float = Field(default=0.05, gt=0)
    price_change: float = Field(default=0.01, gt=0)
    funding: float = Field(default=0.0001, gt=0)


def trapped_traders(view: MarketView, p: TrappedParams, weighted: WeightedFunding | None = None
                    ) -> Signal:
    """New positions on the wrong side of the move and paying to hold them."""
    name = "trapped_traders"
    oi = venue_oi(view)
    if oi is None:
        return Signal.abstain(name, "no open interest feed")
    doi, dp = change(oi, view.now, 24), price_change(view, 24)
    funding, n = weighted_funding(view, FRESH_HOURS, weighted)
    if not (math.isfinite(doi) and math.isfinite(dp)) or n == 0:
        return Signal.abstain(name, "needs 24 h of price and open interest, and funding")
    reasons = {"oi_change_24h": round(doi, 6), "price_change_24h": round(dp, 6),
               "funding": funding}
    if doi > p.oi_change and dp < -p.price_change and funding > p.funding:
        return Signal(name, Direction.SHORT, min(doi / (2 * p.oi_change), 1.0),
                      {**reasons, "trapped": "longs"})
    if doi > p.oi_change and dp > p.price_change and funding < -p.funding:
        return Signal(name, Direction.LONG, min(doi / (2 * p.oi_change), 1.0),
                      {**reasons, "trapped": "shorts"})
    return Signal.flat(name, **reasons)
