"""Liquidation signals (SPEC §2): the map's reading, the magnet that trades price's pull
toward a dense cluster, and the cascade's climax. The map itself is liquidation_map.py."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.liquidation_map import Cluster, LiquidationMapParams
from strategies.types import HOUR_MS, Direction, MarketView, Signal


def liquidated(view: MarketView, hours: float, bucket_pct: float = 0.001, top: int = 5
               ) -> dict | None:
    """What the venues reported liquidated in the `hours` up to now — USD of longs and of
    shorts summed over the exchanges that report, and their count; None when none does.
    A daily total is stamped at its day's end, so a 24 h window holds the last one; prints
    with a price are also summed per price bucket (`printed`)."""
    since = view.now - hours * HOUR_MS
    long_usd = short_usd = 0.0
    venues = 0
    prints: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for rows in view.liquidations.values():
        i = int(np.searchsorted(rows.ts, since, side="right"))
        j = int(np.searchsorted(rows.ts, view.now, side="right"))
        if j > i:
            long_usd += float(rows.long_usd[i:j].sum())
            short_usd += float(rows.short_usd[i:j].sum())
            venues += 1
            if rows.price is not None:
                priced = np.isfinite(rows.price[i:j])
                prints.append((rows.price[i:j][priced], rows.long_usd[i:j][priced],
                               rows.short_usd[i:j][priced]))
    if not venues:
        return None
    total = long_usd + short_usd
    out = {"long_usd": round(long_usd, 2), "short_usd": round(short_usd, 2),
           "long_share": round(long_usd / total, 4) if total > 0 else None,
           "exchanges": venues}
    if prints and any(len(p) for p, _, _ in prints):
        price, lg, sh = (np.concatenate(c) for c in zip(*prints, strict=True))
        ref = float(view.candles.close[-1]) if len(view.candles) else float(price.mean())
        out["printed"] = printed_buckets(price, lg, sh, bucket_pct * ref, top)
    return out


def printed_buckets(price: np.ndarray, long_usd: np.ndarray, short_usd: np.ndarray,
                    width: float, top: int) -> list[dict]:
    """Liquidation prints summed per price bucket `width` wide (the map's: 0.1 % of the
    last close), the `top` largest by notional: where the venues really liquidated, beside
    the map's estimate."""
    keys = np.floor(price / width).astype(np.int64)
    found = []
    for k in np.unique(keys):
        sel = keys == k
        lg, sh = float(long_usd[sel].sum()), float(short_usd[sel].sum())
        found.append({"price": round((k + 0.5) * width, 8), "long_usd": round(lg, 2),
                      "short_usd": round(sh, 2), "prints": int(sel.sum())})
    found.sort(key=lambda b: -(b["long_usd"] + b["short_usd"]))
    return found[:top]


def liquidation_map(view: MarketView, found: list[Cluster], p: LiquidationMapParams
                    ) -> Signal:
    """The clusters estimated from OI (the strongest `top`), beside the liquidations the
    venues reported over the last `reported_hours`."""
    name = "liquidation_map"
    real = liquidated(view, p.reported_hours, p.bucket_pct, p.top)
    seen = {} if real is None else {"reported": real}
    if not view.open_interest:
        if real is None:
            return Signal.abstain(name, "no open interest and no reported liquidations")
        return Signal.flat(name, clusters=[], levels=0, estimate="no open interest", **seen)
    top = [{"price": round(x.price, 8), "notional": round(x.notional, 2), "side": x.side,
            "dense": x.dense} for x in found[:p.top]]
    return Signal.flat(name, clusters=top, levels=len(found), **seen)


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
