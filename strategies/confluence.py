"""Confluence: the six positioning scenarios, and the composite score (SPEC §2)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from strategies.liquidation_map import Cluster
from strategies.series import Numbers
from strategies.types import Direction, MarketView, Signal
from strategies.venues import FRESH_HOURS


class ConfluenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    extreme_funding: float = Field(default=0.0005, gt=0)
    oi_build: float = Field(default=0.05, gt=0)  # OI 24 h change that counts as building
    pre_event_oi: float = Field(default=0.15, gt=0)  # OI +15 % in 48 h ...
    pre_event_range: float = Field(default=0.05, gt=0)  # ... with clusters both sides within 5 %


SCENARIOS = ("long_squeeze", "short_squeeze", "healthy_trend", "exhaustion", "vacuum",
             "pre_event_build")


def confluence(view: MarketView, readings: Mapping[str, Signal], found: Sequence[Cluster],
               p: ConfluenceParams, numbers: Numbers | None = None) -> Signal:
    """Classify the market into one of the six scenarios (or none). `numbers`: the view's
    shared numbers, where a caller has them."""
    name = "confluence"
    numbers = numbers or Numbers.of(view)
    funding, n = numbers.weighted(FRESH_HOURS)
    if numbers.oi() is None or n == 0:
        return Signal.abstain(name, "needs open interest and funding")
    d_oi24, d_oi48 = numbers.oi_change(24), numbers.oi_change(48)
    dp = numbers.price_change(24)
    if not all(math.isfinite(x) for x in (d_oi24, d_oi48, dp)):
        return Signal.abstain(name, "needs 48 h of price and open interest")
    reasons = {"funding": funding, "oi_change_24h": round(d_oi24, 6),
               "oi_change_48h": round(d_oi48, 6), "price_change_24h": round(dp, 6)}
    regime = readings.get("regime")
    price = float(view.candles.close[-1])

    def scenario(s: str, d: Direction, strength: float) -> Signal:
        return Signal(name, d, strength, {**reasons, "scenario": s})

    if regime is not None and regime.reasons.get("regime") == "vacuum":
        return scenario("vacuum", Direction.FLAT, 0.0)
    near = [c for c in found if c.dense and abs(c.price / price - 1) <= p.pre_event_range]
    if d_oi48 >= p.pre_event_oi and {c.side for c in near} == {"long", "short"}:
        return scenario("pre_event_build", Direction.FLAT, 0.0)
    if funding >= p.extreme_funding and d_oi24 >= p.oi_build and dp < 0:
        return scenario("long_squeeze", Direction.SHORT, 0.8)
    if funding <= -p.extreme_funding and d_oi24 >= p.oi_build and dp > 0:
        return scenario("short_squeeze", Direction.LONG, 0.8)
    if d_oi24 > 0 and abs(funding) < p.extreme_funding and abs(dp) > 0.005:
        return scenario("healthy_trend", Direction.LONG if dp > 0 else Direction.SHORT, 0.5)
    if d_oi24 < 0 and abs(dp) > 0.005 and abs(funding) >= p.extreme_funding / 2:
        return scenario("exhaustion", Direction.SHORT if dp > 0 else Direction.LONG, 0.5)
    return Signal.flat(name, **reasons, scenario=None)


class CompositeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    w_funding: float = 0.3
    w_trapped: float = 0.4
    w_cluster: float = 0.3
    z_threshold: float = Field(default=2.0, gt=0)
    cluster_atr: float = Field(default=2.0, gt=0)
    full_confidence: float = Field(default=0.7, gt=0)
    min_confidence: float = Field(default=0.5, ge=0, le=1)  # below: no direction


def composite(view: MarketView, readings: Mapping[str, Signal], found: Sequence[Cluster],
              p: CompositeParams) -> Signal:
    """score = 0.3·(−sign z if |z| > 2) + 0.4·trapped + 0.3·toward·max(0, 1 − d/2 ATR)."""
    name = "composite"
    z, f_term, t_term = _terms(readings, p)
    atr = float(view.candles.atr[-1]) if len(view.candles) else math.nan
    price = float(view.candles.close[-1]) if len(view.candles) else math.nan
    c_term, nearest = 0.0, None
    if math.isfinite(atr) and atr > 0:
        dense = [c for c in found if c.dense and abs(c.price - price) <= p.cluster_atr * atr]
        if dense:
            nearest = min(dense, key=lambda c: abs(c.price - price))
            toward = 1.0 if nearest.price > price else -1.0
            c_term = toward * max(0.0, 1 - abs(nearest.price - price) / (p.cluster_atr * atr))
    score = p.w_funding * f_term + p.w_trapped * t_term + p.w_cluster * c_term
    confidence = min(abs(score) / p.full_confidence, 1.0)
    reasons = {"score": round(score, 6), "confidence": round(confidence, 6), "z": z,
               "trapped": t_term, "cluster_term": round(c_term, 6),
               "cluster": nearest.price if nearest else None}
    if confidence < p.min_confidence or score == 0:
        return Signal.flat(name, **reasons)
    return Signal(name, Direction.LONG if score > 0 else Direction.SHORT, confidence, reasons)


def _terms(readings: Mapping[str, Signal], p: CompositeParams) -> tuple[float, float, float]:
    """The funding z-score, and the composite's funding and trapped terms."""
    z_sig, trapped = readings.get("funding_zscore"), readings.get("trapped_traders")
    z = float(z_sig.reasons.get("z", 0.0)) if z_sig is not None else 0.0
    f_term = -math.copysign(1.0, z) if abs(z) > p.z_threshold else 0.0
    t_term = float(int(trapped.direction)) if trapped is not None else 0.0
    return z, f_term, t_term


def composite_can_lean(readings: Mapping[str, Signal], p: CompositeParams) -> bool:
    """Whether the composite can point anywhere given its funding and trapped terms: the
    cluster term adds at most its weight. False means it is flat whatever the liquidation
    map holds, so a decision need not read the map to know it (a margin of 1e-9 covers the
    score's rounding)."""
    _, f_term, t_term = _terms(readings, p)
    most = abs(p.w_funding * f_term + p.w_trapped * t_term) + abs(p.w_cluster)
    return most / p.full_confidence >= p.min_confidence * (1 - 1e-9) and most > 0
