"""Liquidation map: where positions opened at each price would be liquidated (SPEC §2).

Open interest added at a price opens longs and shorts alike; with a leverage mix,
each slice's longs liquidate at entry × (1 − 0.9/L) and its shorts at
entry × (1 + 0.9/L). Later OI declines shrink every older slice in proportion, and
a level that price has since reached is gone (those positions were liquidated).
Levels are bucketed at 0.1 % of the current price and ranked by notional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import Direction, MarketView, Signal

HOUR_MS = 3_600_000


class LiquidationMapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mix: tuple[tuple[float, float], ...] = ((5, 0.25), (10, 0.35), (25, 0.25), (50, 0.10),
                                            (100, 0.05))
    bucket_pct: float = Field(default=0.001, gt=0)
    lookback_bars: int = Field(default=30 * 24, ge=2)
    dense_factor: float = Field(default=3.0, gt=0)  # × mean bucket notional
    top: int = Field(default=5, ge=1)


@dataclass(frozen=True, slots=True)
class Cluster:
    price: float
    notional: float
    side: str  # whose liquidations: "long" (below price) or "short" (above)
    dense: bool


def clusters(price: np.ndarray, high: np.ndarray, low: np.ndarray, oi: np.ndarray,
             p: LiquidationMapParams) -> list[Cluster]:
    """The dense clusters (and at least the `top` largest), largest first, from aligned
    per-bar price, range and open interest (contracts)."""
    if len(oi) < 2:
        return []
    d_oi = np.diff(oi)
    ratio = np.minimum(oi[1:] / np.where(oi[:-1] > 0, oi[:-1], np.nan), 1.0)
    ratio = np.nan_to_num(ratio, nan=1.0)
    survive_all = np.cumprod(ratio[::-1])[::-1]  # survival from bar i to the end
    survive = np.append(survive_all[1:], 1.0)  # from the bar after i
    grew = np.flatnonzero(d_oi > 0)  # only bars that added open interest hold levels
    if len(grew) == 0:
        return []
    entry = price[1:][grew]
    added = d_oi[grew] * entry * survive[grew]
    # the extremes reached after each bar: a level inside them has been liquidated
    later_low = np.append(np.minimum.accumulate(low[::-1])[::-1][2:], np.inf)[grew]
    later_high = np.append(np.maximum.accumulate(high[::-1])[::-1][2:], -np.inf)[grew]
    lev = np.array([m[0] for m in p.mix], dtype=float)
    notional = added[:, None] * np.array([m[1] for m in p.mix], dtype=float)[None, :]
    long_px = entry[:, None] * (1 - 0.9 / lev[None, :])
    short_px = entry[:, None] * (1 + 0.9 / lev[None, :])
    long_alive = (notional > 0) & (long_px < later_low[:, None])
    short_alive = (notional > 0) & (short_px > later_high[:, None])
    n_long = int(long_alive.sum())
    if n_long + int(short_alive.sum()) == 0:
        return []
    px = np.concatenate([long_px[long_alive], short_px[short_alive]])
    nt = np.concatenate([notional[long_alive], notional[short_alive]])
    width = p.bucket_pct * float(price[-1])
    keys = np.round(px / width).astype(np.int64) * 2
    keys[:n_long] += 1  # odd: longs' liquidations
    first = int(keys.min())
    full = np.bincount(keys - first, weights=nt)  # one bin per key: no sort needed
    uniq = np.flatnonzero(full) + first  # every level's notional is > 0
    sums = full[uniq - first]
    dense = sums >= p.dense_factor * sums.mean()
    order = np.argsort(-sums, kind="stable")
    keep = order[: max(p.top, int(dense.sum()))]  # every dense cluster, at least the top few
    return [Cluster(float((key // 2) * width), total, "long" if key % 2 else "short", is_dense)
            for key, total, is_dense in zip(uniq[keep].tolist(), sums[keep].tolist(),
                                            dense[keep].tolist())]


def map_view(view: MarketView, p: LiquidationMapParams) -> list[Cluster]:
    """Clusters for the venue's OI against its candles, over the lookback."""
    oi = view.open_interest.get(view.venue)
    c = view.candles
    if oi is None or len(oi) < 2 or len(c) == 0:
        return []
    oi_ts, oi_v = oi.ts[-p.lookback_bars:], oi.value[-p.lookback_bars:]
    n = len(oi_ts)
    # each OI point reads the last bar closed at its time; hourly points on hourly bars map
    # to one unbroken run of bars: slices then, and no search (70 → 10 µs)
    first = int(np.searchsorted(c.ts, oi_ts[0] - HOUR_MS, side="right")) - 1
    last = first + n - 1
    if (first >= 0 and last < len(c) and oi_ts[-1] - oi_ts[0] == (n - 1) * HOUR_MS
            and c.ts[last] - c.ts[first] == (n - 1) * HOUR_MS
            and (last + 1 == len(c) or c.ts[last + 1] + HOUR_MS > oi_ts[-1])
            and _hourly(oi_ts) and _hourly(c.ts[first:last + 1])):
        sl = slice(first, last + 1)
        return clusters(c.close[sl], c.high[sl], c.low[sl], oi_v, p)
    idx = np.searchsorted(c.ts + HOUR_MS, oi_ts, side="right") - 1
    ok = idx >= 0
    if ok.sum() < 2:
        return []
    idx, oi_v = idx[ok], oi_v[ok]
    return clusters(c.close[idx], c.high[idx], c.low[idx], oi_v, p)


def _hourly(ts: np.ndarray) -> bool:
    """Every step exactly one hour."""
    return bool((ts[1:] - ts[:-1] == HOUR_MS).all())


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
