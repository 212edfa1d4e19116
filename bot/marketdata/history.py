"""Rolling market history per symbol, bounded by lookback, with indicators computed per bar."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from bot.marketdata.layout import (
    CANDLE,
    CANDLE_4H,
    FUNDING,
    LIQUIDATION,
    LONG_SHORT,
    OI,
    SPOT,
    CandleEvent,
    Event,
    FundingEvent,
    LiquidationEvent,
    OIEvent,
    RatioEvent,
)
from strategies.funding import to_8h
from strategies.indicators import WilderIndicators
from strategies.types import (
    DAY_MS,
    HOUR_MS,
    Candles,
    Liquidations,
    MarketView,
    OptionsChain,
    Series,
)

CANDLE_FIELDS = ("open", "high", "low", "close", "volume", "taker_buy", "atr", "adx")
TIMEFRAMES = {"1h": HOUR_MS, "4h": 4 * HOUR_MS, "1d": DAY_MS}


class Ring:
    """Columns appended row by row (floats, or the dtype given); keeps the last `maxlen`
    rows contiguous."""

    def __init__(self, fields: tuple[str, ...], maxlen: int, dtype=np.float64) -> None:
        self.fields = fields
        self.maxlen = maxlen
        self.data = np.empty((len(fields), 2 * maxlen), dtype=dtype)
        self.start = self.end = 0

    def append(self, row: tuple[float, ...]) -> None:
        if self.end == self.data.shape[1]:
            keep = self.maxlen - 1
            self.data[:, :keep] = self.data[:, self.end - keep:self.end]
            self.start, self.end = 0, keep
        self.data[:, self.end] = row
        self.end += 1
        if self.end - self.start > self.maxlen:
            self.start += 1

    def column(self, i: int) -> np.ndarray:
        return self.data[i, self.start:self.end]

    def __len__(self) -> int:
        return self.end - self.start


class Bars:
    """One timeframe's candles with their indicators, oldest first."""

    def __init__(self, bars: int) -> None:
        self.candles = Ring(CANDLE_FIELDS, bars)
        self.times = Ring(("ts",), bars, np.int64)  # the candles' open times, as integers
        self.indicators = WilderIndicators(14)

    def add(self, ts: int, o: float, h: float, lo: float, c: float, v: float,
            taker: float) -> None:
        atr, adx = self.indicators.update(h, lo, c)
        self.candles.append((o, h, lo, c, v, taker, atr, adx))
        self.times.append((ts,))

    def view(self) -> Candles:
        c = self.candles
        tb = c.column(5)
        return Candles(self.times.column(0), c.column(0), c.column(1), c.column(2),
                       c.column(3), c.column(4), c.column(6), c.column(7),
                       None if len(tb) == 0 or np.isnan(tb[-1]) else tb)


class Coarser(Bars):
    """Bars of `span` ms built from the hourly ones (UTC-aligned), each appended when its
    last hour closes: a bar is known only at its close, and a bucket with a missing hour is
    the hours it has. Or fed whole bars of that span (a file at that timeframe)."""

    def __init__(self, span: int, bars: int) -> None:
        super().__init__(bars)
        self.span = span
        self.open: list | None = None  # [start, o, h, l, c, v, taker] being built
        self.fed = False  # whole bars come from the data: hourly ones are not aggregated

    def hour(self, e: CandleEvent) -> None:
        if self.fed:
            return
        start = e.ts - e.ts % self.span
        b = self.open
        if b is not None and b[0] != start:  # a bucket whose last hour never came
            self._close()
            b = None
        if b is None:
            self.open = [start, e.open, e.high, e.low, e.close, e.volume, e.taker_buy]
        else:
            b[2], b[3], b[4] = max(b[2], e.high), min(b[3], e.low), e.close
            b[5] += e.volume
            b[6] += e.taker_buy
        if e.seen % self.span == 0:
            self._close()

    def whole(self, e: CandleEvent) -> None:
        if not self.fed:  # the venue's own bars from here: none built from hours beside them
            Bars.__init__(self, self.candles.maxlen)
            self.fed, self.open = True, None
        self.add(e.ts, e.open, e.high, e.low, e.close, e.volume, e.taker_buy)

    def _close(self) -> None:
        self.add(*self.open)
        self.open = None


class Lazy(Mapping):
    """Venue -> its series, each made from the history's ring the first time it is read:
    most bars' decisions read the candles alone. Like the view it is part of, valid until
    the history takes the next event."""

    __slots__ = ("_built", "_keys", "_make", "_rings")

    def __init__(self, rings: dict[str, Ring], left_out: dict, make) -> None:
        self._rings, self._make, self._built = rings, make, {}
        self._keys = tuple(ex for ex in rings if ex not in left_out) if left_out \
            else tuple(rings)

    def __getitem__(self, venue: str):
        made = self._built.get(venue)
        if made is None:
            if venue not in self._keys:
                raise KeyError(venue)
            made = self._built[venue] = self._make(self._rings[venue])
        return made

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, venue: object) -> bool:
        return venue in self._keys


def _series(r: Ring) -> Series:
    return Series(r.column(0), r.column(1))


def _liquidations(r: Ring) -> Liquidations:
    return Liquidations(r.column(0), r.column(1), r.column(2), r.column(3))


class SymbolHistory:
    def __init__(self, symbol: str, bars: int, funding_periods: int, oi_points: int,
                 timeframes: tuple[str, ...] = ()) -> None:
        self.symbol = symbol
        self.bars = Bars(bars)  # the hourly ones
        self.coarser = {tf: Coarser(TIMEFRAMES[tf], bars) for tf in timeframes if tf != "1h"}
        self.funding: dict[str, Ring] = {}
        self.oi: dict[str, Ring] = {}
        self.liquidations: dict[str, Ring] = {}
        self.long_short: dict[str, Ring] = {}  # venue -> its long/short account ratio
        self._funding_len, self._oi_len = funding_periods, oi_points
        self.funding_version = 0  # prints added: readings of funding alone can be reused

    def add_candle(self, e: CandleEvent) -> None:
        self.bars.add(e.ts, e.open, e.high, e.low, e.close, e.volume, e.taker_buy)
        for tf in self.coarser.values():
            tf.hour(e)

    def add_funding(self, e: FundingEvent) -> None:
        ring = self.funding.setdefault(e.exchange, Ring(("ts", "v"), self._funding_len))
        ring.append((e.ts, to_8h(e.rate, e.interval_hours)))
        self.funding_version += 1

    def add_oi(self, e: OIEvent) -> None:
        ring = self.oi.setdefault(e.exchange, Ring(("ts", "v"), self._oi_len))
        ring.append((e.ts, e.open_interest))

    def add_ratio(self, e: RatioEvent) -> None:
        ring = self.long_short.setdefault(e.exchange, Ring(("ts", "v"), self._oi_len))
        ring.append((e.ts, e.ratio))

    def add_liquidation(self, e: LiquidationEvent) -> None:
        ring = self.liquidations.setdefault(e.exchange,
                                            Ring(("ts", "long", "short", "price"), self._oi_len))
        ring.append((e.ts, e.long_usd, e.short_usd, e.price))


class History:
    """What the signal modules see: the venue's candles, every exchange's funding and OI."""

    def __init__(self, venue: str, bars: int = 2_400, funding_periods: int = 400,
                 oi_points: int = 800, timeframes: tuple[str, ...] = ()) -> None:
        """`timeframes`: the coarser bars ("4h", "1d") strategies read besides 1 h."""
        self.venue = venue
        self.sizes = (bars, funding_periods, oi_points, tuple(timeframes))
        self.symbols: dict[str, SymbolHistory] = {}
        self.quotes: dict[str, tuple[int, float]] = {}  # perp or spot: (seen, last close)
        self.stale: dict[str, str] = {}  # venue -> why its data is not current
        self.options: dict[str, OptionsChain] = {}  # symbol -> its latest options chain
        self._stale_version = 0

    def _of(self, symbol: str) -> SymbolHistory:
        h = self.symbols.get(symbol)
        if h is None:
            h = self.symbols[symbol] = SymbolHistory(symbol, *self.sizes)
        return h

    def ingest(self, e: Event) -> bool:
        """Add one event; True when it is a new venue candle (a decision point)."""
        if e.kind == CANDLE:
            if e.exchange != self.venue:
                return False
            self._of(e.symbol).add_candle(e)
            self.quotes[e.symbol] = (e.seen, e.close)
            return True
        if e.kind == CANDLE_4H:
            tf = self._of(e.symbol).coarser.get("4h")
            if e.exchange == self.venue and tf is not None:
                tf.whole(e)
            return False
        if e.kind == SPOT:
            if e.exchange == self.venue:
                self.quotes[e.symbol] = (e.seen, e.close)
            return False
        if e.kind == FUNDING:
            self._of(e.symbol).add_funding(e)
        elif e.kind == OI:
            self._of(e.symbol).add_oi(e)
        elif e.kind == LIQUIDATION:
            self._of(e.symbol).add_liquidation(e)
        elif e.kind == LONG_SHORT:
            self._of(e.symbol).add_ratio(e)
        return False

    def view(self, symbol: str, now: int, timeframe: str = "1h") -> MarketView:
        """What is known of `symbol` at `now`, its candles at `timeframe` (a coarser one
        holds only the bars closed by now)."""
        h = self._of(symbol)
        candles = (h.bars if timeframe == "1h" else h.coarser[timeframe]).view()
        out = self.stale
        return MarketView(symbol, self.venue, now, candles, Lazy(h.funding, out, _series),
                          Lazy(h.oi, out, _series),
                          funding_version=h.funding_version + (self._stale_version << 32),
                          liquidations=Lazy(h.liquidations, out, _liquidations),
                          stale=dict(out), long_short=Lazy(h.long_short, out, _series),
                          options=None if "deribit" in out else self.options.get(symbol))

    def mark(self, venue: str, why: str | None) -> None:
        """A venue's data went stale (`why`) or is current again (None): a stale venue's
        funding, OI and liquidations are left out of every view until it is back."""
        if self.stale.get(venue) != why:
            if why is None:
                self.stale.pop(venue, None)
            else:
                self.stale[venue] = why
            self._stale_version += 1

    def last_open(self, symbol: str, timeframe: str = "1h") -> int | None:
        """The open time of `symbol`'s last closed bar at `timeframe` (None: none yet)."""
        h = self._of(symbol)
        times = (h.bars if timeframe == "1h" else h.coarser[timeframe]).times
        return int(times.data[0, times.end - 1]) if len(times) else None

    def funding_version(self, symbol: str) -> int:
        """A count that changes whenever `symbol` gains a funding print."""
        return self._of(symbol).funding_version

    def funding_series(self, symbol: str) -> Series | None:
        """The venue's funding prints for `symbol` (8 h-equivalent), oldest first."""
        ring = self._of(symbol).funding.get(self.venue)
        return None if ring is None else Series(ring.column(0), ring.column(1))

    def closes(self, symbol: str, n: int) -> np.ndarray:
        return self._of(symbol).bars.candles.column(3)[-n:]

    def quote(self, symbol: str, now: int, max_age_ms: int) -> float:
        """The last close of `symbol` (a perp, or a spot market) seen within `max_age_ms`
        of `now`; NaN when there is none that fresh."""
        seen, price = self.quotes.get(symbol, (None, math.nan))
        return price if seen is not None and now - seen <= max_age_ms else math.nan

    def last_close(self, symbol: str) -> float:
        c = self._of(symbol).bars.candles
        return float(c.column(3)[-1]) if len(c) else math.nan
