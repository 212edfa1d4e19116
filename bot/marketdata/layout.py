"""The canonical on-disk market data layout, its validation, and the time-ordered event stream.

    DATA/<exchange>/<SYMBOL>/candles_1h.csv       timestamp,open,high,low,close,volume[,taker_buy_volume]
                             funding.csv          timestamp,rate[,interval_hours]
                             open_interest.csv    timestamp,open_interest[,open_interest_value]
                             spot_candles_1h.csv  as candles_1h.csv
                             candles_4h.csv       as candles_1h.csv, 4 h bars (seen at close)
                             liquidations.csv     timestamp,long_usd,short_usd[,price]

Timestamps are ms UTC; a candle's timestamp is its open time and it is seen at its close.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from bot.markets import dir_symbol, split_symbol
from strategies.types import HOUR_MS

MAX_TS = 10**13  # ms: the year 2286; later (or negative) is not a timestamp of this data
VENUES = ("binanceusdm", "bybit", "okx", "deribit")  # the folders the layout knows
CANDLE_COLS = ("timestamp", "open", "high", "low", "close", "volume")
FILES = {
    "candles_1h.csv": (CANDLE_COLS, ("taker_buy_volume",)),
    "candles_4h.csv": (CANDLE_COLS, ("taker_buy_volume",)),  # a venue's own 4 h bars
    "spot_candles_1h.csv": (CANDLE_COLS, ("taker_buy_volume",)),
    "funding.csv": (("timestamp", "rate"), ("interval_hours",)),
    "open_interest.csv": (("timestamp", "open_interest"), ("open_interest_value",)),
    # liquidated notional (USD) of longs and shorts: a print (at its price) or a period's
    # total stamped at the period's end, when it is known
    "liquidations.csv": (("timestamp", "long_usd", "short_usd"), ("price",)),
    # accounts long ÷ accounts short on the venue's perp (its long/short account ratio)
    "long_short.csv": (("timestamp", "ratio"), ()),
}
# Order of kinds that share one instant: prices first (they mark positions), then cash.
# Events run by the instant they become known, then by kind (EVENT_ORDER below).
CANDLE, SPOT, FUNDING, OI, LIQUIDATION, CANDLE_4H, LONG_SHORT = 0, 1, 2, 3, 4, 5, 6


class DataError(ValueError):
    """Bad market data; the message names the file and the row."""


class CandleEvent(NamedTuple):
    kind: int  # CANDLE or SPOT
    exchange: str
    symbol: str  # perp symbol for CANDLE, spot symbol (BTC/USDT) for SPOT
    ts: int  # open time
    seen: int  # close time: when the bar becomes known
    open: float
    high: float
    low: float
    close: float
    volume: float
    taker_buy: float  # NaN when the feed has none


class FundingEvent(NamedTuple):
    kind: int
    exchange: str
    symbol: str
    ts: int
    seen: int
    rate: float  # as paid, per interval
    interval_hours: float


class OIEvent(NamedTuple):
    kind: int
    exchange: str
    symbol: str
    ts: int
    seen: int
    open_interest: float
    value: float  # NaN when absent


class LiquidationEvent(NamedTuple):
    kind: int
    exchange: str
    symbol: str
    ts: int
    seen: int
    long_usd: float  # longs liquidated
    short_usd: float
    price: float  # NaN for a period's total


class RatioEvent(NamedTuple):
    kind: int  # LONG_SHORT
    exchange: str
    symbol: str
    ts: int
    seen: int
    ratio: float  # accounts long ÷ accounts short


Event = CandleEvent | FundingEvent | OIEvent | LiquidationEvent | RatioEvent
EVENT_ORDER = attrgetter("seen", "kind")  # the key events are ordered by


def read_table(path: Path) -> pd.DataFrame:
    """Read and validate one file of the layout; raise DataError naming file and row."""
    required, optional = FILES[path.name]
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot be read as CSV: {err}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    unknown = [c for c in df.columns if c not in required + optional]
    if unknown:
        raise DataError(f"{path}: unknown column(s) {', '.join(unknown)}")
    for col in df.columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if len(bad):
            row = int(bad[0])
            raise DataError(f"{path}: line {row + 2}: {col} is missing or not a finite number "
                            f"({df[col].iloc[row]!r})")
        df[col] = values
    ts = df["timestamp"].to_numpy()
    out = np.flatnonzero((ts < 0) | (ts >= MAX_TS))
    if len(out):
        row = int(out[0])
        raise DataError(f"{path}: line {row + 2}: timestamp {df['timestamp'].iloc[row]:g} is "
                        "not a time in ms between 1970 and 2286")
    if len(ts) and (ts != np.floor(ts)).any():
        row = int(np.flatnonzero(ts != np.floor(ts))[0])
        raise DataError(f"{path}: line {row + 2}: timestamp {ts[row]} is not whole milliseconds")
    df["timestamp"] = df["timestamp"].astype(np.int64)
    ts = df["timestamp"].to_numpy()
    steps = np.diff(ts)
    if (steps <= 0).any():
        row = int(np.flatnonzero(steps <= 0)[0]) + 1
        what = "duplicate" if steps[row - 1] == 0 else "out-of-order"
        raise DataError(f"{path}: line {row + 2}: {what} timestamp {ts[row]} "
                        f"(previous {ts[row - 1]})")
    if path.name.endswith(("candles_1h.csv", "candles_4h.csv")):
        _check_candles(path, df)
    if "interval_hours" in df:
        hours = df["interval_hours"].to_numpy()
        bad = np.flatnonzero(~((hours > 0) & (hours <= 24)))
        if len(bad):
            row = int(bad[0])
            raise DataError(f"{path}: line {row + 2}: interval_hours {hours[row]} is not "
                            "a funding interval (0 < hours <= 24)")
    for col in ("long_usd", "short_usd", "open_interest", "open_interest_value", "ratio"):
        if col in df and (df[col].to_numpy() < 0).any():
            row = int(np.flatnonzero(df[col].to_numpy() < 0)[0])
            raise DataError(f"{path}: line {row + 2}: {col} {df[col].iloc[row]} is negative")
    return df


def _check_candles(path: Path, df: pd.DataFrame) -> None:
    o, h, lo, c = (df[k].to_numpy() for k in ("open", "high", "low", "close"))
    bad = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (lo <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: line {row + 2}: high/low do not contain open/close "
                        f"(o={o[row]} h={h[row]} l={lo[row]} c={c[row]})")
    if (df["volume"].to_numpy() < 0).any():
        row = int(np.flatnonzero(df["volume"].to_numpy() < 0)[0])
        raise DataError(f"{path}: line {row + 2}: negative volume")


@dataclass
class MarketData:
    """All files of one data folder, validated, keyed by (exchange, symbol, file)."""

    root: Path
    tables: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)
    # what is derived from the tables alone, made once for every replay of them (a study's
    # trials): (what, its arguments) -> it
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def exchanges(self) -> list[str]:
        return sorted({ex for ex, _, _ in self.tables})

    @property
    def symbols(self) -> list[str]:
        return sorted({sym for _, sym, _ in self.tables})

    def first_price(self, symbol: str) -> float:
        for (_, sym, name), df in self.tables.items():
            if sym == symbol and name == "candles_1h.csv" and len(df):
                return float(df["close"].iloc[0])
        raise DataError(f"{self.root}: no candles for {symbol}")

    def events(self, start: int | None = None) -> Iterator[Event]:
        """Every event in the order it becomes known; only those seen after `start`."""
        return _merge(self.tables, start)

    def count(self) -> int:
        """How many events the folder holds (without making them)."""
        return sum(len(df) for df in self.tables.values())


def load(root: str | Path, symbols: tuple[str, ...] | None = None,
         exchanges: tuple[str, ...] | None = None) -> MarketData:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder does not exist")
    data = MarketData(root)
    wanted = {s: None for s in symbols} if symbols else None
    for ex_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if ex_dir.name not in VENUES:
            raise DataError(f"{ex_dir}: unknown exchange folder {ex_dir.name!r} "
                            f"(known: {', '.join(VENUES)})")
        if exchanges and ex_dir.name not in exchanges:
            continue
        for sym_dir in sorted(p for p in ex_dir.iterdir() if p.is_dir()):
            try:
                symbol = dir_symbol(sym_dir.name)
            except ValueError as err:
                raise DataError(f"{sym_dir}: {err}") from None
            if wanted is not None and symbol not in wanted:
                continue
            for name in FILES:
                path = sym_dir / name
                if path.exists():
                    data.tables[(ex_dir.name, symbol, name)] = read_table(path)
    if wanted:
        have = {sym for _, sym, _ in data.tables}
        missing = [s for s in wanted if s not in have]
        if missing:
            raise DataError(f"{root}: no data for symbol(s) {', '.join(missing)}")
    if not any(name == "candles_1h.csv" for _, _, name in data.tables):
        raise DataError(f"{root}: no candles_1h.csv under <exchange>/<SYMBOL>/")
    return data


def funding_interval_hours(ts: np.ndarray) -> float:
    """A file without an interval column: the median spacing of its prints (8 h alone)."""
    if len(ts) < 2:
        return 8.0
    return float(np.median(np.diff(ts))) / HOUR_MS


def stated_interval(funding: pd.DataFrame) -> float:
    """A funding table's interval in hours: its last print's `interval_hours`, else the
    median spacing of its prints."""
    if "interval_hours" in funding and len(funding):
        return float(funding["interval_hours"].iloc[-1])
    return funding_interval_hours(funding["timestamp"].to_numpy())


CHUNK = 4096  # rows turned into Python values at a time (not a whole table's worth)


def _rows(ex: str, sym: str, name: str, df: pd.DataFrame) -> Iterator[Event]:
    """One table's events, oldest first, made as they are read."""
    ts = df["timestamp"].to_numpy()
    if name in ("candles_1h.csv", "spot_candles_1h.csv", "candles_4h.csv"):
        kind = {"candles_1h.csv": CANDLE, "candles_4h.csv": CANDLE_4H}.get(name, SPOT)
        span = 4 * HOUR_MS if kind == CANDLE_4H else HOUR_MS
        target = sym if kind != SPOT else "{}/{}".format(*split_symbol(sym)[:2])
        taker = (df["taker_buy_volume"].to_numpy() if "taker_buy_volume" in df
                 else np.full(len(df), np.nan))
        cols = [df[k].to_numpy() for k in ("open", "high", "low", "close", "volume")]
        for t, *vals in _chunked(ts, *cols, taker):
            yield CandleEvent(kind, ex, target, t, t + span, *vals)
    elif name == "funding.csv":
        hours = (df["interval_hours"].to_numpy() if "interval_hours" in df
                 else np.full(len(df), funding_interval_hours(ts)))
        for t, r, h in _chunked(ts, df["rate"].to_numpy(), hours):
            yield FundingEvent(FUNDING, ex, sym, t, t, r, h)
    elif name == "long_short.csv":
        for t, r in _chunked(ts, df["ratio"].to_numpy()):
            yield RatioEvent(LONG_SHORT, ex, sym, t, t, r)
    elif name == "liquidations.csv":
        price = df["price"].to_numpy() if "price" in df else np.full(len(df), np.nan)
        for t, lg, sh, px in _chunked(ts, df["long_usd"].to_numpy(),
                                      df["short_usd"].to_numpy(), price):
            yield LiquidationEvent(LIQUIDATION, ex, sym, t, t, lg, sh, px)
    else:
        val = (df["open_interest_value"].to_numpy() if "open_interest_value" in df
               else np.full(len(df), np.nan))
        for t, o, v in _chunked(ts, df["open_interest"].to_numpy(), val):
            yield OIEvent(OI, ex, sym, t, t, o, v)


def _chunked(*columns: np.ndarray) -> Iterator[tuple]:
    """Rows of the columns as Python values, converted CHUNK rows at a time."""
    for i in range(0, len(columns[0]), CHUNK):
        yield from zip(*(c[i:i + CHUNK].tolist() for c in columns))


def _merge(tables: dict[tuple[str, str, str], pd.DataFrame], start: int | None
           ) -> Iterator[Event]:
    """All tables' events ordered by (seen, kind); ties keep table order, then row order
    (heapq.merge is stable). Lazy: memory holds one pending event per table, not the
    whole history."""
    streams = [_rows(ex, sym, name, df) for (ex, sym, name), df in sorted(tables.items())]
    merged = heapq.merge(*streams, key=EVENT_ORDER)
    if start is None:
        return merged
    return (e for e in merged if e.seen > start)
