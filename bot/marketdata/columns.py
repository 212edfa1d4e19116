"""A replay's whole history as frames (strategies.frame): for each symbol and timeframe, a
row per decision — each venue candle's close, each coarser bar's — over every candle,
funding print and open interest point, each row knowing what had been seen by its instant. The signal modules read
all rows at once; the runner reads row i at tick i (`Precomputed`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from bot.marketdata.history import TIMEFRAMES, Bars, Coarser
from bot.marketdata.layout import CANDLE, CANDLE_4H, FUNDING, OI, CandleEvent, Event
from strategies.frame import Frame, Rows
from strategies.funding import to_8h
from strategies.types import Series, Signal


class _Collected:
    """One symbol's events: its bars at each timeframe (as the history builds them) and
    how many each timeframe had closed at each venue candle; its funding and OI points."""

    __slots__ = ("bars", "funding", "now", "oi")

    def __init__(self, size: int, timeframes: tuple[str, ...]) -> None:
        self.bars: dict[str, Bars] = {"1h": Bars(size)} | {
            tf: Coarser(TIMEFRAMES[tf], size) for tf in timeframes}
        self.now: list[tuple[int, ...]] = []  # (seen, bars closed at each timeframe)
        self.funding: dict[str, list[tuple[int, int, float]]] = {}  # (ts, seen, rate 8 h)
        self.oi: dict[str, list[tuple[int, int, float]]] = {}

    def candle(self, e: CandleEvent) -> None:
        for tf, bars in self.bars.items():
            if tf == "1h":
                bars.add(e.ts, e.open, e.high, e.low, e.close, e.volume, e.taker_buy)
            else:
                bars.hour(e)
        self.now.append((e.seen, *(len(b.candles) for b in self.bars.values())))

    def whole(self, e: CandleEvent) -> None:
        """A 4 h bar of the venue's own: known at the decision of its instant (it comes
        after that instant's hourly candle)."""
        self.bars["4h"].whole(e)
        if self.now and self.now[-1][0] == e.seen:
            self.now[-1] = (e.seen, *(len(b.candles) for b in self.bars.values()))


def frames(events: Iterable[Event], venue: str, timeframes: tuple[str, ...] = ()
           ) -> dict[tuple[str, str], Frame]:
    """Each symbol's frame over `events` (in the order they become known) at 1 h and at
    each coarser timeframe: (symbol, timeframe) -> frame. A coarser frame's rows are the
    instants its bars close, as the runner reads them."""
    events = list(events)
    size = sum(1 for e in events if e.kind == CANDLE) + 1  # rings that never wrap
    got: dict[str, _Collected] = {}

    def of(symbol: str) -> _Collected:
        c = got.get(symbol)
        if c is None:
            c = got[symbol] = _Collected(size, timeframes)
        return c

    for e in events:
        k = e.kind
        if k == CANDLE:
            if e.exchange == venue:
                of(e.symbol).candle(e)
        elif k == FUNDING:
            of(e.symbol).funding.setdefault(e.exchange, []).append(
                (e.ts, e.seen, to_8h(e.rate, e.interval_hours)))
        elif k == OI:
            of(e.symbol).oi.setdefault(e.exchange, []).append((e.ts, e.seen, e.open_interest))
        elif k == CANDLE_4H and e.exchange == venue and "4h" in timeframes:
            of(e.symbol).whole(e)
    out = {}
    for sym, c in got.items():
        if not c.now:
            continue
        table = np.array(c.now, dtype=np.int64)
        for j, (tf, bars) in enumerate(c.bars.items(), start=1):
            keep = table[:, 0] % TIMEFRAMES[tf] == 0 if tf != "1h" else slice(None)
            now = table[keep, 0]
            funding, funding_known = _series(c.funding, now)
            oi, oi_known = _series(c.oi, now)
            out[sym, tf] = Frame(sym, venue, now, table[keep, j], bars.view(), funding, oi,
                                 funding_known, oi_known)
    return out


def _series(rows: dict[str, list[tuple[int, int, float]]], now: np.ndarray
            ) -> tuple[dict[str, Series], dict[str, np.ndarray]]:
    series, known = {}, {}
    for ex, pts in rows.items():
        ts, seen, value = (np.array(x) for x in zip(*pts, strict=True))
        series[ex] = Series(ts.astype(np.float64), value.astype(np.float64))
        known[ex] = np.searchsorted(seen, now, side="right").astype(np.int64)
    return series, known


@dataclass
class Precomputed:
    """One symbol's frame and each module's rows over it, made the first time the module
    is read: row(now) finds the decision's row, `signal` its reading."""

    frame: Frame
    makers: dict[str, Callable[[Frame], Rows]]
    rows: dict[str, Rows] = field(default_factory=dict)

    def row(self, now: int, last_open: int) -> int | None:
        """The row of the decision at `now` whose last candle opened at `last_open`; None
        when the frame has no such row (the view is read instead)."""
        f = self.frame
        i = int(np.searchsorted(f.now, now, side="left"))
        if i < len(f) and f.now[i] == now and f.bars[i] and f.candles.ts[
                f.bars[i] - 1] == last_open:
            return i
        return None

    def signal(self, module: str, i: int) -> Signal | None:
        """The module's reading of row i (None for a module not written over frames)."""
        rows = self.rows.get(module)
        if rows is None:
            make = self.makers.get(module)
            if make is None:
                return None
            rows = self.rows[module] = make(self.frame)
        return rows.signal(i)


def precompute(events: Iterable[Event], venue: str, timeframes: tuple[str, ...],
               makers: dict[str, Callable[[Frame], Rows]]
               ) -> dict[tuple[str, str], Precomputed]:
    """Each symbol's frames over `events`, its modules' rows made as they are first read."""
    return {key: Precomputed(f, makers) for key, f in frames(events, venue,
                                                             timeframes).items()}
