"""Open-interest signals: the price/OI regime, OI divergence, OI spikes, trapped traders."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.frame import Frame, Rows, changes, per_source, price_changes, value_at
from strategies.types import DAY_MS, HOUR_MS, Direction, MarketView, Series, Signal
from strategies.venues import Crowd, crowd


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


def oi_changes(f: Frame, oi: tuple[Series, np.ndarray], hours: float) -> np.ndarray:
    """Each row's relative change of the open interest it reads over the last `hours`."""
    return changes(oi[0], oi[1], f.now, hours)


def oi_price_regime(view: MarketView, p: OIPriceRegimeParams) -> Signal:
    return oi_price_regime_rows(Frame.of(view), p).signal(0)


def oi_price_regime_rows(f: Frame, p: OIPriceRegimeParams) -> Rows:
    sources, pick = f.venue_oi()
    dp = price_changes(f, p.hours)
    doi = per_source(sources, pick, lambda src: oi_changes(f, src, p.hours))
    return Rows({"pick": pick, "dp": dp, "doi": doi}, lambda cols, i: _regime(cols, i, p))


def _regime(cols, i: int, p: OIPriceRegimeParams) -> Signal:
    name = "oi_price_regime"
    if cols["pick"][i] < 0:
        return Signal.abstain(name, "no open interest feed")
    dp, doi = float(cols["dp"][i]), float(cols["doi"][i])
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
    return oi_divergence_rows(Frame.of(view), p).signal(0)


def oi_divergence_rows(f: Frame, p: OIDivergenceParams) -> Rows:
    sources, pick = f.venue_oi()
    first = per_source(sources, pick, lambda src: np.full(len(f), src[0].ts[0], float))
    days = [(price_changes(f, 24 * d),
             per_source(sources, pick, lambda src, d=d: oi_changes(f, src, 24 * d)))
            for d in range(1, p.days + 1)]
    sustained = np.ones(len(f), bool)
    for dp_d, doi_d in days:  # divergence_ratio > 0: the two moved apart (NaN: not)
        with np.errstate(invalid="ignore"):
            sustained &= (dp_d != 0) & (dp_d * doi_d < 0)
    dp, doi = days[-1]
    return Rows({"pick": pick, "bars": f.bars, "age": f.now - first, "dp": dp, "doi": doi,
                 "sustained": sustained}, lambda cols, i: _divergence(cols, i, p))


def _divergence(cols, i: int, p: OIDivergenceParams) -> Signal:
    name = "oi_divergence"
    if cols["pick"][i] < 0:
        return Signal.abstain(name, "no open interest feed")
    hours = p.days * 24
    if cols["bars"][i] <= hours or cols["age"][i] < hours * HOUR_MS:
        return Signal.abstain(name, f"needs {p.days} days of price and open interest")
    dp, doi = float(cols["dp"][i]), float(cols["doi"][i])
    ratio = divergence_ratio(dp, doi)
    reasons = {"price_change": round(dp, 6), "oi_change": round(doi, 6), "ratio": round(ratio, 4)}
    sustained = bool(cols["sustained"][i])
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


def oi_spike(view: MarketView, p: OISpikeParams) -> Signal:
    """OI up > 10 % in 24 h, or its 24 h change ≥ 3× the 7-day average: fragile positioning."""
    return oi_spike_rows(Frame.of(view), p).signal(0)


def oi_spike_rows(f: Frame, p: OISpikeParams) -> Rows:
    sources, pick = f.venue_oi()
    back = f.now[:, None] - DAY_MS * np.arange(1, p.average_days + 2)
    c = crowd(f)
    return Rows({"pick": pick, "now": per_source(sources, pick,
                                                 lambda src: oi_changes(f, src, 24)),
                 "at": per_source(sources, pick, lambda src: value_at(src[0], src[1], back),
                                  p.average_days + 1)},
                lambda cols, i: _spike(cols, i, c, p))


def _spike(cols, i: int, c: Crowd, p: OISpikeParams) -> Signal:
    name = "oi_spike"
    if cols["pick"][i] < 0:
        return Signal.abstain(name, "no open interest feed")
    now_chg = float(cols["now"][i])
    if not math.isfinite(now_chg):
        return Signal.abstain(name, "needs 24 h of open interest")
    # day d's absolute 24 h change, d = 1..average_days: the values d and d + 1 days ago
    at_ = cols["at"][i].tolist()
    past = [_abs_change(at_[d], at_[d - 1]) for d in range(1, p.average_days + 1)]
    past = [x for x in past if math.isfinite(x)]
    avg = float(np.mean(past)) if past else math.nan
    reasons = {"oi_change_24h": round(now_chg, 6), "avg_abs_change_24h": avg}
    spike = now_chg > p.change_24h or (math.isfinite(avg) and avg > 0
                                       and now_chg >= p.roc_multiple * avg)
    if not spike:
        return Signal.flat(name, **reasons)
    funding, _ = c.weighted(i)
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


def trapped_traders(view: MarketView, p: TrappedParams) -> Signal:
    """New positions on the wrong side of the move and paying to hold them."""
    return trapped_traders_rows(Frame.of(view), p).signal(0)


def trapped_traders_rows(f: Frame, p: TrappedParams) -> Rows:
    sources, pick = f.venue_oi()
    c = crowd(f)
    return Rows({"pick": pick, "dp": price_changes(f, 24),
                 "doi": per_source(sources, pick, lambda src: oi_changes(f, src, 24))},
                lambda cols, i: _trapped(cols, i, c, p))


def _trapped(cols, i: int, c: Crowd, p: TrappedParams) -> Signal:
    name = "trapped_traders"
    if cols["pick"][i] < 0:
        return Signal.abstain(name, "no open interest feed")
    doi, dp = float(cols["doi"][i]), float(cols["dp"][i])
    funding, n = c.weighted(i)
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
