"""Frames: the rows a signal module reads at once. A module is written once, over columns:
it reads every row of a frame — each row an instant and what was known then — and gives
its reading for each. A replay reads the whole history as one frame (a row per decision);
live reads a frame of one row, the view of now (`Frame.of`). Row i of the whole-history
frame and the one-row frame of the view at row i's instant are the same rows of data, so
they read the same: there is no second implementation to drift."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from strategies.types import HOUR_MS, Candles, MarketView, Series, Signal


class Frame:
    """Rows over one symbol's history. Row r is the instant `now[r]`; it knows the first
    `bars[r]` candles and, of each exchange's funding and open interest, the first
    `funding_known(ex)[r]` and `oi_known(ex)[r]` points (all of them when not given: a
    view's). Exchanges left out (stale) are not in the mappings."""

    __slots__ = ("_funding_known", "_oi_known", "bars", "candles", "funding", "memo", "now",
                 "open_interest", "symbol", "venue")

    def __init__(self, symbol: str, venue: str, now: np.ndarray, bars: np.ndarray,
                 candles: Candles, funding: Mapping[str, Series],
                 open_interest: Mapping[str, Series],
                 funding_known: Mapping[str, np.ndarray] | None = None,
                 oi_known: Mapping[str, np.ndarray] | None = None) -> None:
        self.symbol, self.venue, self.now, self.bars = symbol, venue, now, bars
        self.candles, self.funding, self.open_interest = candles, funding, open_interest
        self._funding_known, self._oi_known = funding_known, oi_known
        self.memo: dict = {}  # columns several modules read (the crowd, the OI source)

    @staticmethod
    def of(view: MarketView, last: int | None = None) -> Frame:
        """The one-row frame of a view: everything in it known at view.now. `last`: only
        the view's last bars, for a module that reads no more of them (and counts bars only
        below that)."""
        c = view.candles
        if last is not None and len(c) > last:
            c = Candles(*(None if x is None else x[-last:] for x in (
                c.ts, c.open, c.high, c.low, c.close, c.volume, c.atr, c.adx, c.taker_buy)))
        return Frame(view.symbol, view.venue, np.array([view.now], dtype=np.int64),
                     np.array([len(c)], dtype=np.int64), c, view.funding, view.open_interest)

    def __len__(self) -> int:
        return len(self.now)

    def funding_known(self, exchange: str) -> np.ndarray:
        """Points of `exchange`'s funding known at each row."""
        if self._funding_known is None:  # a view's: all of them, counted once
            self._funding_known = _all_known(self.funding, len(self))
        return self._funding_known[exchange]

    def oi_known(self, exchange: str) -> np.ndarray:
        if self._oi_known is None:
            self._oi_known = _all_known(self.open_interest, len(self))
        return self._oi_known[exchange]

    def venue_oi(self) -> tuple[list[tuple[Series, np.ndarray]], np.ndarray]:
        """The open interest each row reads: the venue's, or without it the first exchange
        that has any. Returns each exchange's (series, counts) and, per row, which of them
        it reads (-1: none)."""
        if "venue_oi" not in self.memo:
            self.memo["venue_oi"] = self._venue_oi()
        return self.memo["venue_oi"]

    def _venue_oi(self) -> tuple[list[tuple[Series, np.ndarray]], np.ndarray]:
        sources = [(s, self.oi_known(ex)) for ex, s in self.open_interest.items()]
        names = list(self.open_interest)
        if len(self) == 1:  # a view's row: the same pick, by plain indexing
            have = [j for j, (_, k) in enumerate(sources) if k[0] > 0]
            v = names.index(self.venue) if self.venue in names else -1
            return sources, np.array([v if v in have else have[0] if have else -1])
        pick = np.full(len(self), -1)
        for j in reversed(range(len(sources))):  # the first exchange with points wins
            pick = np.where(sources[j][1] > 0, j, pick)
        if self.venue in self.open_interest:
            v = names.index(self.venue)
            pick = np.where(sources[v][1] > 0, v, pick)
        return sources, pick


def _all_known(series: Mapping[str, Series], rows: int) -> dict[str, np.ndarray]:
    """Each exchange's points, all known at every row (a view's frame)."""
    return {ex: np.array([len(s)] * rows) for ex, s in series.items()}


def per_source(sources: list, pick: np.ndarray, column, width: int = 0) -> np.ndarray:
    """column(source) for each row's picked source, NaN for rows with none; a column may
    give `width` values per row."""
    if len(pick) == 1 and pick[0] >= 0:  # a view's row: its source alone
        return column(sources[pick[0]])
    out = np.full((len(pick), width) if width else len(pick), np.nan)
    for j, src in enumerate(sources):
        mine = pick == j
        if mine.any():
            out = np.where(mine[:, None] if width else mine, column(src), out)
    return out


@dataclass(frozen=True, slots=True)
class Rows:
    """A module's reading of every row of a frame: its columns, computed for all rows at
    once, and its rule, which turns row i of them into the Signal."""

    columns: Mapping[str, np.ndarray]
    rule: Callable[[Mapping[str, np.ndarray], int], Signal]

    def signal(self, i: int) -> Signal:
        return self.rule(self.columns, i)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def windows(values: np.ndarray, end: np.ndarray, n: int) -> np.ndarray:
    """Each row's last n values before index `end` (values[end - n:end]) as a row of a 2-D
    array (a row with fewer than n values to give is left as garbage: its module abstains
    on its count)."""
    if len(values) < n:
        return np.zeros((len(end), n))
    if len(end) == 1:  # a view's row: the slice itself
        e = max(int(end[0]), n)
        return values[e - n:e].reshape(1, n)
    return sliding_window_view(values, n)[np.maximum(end - n, 0)]


def at(values: np.ndarray, end: np.ndarray, back: int = 1, fill: float = np.nan
       ) -> np.ndarray:
    """values[end - back] for each row (the last value known is back=1); `fill` where the
    row has fewer than `back` values."""
    if len(end) == 1 and isinstance(back, int):  # a view's row: plain indexing, same values
        i = int(end[0]) - back
        return np.array([values[i] if i >= 0 and len(values) else fill])
    i = end - back
    ok = i >= 0
    if len(values) == 0:
        return np.full(len(end), fill)
    return np.where(ok, values[np.where(ok, i, 0)], fill)


def value_at(s: Series, end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The last value of s known at each row (its first `end` points) at time t — a time per
    row, or a row of times each — (NaN before the first point)."""
    if len(s) == 0:
        return np.full(np.shape(t), np.nan)
    if len(end) == 1 and np.ndim(t) == 1:  # a view's row: one lookup
        i = min(int(np.searchsorted(s.ts, t[0], side="right")), int(end[0])) - 1
        return np.array([s.value[i] if i >= 0 else np.nan])
    end = end.reshape(end.shape + (1,) * (np.ndim(t) - 1))  # t may hold several per row
    i = np.minimum(np.searchsorted(s.ts, t, side="right"), end) - 1
    return np.where(i >= 0, s.value[np.maximum(i, 0)], np.nan)


def price_changes(f: Frame, hours: int) -> np.ndarray:
    """Each row's relative change of the close over the last `hours` bars (NaN without)."""
    c = f.candles.close
    if len(f) == 1:  # a view's row: two closes
        k = int(f.bars[0])
        return np.array([c[k - 1] / c[k - hours - 1] - 1 if k > hours else np.nan])
    ok = f.bars > hours
    return np.where(ok, at(c, f.bars) / at(c, f.bars, hours + 1, fill=1.0) - 1, np.nan)


def changes(s: Series, end: np.ndarray, now: np.ndarray, hours: float) -> np.ndarray:
    """Each row's relative change of s (its first `end` points known) over the `hours` up to
    `now` (NaN without a start point)."""
    start = value_at(s, end, now - int(hours * HOUR_MS))
    if len(end) == 1:  # a view's row: two values
        a, k = start[0], int(end[0])
        ok = k > 0 and np.isfinite(a) and a != 0
        return np.array([s.value[k - 1] / a - 1 if ok else np.nan])
    last = at(s.value, end)
    ok = (end > 0) & np.isfinite(start) & (start != 0)
    return np.where(ok, last / np.where(ok, start, 1.0) - 1, np.nan)


def streaks(beyond: np.ndarray, end: np.ndarray) -> np.ndarray:
    """For each row: how many of its known values (the first `end`) are True in a row at
    the end."""
    if len(end) == 1:  # a view's row: back from its last value to the first False
        k = int(end[0])
        false = np.flatnonzero(~beyond[:k])
        return np.array([k - 1 - false[-1] if len(false) else k])
    idx = np.arange(len(beyond))
    last_false = np.maximum.accumulate(np.where(beyond, -1, idx))
    return at(idx - last_false, end, fill=0)
