"""Market data through ccxt: history into the canonical layout (`derivbot data fetch`), and a
polled live feed of closed candles, funding and open interest with staleness tracked."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from ccxt.base.errors import BaseError, ExchangeError

from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.logs import kv
from bot.marketdata.layout import (
    CANDLE,
    EVENT_ORDER,
    FUNDING,
    LONG_SHORT,
    OI,
    SPOT,
    CandleEvent,
    Event,
    FundingEvent,
    OIEvent,
    RatioEvent,
)
from bot.markets import symbol_dir
from strategies.types import HOUR_MS

log = logging.getLogger("derivbot.marketdata")
INTERVALS = (1.0, 2.0, 4.0, 8.0)  # hours between funding prints that venues use


class MarketFetcher:
    """History pages from one exchange; Binance's raw klines keep the taker-buy volume."""

    def __init__(self, gw: CcxtGateway) -> None:
        self.gw = gw
        self.limits = gw.profile.data_limits  # rows a page: candles, funding, OI

    async def candles(self, symbol: str, since: int, limit: int | None = None
                      ) -> list[list[float]]:
        """Hourly bars opening at or after `since` (a perp, or a spot market), oldest first."""
        ex = self.gw.ex
        limit = limit or self.limits[0]
        if self.gw.name == "binanceusdm":
            market = ex.market(symbol)
            get = ex.publicGetKlines if market.get("spot") else ex.fapiPublicGetKlines
            raw = await self.gw.call("klines", get, {"symbol": market["id"], "interval": "1h",
                                                     "startTime": since, "limit": limit})
            return [[int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]),
                     float(r[9])] for r in raw]
        until = since + limit * HOUR_MS - 1  # a window from `since`, not the newest bars
        rows = await self.gw.call("ohlcv", ex.fetch_ohlcv, symbol, "1h", since, limit,
                                  {"until": until})
        return [[int(r[0]), *map(float, r[1:6]), math.nan] for r in rows]

    async def funding(self, symbol: str, since: int, limit: int | None = None
                      ) -> list[tuple[int, float]]:
        rows = await self.gw.call("funding_rates", self.gw.ex.fetch_funding_rate_history,
                                  symbol, since, limit or self.limits[1])
        return [(int(r["timestamp"]), float(r["fundingRate"])) for r in rows]

    async def funding_interval(self, symbol: str) -> float | None:
        """The hours between the market's funding prints, as the exchange states them:
        Binance lists the markets that do not pay every 8 h in /fapi/v1/fundingInfo, Bybit
        gives each market's interval in minutes, OKX answers per market. None when the
        exchange does not say (or cannot be reached)."""
        ex = self.gw.ex
        try:
            if self.gw.name == "binanceusdm":
                rows = await self.gw.call("funding_info", ex.fapiPublicGetFundingInfo)
                wanted = ex.market(symbol)["id"]
                return next((float(r["fundingIntervalHours"]) for r in rows
                             if r.get("symbol") == wanted), 8.0)
            if self.gw.name == "bybit":
                minutes = ex.market(symbol)["info"].get("fundingInterval")
                return float(minutes) / 60 if minutes else 8.0
            answer = await self.gw.call("funding_interval", ex.fetch_funding_interval, symbol)
            return float(str(answer.get("interval") or "8h").rstrip("h"))
        except (BaseError, KeyError, ValueError):
            return None

    async def open_interest(self, symbol: str, since: int, limit: int | None = None
                            ) -> list[tuple[int, float, float]]:
        """Hourly open interest in base units (OKX counts contracts: times their size)."""
        rows = await self.gw.call("open_interest", self.gw.ex.fetch_open_interest_history,
                                  symbol, "1h", since, limit or self.limits[2])
        size = 1.0
        if self.gw.name == "okx":
            size = float(self.gw.ex.market(symbol).get("contractSize") or 1)
        return [(int(r["timestamp"]), float(r["openInterestAmount"] or 0) * size,
                 float(r.get("openInterestValue") or math.nan)) for r in rows]

    async def long_short(self, symbol: str, since: int, limit: int | None = None
                         ) -> list[tuple[int, float]]:
        """The venue's hourly long/short account ratio (accounts long ÷ short)."""
        rows = await self.gw.call("long_short", self.gw.ex.fetch_long_short_ratio_history,
                                  symbol, "1h", since, limit or self.limits[3])
        return sorted((int(r["timestamp"]), float(r["longShortRatio"])) for r in rows
                      if r.get("longShortRatio"))


async def pages(fetch: Callable, symbol: str, since: int, until: int, hop: int,
                closed: bool = False, progress: Callable[[int], None] | None = None) -> list:
    """Every row from `since` to before `until` (a bar only once it has closed by then),
    page after page, oldest first. An empty page moves on by `hop` ms, not to the end:
    some venues answer per window (Bybit, OKX), and an empty window is not the last."""
    out: list = []
    cursor = since
    while cursor < until:
        page = [r for r in await fetch(symbol, cursor)
                if r[0] >= cursor and r[0] + (HOUR_MS if closed else 0) < until]
        if page:
            out.extend(page)
            cursor = page[-1][0] + 1
            if progress is not None:
                progress(page[-1][0])
        else:
            cursor += hop
    return out


def print_intervals(times: list[int], stated: float) -> list[float]:
    """Each print's interval in hours: the gap to the print before it when that is a
    funding interval (1, 2, 4 or 8 h; a longer gap is a missing print, not a slower
    market), else the interval before it; the first print's is the gap to the next, or the
    interval the exchange states."""
    out: list[float] = []
    for i, t in enumerate(times):
        gap = (t - times[i - 1]) / HOUR_MS if i else (
            (times[1] - t) / HOUR_MS if len(times) > 1 else stated)
        out.append(gap if gap in INTERVALS else (out[-1] if out else stated))
    return out


def _resume_from(path: Path, default: int) -> tuple[int, pd.DataFrame | None]:
    if not path.exists():
        return default, None
    old = pd.read_csv(path)
    if old.empty:
        return default, None
    return int(old["timestamp"].iloc[-1]) + 1, old


async def fetch_history(gw: CcxtGateway, symbol: str, since: int, until: int, out: Path,
                        progress: Callable[[int], None] | None = None) -> Path:
    """Candles, funding and OI from `since` (or where an earlier fetch stopped) to `until`."""
    folder = out / gw.name / symbol_dir(symbol)
    folder.mkdir(parents=True, exist_ok=True)
    f = MarketFetcher(gw)
    candles, funding, oi, _ = f.limits  # rows a page
    jobs = (
        ("candles_1h.csv", f.candles, candles,
         ["timestamp", "open", "high", "low", "close", "volume", "taker_buy_volume"]),
        ("funding.csv", f.funding, funding, ["timestamp", "rate"]),  # + interval_hours
        ("open_interest.csv", f.open_interest, oi,
         ["timestamp", "open_interest", "open_interest_value"]),
    )
    for name, fetch, limit, cols in jobs:
        path = folder / name
        start, old = _resume_from(path, since)
        rows = await pages(fetch, symbol, start, until, limit * HOUR_MS,
                           progress=progress if name.startswith("c") else None)
        new = pd.DataFrame(rows, columns=cols)
        if name == "funding.csv":
            before = [] if old is None else old["timestamp"].tolist()[-1:]
            stated = await f.funding_interval(symbol) or 8.0
            new["interval_hours"] = print_intervals(before + new["timestamp"].tolist(),
                                                    stated)[len(before):]
        if name == "candles_1h.csv" and new["taker_buy_volume"].isna().all():
            new = new.drop(columns="taker_buy_volume")
        if name == "open_interest.csv" and new["open_interest_value"].isna().all():
            new = new.drop(columns="open_interest_value")
        frame = new if old is None else pd.concat([old, new], ignore_index=True)
        if not frame.empty:
            frame.to_csv(path, index=False)
    return folder


class CcxtFeed:
    """One venue's closed 1 h candles, funding prints, OI and long/short ratio: what became
    known since the last poll (the market-data plane polls it on a schedule)."""

    def __init__(self, gw: CcxtGateway, symbols: tuple[str, ...], history_bars: int = 720,
                 metrics=None) -> None:
        self.gw, self.symbols = gw, symbols
        self.history_bars = history_bars
        self.fetch = MarketFetcher(gw)
        self.metrics = metrics
        self.last: dict[tuple[int, str], int] = {}
        self.intervals: dict[str, tuple[int, float]] = {}  # symbol: (asked at, hours)
        self.ratios = True  # the venue answers for its long/short ratio

    def _now(self) -> int:
        return int(time.time() * 1000)

    async def _rows(self, fetch: Callable, symbol: str, since: int, now: int, limit: int,
                    closed: bool = False) -> list:
        """Every row from `since` to `now` (pages of `limit` hours when a venue windows)."""
        return await pages(fetch, symbol, since, now + 1, limit * HOUR_MS, closed)

    async def poll(self, now: int | None = None) -> list[Event]:
        """Everything that became known since the last poll (by `now`, the venue's time),
        in the layout's event order. A poll that fails leaves the cursors where they were,
        so the next one fetches the gap."""
        now = self._now() if now is None else now
        events: list[Event] = []
        venue, limits = self.gw.name, self.fetch.limits
        cursors = dict(self.last)
        start = now - self.history_bars * HOUR_MS
        for sym in self.symbols:
            kind = SPOT if ":" not in sym else CANDLE  # a spot market, or a perp
            key = (kind, sym)
            for r in await self._rows(self.fetch.candles, sym, cursors.get(key, start), now,
                                      limits[0], closed=True):
                events.append(CandleEvent(kind, venue, sym, r[0], r[0] + HOUR_MS, *r[1:6],
                                          r[6]))
                cursors[key] = r[0] + 1
            if kind == SPOT:
                continue
            prints = await self._rows(self.fetch.funding, sym, cursors.get((FUNDING, sym), start),
                                      now, limits[1])
            if prints:
                stated = await self._interval(sym, now)
                before = [cursors[(FUNDING, sym)] - 1] if (FUNDING, sym) in cursors else []
                hours = print_intervals(before + [t for t, _ in prints], stated)[len(before):]
                for (t, rate), h in zip(prints, hours, strict=True):
                    events.append(FundingEvent(FUNDING, venue, sym, t, t, rate, h))
                cursors[(FUNDING, sym)] = prints[-1][0] + 1
            oi_start = now - min(self.history_bars, 500) * HOUR_MS  # Binance keeps 30 days
            for t, amount, value in await self._rows(
                    self.fetch.open_interest, sym, cursors.get((OI, sym), oi_start), now,
                    limits[2]):
                events.append(OIEvent(OI, venue, sym, t, t, amount, value))
                cursors[(OI, sym)] = t + 1
            if self.ratios:
                try:
                    for t, ratio in await self._rows(
                            self.fetch.long_short, sym,
                            cursors.get((LONG_SHORT, sym), oi_start), now, limits[3]):
                        events.append(RatioEvent(LONG_SHORT, venue, sym, t, t, ratio))
                        cursors[(LONG_SHORT, sym)] = t + 1
                except ExchangeError as err:  # refused (not unreachable): read no ratio here
                    self.ratios = False
                    log.warning("no_long_short_ratio", extra=kv(venue=venue,
                                                                error=repr(err)[:160]))
            if self.metrics is not None and (CANDLE, sym) in cursors:
                age = (now - cursors[(CANDLE, sym)] - HOUR_MS) / 1000
                self.metrics.data_age.labels(sym).set(max(age, 0))
        self.last = cursors
        events.sort(key=EVENT_ORDER)
        return events

    def newest_bar(self) -> int | None:
        """When the newest perp bar seen closed (ms), or None before any."""
        opens = [t for (kind, _), t in self.last.items() if kind == CANDLE]
        return max(opens) - 1 + HOUR_MS if opens else None

    async def _interval(self, symbol: str, now: int) -> float:
        """The exchange's stated interval for `symbol`, asked again every hour."""
        asked, hours = self.intervals.get(symbol, (None, 8.0))
        if asked is None or now - asked >= HOUR_MS:
            hours = await self.fetch.funding_interval(symbol) or hours  # unsaid: as before
            self.intervals[symbol] = (now, hours)
        return hours

