"""Liquidation map: where positions opened at each price would be liquidated (SPEC §2).

Open interest added at a price opens longs and shorts alike; with a leverage mix,
each slice's longs liquidate at entry × (1 − 0.9/L) and its shorts at
entry × (1 + 0.9/L). Later OI declines shrink every older slice in proportion, and
a level that price has since reached is gone (those positions were liquidated).
Levels are bucketed at 0.1 % of the current price and ranked by notional.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import HOUR_MS, MarketView


class LiquidationMapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mix: tuple[tuple[float, float], ...] = ((5, 0.25), (10, 0.35), (25, 0.25), (50, 0.10),
                                            (100, 0.05))
    bucket_pct: float = Field(default=0.001, gt=0)
    lookback_bars: int = Field(default=30 * 24, ge=2)
    dense_factor: float = Field(default=3.0, gt=0)  # × mean bucket notional
    top: int = Field(default=5, ge=1)
    reported_hours: float = Field(default=24.0, gt=0)  # liquidations the venues reported


class Cluster(NamedTuple):
    """A bucket of liquidation levels (a named tuple: a read makes ~20, at half a frozen
    dataclass's cost each)."""

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
    return _assemble(_levels(price, high, low, oi, _Mix.of(p)), _survival(oi), float(price[-1]),
                     p)


# The rows of a levels array (one column per level, in bar order; a bar's longs, then its
# shorts, each in the mix's order): the bar whose OI growth opened it, its leverage's
# weight in the mix, its price, OI growth × entry, and 1 for longs' liquidations (0:
# shorts'). One array, so that keeping, dropping and joining levels is one call each.
BAR, WEIGHT, PX, ADDED, LONG = range(5)


@dataclass(frozen=True, slots=True)
class _Mix:
    """The leverage mix as arrays: a bar's liquidation multipliers (longs' then shorts'),
    their notional weights and sides."""

    mult: np.ndarray
    weight: np.ndarray
    long: np.ndarray

    @staticmethod
    @cache
    def of(p: LiquidationMapParams) -> _Mix:
        lev = np.array([m[0] for m in p.mix], dtype=float)
        w = np.array([m[1] for m in p.mix], dtype=float)
        return _Mix(np.concatenate([1 - 0.9 / lev, 1 + 0.9 / lev]), np.tile(w, 2),
                    np.repeat([1.0, 0.0], len(lev)))

    def block(self, bar: int, entry: float, added: float) -> np.ndarray:
        """The levels one bar's OI growth opens."""
        out = np.empty((5, len(self.mult)))
        out[BAR], out[WEIGHT], out[PX], out[ADDED], out[LONG] = (
            bar, self.weight, entry * self.mult, added, self.long)
        return out


def _levels(price: np.ndarray, high: np.ndarray, low: np.ndarray, oi: np.ndarray, mix: _Mix
            ) -> np.ndarray:
    """Every level opened by OI growth that no later bar has reached; a level's bar is its
    point's index in the window."""
    d_oi = np.diff(oi)
    grew = np.flatnonzero(d_oi > 0)  # only bars that added open interest hold levels
    entry = price[1:][grew]
    # the extremes reached after each bar: a level inside them has been liquidated
    later_low = np.append(np.minimum.accumulate(low[::-1])[::-1][2:], np.inf)[grew]
    later_high = np.append(np.maximum.accumulate(high[::-1])[::-1][2:], -np.inf)[grew]
    k = len(mix.mult)
    px = entry[:, None] * mix.mult[None, :]
    alive = np.where(mix.long > 0, px < later_low[:, None], px > later_high[:, None])
    out = np.empty((5, px.size))
    out[BAR], out[WEIGHT], out[PX], out[ADDED], out[LONG] = (
        np.repeat(grew + 1, k), np.tile(mix.weight, len(grew)), px.ravel(),
        np.repeat(d_oi[grew] * entry, k), np.tile(mix.long, len(grew)))
    return out[:, alive.ravel()]


def _survival(oi: np.ndarray) -> np.ndarray:
    """For each OI change i, the share of it still open at the end (later declines shrink
    every older slice in proportion)."""
    return _survival_of(_kept_shares(oi))


def _kept_shares(oi: np.ndarray) -> np.ndarray:
    """Each step's kept share, min(OI after / OI before, 1) (before ≤ 0 or NaN: 1)."""
    ratio = np.minimum(oi[1:] / np.where(oi[:-1] > 0, oi[:-1], np.nan), 1.0)
    return np.nan_to_num(ratio, nan=1.0)


def _survival_of(ratio: np.ndarray) -> np.ndarray:
    """_survival from the kept share of each step, min(OI after / OI before, 1)."""
    out = np.ones(len(ratio))  # the last step's: nothing after it
    np.cumprod(ratio[:0:-1], out=out[:-1][::-1])  # from the bar after i to the end
    return out


def _kept(before: float, after: float) -> float:
    """_kept_shares for one step, on Python floats (the same value to the bit)."""
    if not before > 0:
        return 1.0
    r = after / before
    if math.isnan(r):
        return 1.0
    return -sys.float_info.max if r == -math.inf else min(r, 1.0)


def _assemble(levels: np.ndarray, survive: np.ndarray, price: float,
              p: LiquidationMapParams, first_bar: int = 0) -> list[Cluster]:
    """Bucket the live levels' notional at 0.1 % of `price` and rank the buckets."""
    notional = levels[ADDED] * survive[(levels[BAR] - (first_bar + 1)).astype(np.intp)] \
        * levels[WEIGHT]
    if notional.min(initial=1.0) <= 0:  # OI fell to zero once: what it wiped out is gone
        ok = notional > 0
        levels, notional = levels[:, ok], notional[ok]
    if notional.size == 0:
        return []
    width = p.bucket_pct * price
    # a bucket's key: its number × 2, + 1 for longs' liquidations (integers held exactly)
    keys = (np.round(levels[PX] / width) * 2 + levels[LONG]).astype(np.int64)
    first = int(keys.min())
    full = np.bincount(keys - first, weights=notional)  # one bin per key: no sort needed
    found = np.flatnonzero(full)  # every level's notional is > 0
    sums = full[found]
    dense = sums >= p.dense_factor * (float(sums.sum()) / len(sums))  # × the mean
    keep = _largest(sums, dense, p.top)  # every dense cluster, at least the top few
    keys = found[keep] + first
    return list(map(Cluster._make, zip(((keys // 2) * width).tolist(), sums[keep].tolist(),
                                       [_SIDE[k] for k in (keys & 1).tolist()],
                                       dense[keep].tolist())))


_SIDE = ("short", "long")  # by a key's last bit


def _largest(sums: np.ndarray, dense: np.ndarray, top: int) -> np.ndarray:
    """Indices of the dense buckets, or of the `top` largest when fewer are dense, largest
    first (ties by position): the head of a stable descending sort, sorting only it."""
    head = np.flatnonzero(dense)
    if len(head) < top:
        if len(sums) > top:  # everything at least as large as the top-th largest
            head = np.flatnonzero(sums >= -np.partition(-sums, top - 1)[top - 1])
        else:
            head = np.arange(len(sums))
    return head[np.argsort(-sums[head], kind="stable")][:max(top, int(dense.sum()))]


class LiquidationBook:
    """The liquidation map of one symbol kept bar by bar: the clusters `map_view` gives,
    without re-deriving every level of the 30-day window on each bar.

    Levels are added as OI grows and dropped for good once a later bar reaches them or
    their bar leaves the window; each read re-weights the live ones by the window's OI
    survival and buckets them at the current price, as `clusters` does. It follows hourly
    OI on hourly bars; `read` answers None for any other shape (gaps, other steps), and the
    caller falls back to `map_view`."""

    def __init__(self, p: LiquidationMapParams) -> None:
        self.p, self.mix = p, _Mix.of(p)
        self.reset()

    def reset(self) -> None:
        self.levels = np.empty((5, 0))  # see BAR..LONG
        self.ts: list[float] = []  # the window's OI times, oldest first
        self.kept = np.empty(2 * self.p.lookback_bars)  # each step's kept share (_kept)
        self.k0 = self.k1 = 0  # the window's steps: kept[k0:k1]
        self.last_oi = math.nan
        self.price = 0.0  # the close of the newest point's bar
        self.first_bar = 0  # the bar number of the window's first point

    def read(self, view: MarketView) -> list[Cluster] | None:
        oi, c = view.open_interest.get(view.venue), view.candles
        if oi is None or len(oi) < 2 or len(c) == 0:
            self.reset()
            return None
        n = min(len(oi), self.p.lookback_bars)
        oi_ts, oi_v = oi.ts[-n:], oi.value[-n:]
        skip = int(oi_ts.searchsorted(c.ts[0] + HOUR_MS))  # before any bar had closed
        if skip:  # left out, as map_view leaves them out
            oi_ts, oi_v, n = oi_ts[skip:], oi_v[skip:], n - skip
            if n < 2:
                self.reset()
                return []
        new = self._new_points(oi_ts)
        last = int(c.ts.searchsorted(oi_ts[-1] - HOUR_MS))  # the newest point's bar
        if (new is None or last >= len(c) or c.ts[last] != oi_ts[-1] - HOUR_MS
                or last - new + 1 < 0 or not _hourly(c.ts[last - new + 1:last + 1])):
            self.reset()
            return None
        bars = slice(last - new + 1, last + 1)
        if new == n:  # (re)built from the whole window at once
            self.reset()
            self.levels = _levels(c.close[bars], c.high[bars], c.low[bars], oi_v, self.mix)
            self.ts, self.last_oi = oi_ts.tolist(), float(oi_v[-1])
            self.k0, self.k1 = 0, n - 1
            self.kept[:n - 1] = _kept_shares(oi_v)
        else:
            for j in range(n - new, n):
                i = last - (n - 1 - j)
                self._add(float(oi_ts[j]), float(oi_v[j]), float(c.close[i]),
                          float(c.high[i]), float(c.low[i]))
            self._drop(len(self.ts) - n)
        self.price = float(c.close[last])
        return _assemble(self.levels, _survival_of(self.kept[self.k0:self.k1]),
                         self.price, self.p, self.first_bar)

    def _new_points(self, oi_ts: np.ndarray) -> int | None:
        """How many of the window's newest points the book lacks (all: rebuild), or None
        when the window is not hourly."""
        n = len(oi_ts)
        if self.ts and oi_ts[0] <= self.ts[-1] <= oi_ts[-1]:
            new = round((oi_ts[-1] - self.ts[-1]) / HOUR_MS)
            if (new < n and oi_ts[n - 1 - new] == self.ts[-1]
                    and oi_ts[0] == self.ts[len(self.ts) - (n - new)]
                    and _hourly(oi_ts[n - 1 - new:])):
                return new
        return n if _hourly(oi_ts) else None

    def _add(self, ts: float, oi: float, close: float, high: float, low: float) -> None:
        """One more point: its bar's range liquidates what it reaches, then its OI growth
        (if any) opens levels of its own."""
        lv = self.levels
        alive = np.where(lv[LONG] > 0, lv[PX] < low, lv[PX] > high)
        if not alive.all():
            lv = lv.compress(alive, axis=1)
        added = oi - self.last_oi
        if added > 0:
            lv = np.concatenate([lv, self.mix.block(self.first_bar + len(self.ts), close,
                                                    added * close)], axis=1)
        self.levels = lv
        if self.k1 == len(self.kept):  # full: slide the window's steps to the front
            self.kept[:self.k1 - self.k0] = self.kept[self.k0:self.k1]
            self.k0, self.k1 = 0, self.k1 - self.k0
        self.kept[self.k1] = _kept(self.last_oi, oi)
        self.k1 += 1
        self.ts.append(ts)
        self.last_oi = oi

    def _drop(self, k: int) -> None:
        """The oldest k points leave the window, and with them the levels of every bar up
        to the new first point (its OI change came from a point now gone)."""
        if k <= 0:
            return
        del self.ts[:k]
        self.k0 += k
        self.first_bar += k
        self.levels = self.levels[:, int(np.searchsorted(self.levels[BAR], self.first_bar,
                                                         side="right")):]


def map_view(view: MarketView, p: LiquidationMapParams) -> list[Cluster]:
    """Clusters for the venue's OI against its candles, over the lookback."""
    inputs = map_inputs(view, p)
    return [] if inputs is None else clusters(*inputs, p)


def map_inputs(view: MarketView, p: LiquidationMapParams
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """What map_view reads: each OI point of the lookback beside the last bar closed at its
    time (close, high, low, OI); None with fewer than two such points."""
    oi = view.open_interest.get(view.venue)
    c = view.candles
    if oi is None or len(oi) < 2 or len(c) == 0:
        return None
    oi_ts, oi_v = oi.ts[-p.lookback_bars:], oi.value[-p.lookback_bars:]
    # each OI point reads the last bar closed at its time
    idx = np.searchsorted(c.ts + HOUR_MS, oi_ts, side="right") - 1
    ok = idx >= 0
    if ok.sum() < 2:
        return None
    idx, oi_v = idx[ok], oi_v[ok]
    return c.close[idx], c.high[idx], c.low[idx], oi_v


def kept_map(view: MarketView, p: LiquidationMapParams, memo: dict | None
                     ) -> list[Cluster]:
    """The map from the symbol's LiquidationBook (kept in the memo) when it can follow the
    view, else computed over the whole window — or the last map computed, when what it
    reads is the same to the bit (daily OI: the same points until the next one)."""
    if memo is None:
        return map_view(view, p)
    book = memo.get("liquidation_book")
    if book is None or book.p != p:
        book = memo["liquidation_book"] = LiquidationBook(p)
    found = book.read(view)
    if found is not None:
        return found
    inputs = map_inputs(view, p)
    if inputs is None:
        return []
    key = (p, *(a.tobytes() for a in inputs))
    last = memo.get("liquidation_inputs")
    if last is None or last[0] != key:
        last = memo["liquidation_inputs"] = (key, clusters(*inputs, p))
    return list(last[1])


def _hourly(ts: np.ndarray) -> bool:
    """Every step exactly one hour (a bar's few new points: in Python, at a tenth of the
    cost of numpy's three calls)."""
    if len(ts) <= 8:
        return all(b - a == HOUR_MS for a, b in pairwise(ts.tolist()))
    return bool((ts[1:] - ts[:-1] == HOUR_MS).all())
