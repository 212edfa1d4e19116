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
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from strategies.types import MarketView

HOUR_MS = 3_600_000


class LiquidationMapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mix: tuple[tuple[float, float], ...] = ((5, 0.25), (10, 0.35), (25, 0.25), (50, 0.10),
                                            (100, 0.05))
    bucket_pct: float = Field(default=0.001, gt=0)
    lookback_bars: int = Field(default=30 * 24, ge=2)
    dense_factor: float = Field(default=3.0, gt=0)  # × mean bucket notional
    top: int = Field(default=5, ge=1)


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
    longs, shorts = _levels(price, high, low, oi, _Mix.of(p))
    return _assemble(longs, shorts, _survival(oi), float(price[-1]), p)


@dataclass(frozen=True, slots=True)
class _Mix:
    """The leverage mix as arrays: liquidation multipliers and notional weights."""

    long_mult: np.ndarray
    short_mult: np.ndarray
    weight: np.ndarray

    @staticmethod
    @cache
    def of(p: LiquidationMapParams) -> _Mix:
        lev = np.array([m[0] for m in p.mix], dtype=float)
        return _Mix(1 - 0.9 / lev, 1 + 0.9 / lev, np.array([m[1] for m in p.mix], dtype=float))


@dataclass(frozen=True, slots=True)
class _Levels:
    """Liquidation levels not yet reached, in (bar, leverage) order: the bar whose OI
    growth opened them, their leverage's weight in the mix, price, and OI growth × entry."""

    bar: np.ndarray
    weight: np.ndarray
    px: np.ndarray
    added: np.ndarray

    def keep(self, mask: np.ndarray) -> _Levels:
        return _Levels(self.bar[mask], self.weight[mask], self.px[mask], self.added[mask])

    def since(self, i: int) -> _Levels:
        return _Levels(self.bar[i:], self.weight[i:], self.px[i:], self.added[i:])

    @staticmethod
    def join(a: _Levels, b: _Levels) -> _Levels:
        return _Levels(*(np.concatenate([x, y]) for x, y in zip(
            (a.bar, a.weight, a.px, a.added), (b.bar, b.weight, b.px, b.added))))


def _levels(price: np.ndarray, high: np.ndarray, low: np.ndarray, oi: np.ndarray, mix: _Mix
            ) -> tuple[_Levels, _Levels]:
    """Every level opened by OI growth that no later bar has reached (longs', shorts');
    a level's bar is its point's index in the window."""
    d_oi = np.diff(oi)
    grew = np.flatnonzero(d_oi > 0)  # only bars that added open interest hold levels
    entry = price[1:][grew]
    added = d_oi[grew] * entry
    # the extremes reached after each bar: a level inside them has been liquidated
    later_low = np.append(np.minimum.accumulate(low[::-1])[::-1][2:], np.inf)[grew]
    later_high = np.append(np.maximum.accumulate(high[::-1])[::-1][2:], -np.inf)[grew]
    k = len(mix.weight)
    bar = np.repeat(grew + 1, k)
    weight = np.tile(mix.weight, len(grew))
    out = []
    for mult, alive in ((mix.long_mult, lambda px: px < later_low[:, None]),
                        (mix.short_mult, lambda px: px > later_high[:, None])):
        px = entry[:, None] * mult[None, :]
        ok = alive(px).ravel()
        out.append(_Levels(bar[ok], weight[ok], px.ravel()[ok], np.repeat(added, k)[ok]))
    return out[0], out[1]


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
    survive_all = np.cumprod(ratio[::-1])[::-1]  # survival from bar i to the end
    return np.append(survive_all[1:], 1.0)  # from the bar after i


def _kept(before: float, after: float) -> float:
    """_kept_shares for one step, on Python floats (the same value to the bit)."""
    if not before > 0:
        return 1.0
    r = after / before
    if math.isnan(r):
        return 1.0
    return -sys.float_info.max if r == -math.inf else min(r, 1.0)


def _assemble(longs: _Levels, shorts: _Levels, survive: np.ndarray, price: float,
              p: LiquidationMapParams, first_bar: int = 0) -> list[Cluster]:
    """Bucket the live levels' notional at 0.1 % of `price` and rank the buckets."""
    parts = []
    for side in (longs, shorts):
        notional = side.added * survive[side.bar - first_bar - 1] * side.weight
        if notional.min(initial=1.0) > 0:  # OI never fell to zero: all of them count
            parts.append((side.px, notional))
        else:
            ok = notional > 0
            parts.append((side.px[ok], notional[ok]))
    n_long = len(parts[0][0])
    if n_long + len(parts[1][0]) == 0:
        return []
    px = np.concatenate([parts[0][0], parts[1][0]])
    nt = np.concatenate([parts[0][1], parts[1][1]])
    width = p.bucket_pct * price
    keys = np.round(px / width).astype(np.int64) * 2
    keys[:n_long] += 1  # odd: longs' liquidations
    first = int(keys.min())
    full = np.bincount(keys - first, weights=nt)  # one bin per key: no sort needed
    uniq = np.flatnonzero(full) + first  # every level's notional is > 0
    sums = full[uniq - first]
    dense = sums >= p.dense_factor * sums.mean()
    keep = _largest(sums, dense, p.top)  # every dense cluster, at least the top few
    return [Cluster(float((key // 2) * width), total, "long" if key % 2 else "short", is_dense)
            for key, total, is_dense in zip(uniq[keep].tolist(), sums[keep].tolist(),
                                            dense[keep].tolist())]


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
        empty = _Levels(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0))
        self.longs = self.shorts = empty
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
        skip = int(np.searchsorted(oi_ts, c.ts[0] + HOUR_MS))  # before any bar had closed
        if skip:  # left out, as map_view leaves them out
            oi_ts, oi_v, n = oi_ts[skip:], oi_v[skip:], n - skip
            if n < 2:
                self.reset()
                return []
        new = self._new_points(oi_ts)
        last = int(np.searchsorted(c.ts, oi_ts[-1] - HOUR_MS))  # the newest point's bar
        if (new is None or last >= len(c) or c.ts[last] != oi_ts[-1] - HOUR_MS
                or last - new + 1 < 0 or not _hourly(c.ts[last - new + 1:last + 1])):
            self.reset()
            return None
        bars = slice(last - new + 1, last + 1)
        if new == n:  # (re)built from the whole window at once
            self.reset()
            self.longs, self.shorts = _levels(c.close[bars], c.high[bars], c.low[bars], oi_v,
                                              self.mix)
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
        return _assemble(self.longs, self.shorts, _survival_of(self.kept[self.k0:self.k1]),
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
        self.longs = self.longs.keep(self.longs.px < low)
        self.shorts = self.shorts.keep(self.shorts.px > high)
        added = oi - self.last_oi
        if added > 0:
            k = len(self.mix.weight)
            bar = np.full(k, self.first_bar + len(self.ts))
            w, de = self.mix.weight, np.full(k, added * close)
            self.longs = _Levels.join(self.longs,
                                      _Levels(bar, w, close * self.mix.long_mult, de))
            self.shorts = _Levels.join(self.shorts,
                                       _Levels(bar, w, close * self.mix.short_mult, de))
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
        self.longs = self.longs.since(int(np.searchsorted(self.longs.bar, self.first_bar,
                                                          side="right")))
        self.shorts = self.shorts.since(int(np.searchsorted(self.shorts.bar, self.first_bar,
                                                            side="right")))


def map_view(view: MarketView, p: LiquidationMapParams) -> list[Cluster]:
    """Clusters for the venue's OI against its candles, over the lookback."""
    oi = view.open_interest.get(view.venue)
    c = view.candles
    if oi is None or len(oi) < 2 or len(c) == 0:
        return []
    oi_ts, oi_v = oi.ts[-p.lookback_bars:], oi.value[-p.lookback_bars:]
    # each OI point reads the last bar closed at its time
    idx = np.searchsorted(c.ts + HOUR_MS, oi_ts, side="right") - 1
    ok = idx >= 0
    if ok.sum() < 2:
        return []
    idx, oi_v = idx[ok], oi_v[ok]
    return clusters(c.close[idx], c.high[idx], c.low[idx], oi_v, p)


def _hourly(ts: np.ndarray) -> bool:
    """Every step exactly one hour."""
    return bool((ts[1:] - ts[:-1] == HOUR_MS).all())
