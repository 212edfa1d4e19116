"""A replay's whole history as frames (strategies.frame): for each symbol and timeframe, a
row per decision — each venue candle's close, each coarser bar's — over every candle,
funding print and open interest point, each row knowing what had been seen by its
instant. The signal modules read all rows at once; the runner reads row i at tick i
(`Precomputed`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.marketdata.history import TIMEFRAMES
from bot.marketdata.layout import MarketData, funding_interval_hours
from strategies.frame import Frame, Rows
from strategies.funding import to_8h
from strategies.indicators import atr_adx
from strategies.types import HOUR_MS, Candles, Series, Signal


def frames(data: MarketData, venue: str, timeframes: tuple[str, ...] = ()
           ) -> dict[tuple[str, str], Frame]:
    """Each symbol's frame over the folder's tables at 1 h and at each coarser timeframe:
    (symbol, timeframe) -> frame. Rows are the decisions: each venue candle's close (seen
    an hour after it opened), and for a coarser timeframe each instant its bars close. A
    funding print or OI point is seen at its time."""
    out = {}
    for (ex, sym, name), df in data.tables.items():
        if ex != venue or name != "candles_1h.csv" or not len(df):
            continue
        funding = _in_arrival_order({e: _funding(t) for (e, s, n), t in data.tables.items()
                                     if s == sym and n == "funding.csv" and len(t)})
        oi = _in_arrival_order({e: (t["timestamp"].to_numpy(), t["open_interest"].to_numpy(
            float)) for (e, s, n), t in data.tables.items()
            if s == sym and n == "open_interest.csv" and len(t)})
        cols = [df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume")]
        taker = (df["taker_buy_volume"].to_numpy(float) if "taker_buy_volume" in df
                 else np.full(len(df), np.nan))
        ts = df["timestamp"].to_numpy(np.int64)
        now = ts + HOUR_MS
        bars = {"1h": (_candles(ts, *cols, taker), np.arange(1, len(ts) + 1), now)}
        for tf in timeframes:
            if (venue, sym, "candles_4h.csv") in data.tables and tf == "4h":
                continue  # the venue's own 4 h bars: read from the view
            coarse = _coarser(ts, *cols, taker, TIMEFRAMES[tf])
            at_close = now[now % TIMEFRAMES[tf] == 0]
            bars[tf] = coarse, np.searchsorted(coarse.ts, at_close), at_close
        for tf, (candles, closed, instants) in bars.items():
            f_series, f_known = _series(funding, instants)
            o_series, o_known = _series(oi, instants)
            out[sym, tf] = Frame(sym, venue, instants.astype(np.int64),
                                 np.asarray(closed, np.int64), candles, f_series, o_series,
                                 f_known, o_known)
    return out


def _in_arrival_order(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Exchanges in the order their first point arrives (ties: by name, as the event stream
    orders them): the order the history's views list them in, which the modules read in."""
    return dict(sorted(series.items(), key=lambda kv: (int(kv[1][0][0]), kv[0])))


def _funding(t) -> tuple[np.ndarray, np.ndarray]:
    ts = t["timestamp"].to_numpy()
    hours = (t["interval_hours"].to_numpy(float) if "interval_hours" in t
             else np.full(len(t), funding_interval_hours(ts)))
    return ts, to_8h(t["rate"].to_numpy(float), hours)


def _candles(ts, o, h, lo, c, v, taker) -> Candles:
    """Bars with their Wilder ATR and ADX, as the history computes them bar by bar."""
    atr, adx = atr_adx(h.tolist(), lo.tolist(), c.tolist())
    return Candles(ts, o, h, lo, c, v, atr, adx, None if np.isnan(taker).all() else taker)


def _coarser(ts, o, h, lo, c, v, taker, span: int) -> Candles:
    """The `span` bars the hourly ones make (UTC-aligned; a bucket with a missing hour is
    the hours it has), summed hour by hour in order as the history sums them."""
    bucket = ts // span
    starts = np.flatnonzero(np.diff(bucket, prepend=bucket[0] - 1))
    ends = np.append(starts[1:], len(ts))
    vol, buy = v[starts].copy(), taker[starts].copy()
    for k in range(1, int((ends - starts).max())):
        more = starts + k < ends
        vol[more] += v[starts[more] + k]
        buy[more] += taker[starts[more] + k]
    return _candles(bucket[starts] * span, o[starts], np.maximum.reduceat(h, starts),
                    np.minimum.reduceat(lo, starts), c[ends - 1], vol, buy)


def _series(tables: dict[str, tuple[np.ndarray, np.ndarray]], now: np.ndarray
            ) -> tuple[dict[str, Series], dict[str, np.ndarray]]:
    """Each exchange's series and how many of its points each row has seen (a point is seen
    at its time)."""
    series, known = {}, {}
    for ex, (ts, value) in tables.items():
        series[ex] = Series(ts.astype(np.float64), value)
        known[ex] = np.searchsorted(ts, now, side="right").astype(np.int64)
    return series, known


class Precomputed:
    """One symbol's frame and each module's rows over it, made the first time the module
    is read: row(now) finds the decision's row, `signal` its reading."""

    def __init__(self, frame: Frame, makers: dict[str, Callable[[Frame], Rows]]) -> None:
        self.frame, self.makers = frame, makers
        self.rows: dict[str, Rows] = {}
        self._at: dict[int, int] = {}  # a decision's instant -> its row (the first)
        for i, t in enumerate(frame.now.tolist()):
            self._at.setdefault(t, i)
        b = frame.bars  # each row's last candle's open time (-1: none)
        self._opens = np.where(b > 0, frame.candles.ts[np.maximum(b - 1, 0)], -1).tolist() \
            if len(frame.candles) else [-1] * len(frame)

    def row(self, now: int, last_open: int) -> int | None:
        """The row of the decision at `now` whose last candle opened at `last_open`; None
        when the frame has no such row (the view is read instead)."""
        i = self._at.get(now)
        return i if i is not None and self._opens[i] == last_open else None

    def signal(self, module: str, i: int) -> Signal | None:
        """The module's reading of row i (None for a module not written over frames)."""
        rows = self.rows.get(module)
        if rows is None:
            make = self.makers.get(module)
            if make is None:
                return None
            rows = self.rows[module] = make(self.frame)
        return rows.signal(i)


def precompute(data: MarketData, venue: str, timeframes: tuple[str, ...],
               makers: dict[str, Callable[[Frame], Rows]]
               ) -> dict[tuple[str, str], Precomputed]:
    """Each symbol's frames over the folder (made once per folder loaded: a study's trials
    share them), its modules' rows made as they are first read."""
    made = data.derived.get(("frames", venue, timeframes))
    if made is None:
        made = data.derived["frames", venue, timeframes] = frames(data, venue, timeframes)
    return {key: Precomputed(f, makers) for key, f in made.items()}
