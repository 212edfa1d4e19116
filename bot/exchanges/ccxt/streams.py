"""Liquidation prints from a venue's websocket through ccxt.pro (Binance `forceOrder`, Bybit
`allLiquidation`), kept until the market-data plane's next poll takes them. A dropped stream
reconnects with backoff; the venues keep no public history of prints, so what was missed
while it was down is gone (the liquidation map's OI estimate does not depend on it)."""

from __future__ import annotations

import asyncio
import logging
import math

from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.exchanges.ccxt.requests import UNREACHABLE
from bot.logs import kv
from bot.marketdata.layout import LIQUIDATION, LiquidationEvent

log = logging.getLogger("derivbot.marketdata")
# the side ccxt reports for a print that liquidated a long: Binance sends the liquidation
# order's side (a long is sold), Bybit the side of the position liquidated
LONG_SIDE = {"binanceusdm": "sell", "bybit": "buy"}
MAX_BACKOFF_S = 60.0
TAKEN_KEPT = 5000  # prints remembered as taken (ccxt.pro's cache holds 1 000)


def streams_liquidations(venue: str) -> bool:
    return venue in LONG_SIDE


class LiquidationStream:
    """One venue's liquidation prints for `symbols` (perps), as LiquidationEvents."""

    def __init__(self, gw: CcxtGateway, symbols: tuple[str, ...]) -> None:
        self.gw, self.symbols = gw, symbols
        self.pending: list[LiquidationEvent] = []
        self.tasks: list[asyncio.Task] = []
        self.connected = False
        self.received = 0
        self._taken: dict[tuple, None] = {}  # prints already taken, oldest first

    def start(self) -> None:
        if self.gw.name == "binanceusdm":  # one stream carries every symbol
            self.tasks = [asyncio.create_task(self._follow(self.symbols))]
        else:
            self.tasks = [asyncio.create_task(self._follow((s,))) for s in self.symbols]

    async def _watch(self, symbols: tuple[str, ...]) -> list[dict]:
        ex = self.gw.ex
        if len(symbols) > 1 or self.gw.name == "binanceusdm":
            return await ex.watch_liquidations_for_symbols(list(symbols))
        return await ex.watch_liquidations(symbols[0])

    async def _follow(self, symbols: tuple[str, ...]) -> None:
        wait = 1.0
        while True:
            try:
                prints = await self._watch(symbols)
            except UNREACHABLE as err:
                self.connected = False
                log.warning("liquidation_stream_down", extra=kv(
                    venue=self.gw.name, error=repr(err)[:200], retry_s=wait))
                await asyncio.sleep(wait)
                wait = min(wait * 2, MAX_BACKOFF_S)
                continue
            self.connected, wait = True, 1.0
            # ccxt.pro hands back what resolved its future; prints that arrived meanwhile
            # are only in its cache: take every one not taken before
            for p in [*prints, *(getattr(self.gw.ex, "liquidations", None) or [])]:
                key = (p.get("symbol"), p.get("timestamp"), p.get("price"), p.get("contracts"),
                       p.get("side"))
                if key not in self._taken:
                    self._taken[key] = None
                    self._add(p)
            while len(self._taken) > TAKEN_KEPT:
                del self._taken[next(iter(self._taken))]

    def _add(self, p: dict) -> None:
        price, amount = p.get("price"), p.get("contracts")
        if not price or not amount or p.get("symbol") not in self.symbols:
            return
        usd = float(amount) * float(p.get("contractSize") or 1) * float(price)
        is_long = str(p.get("side") or "").lower() == LONG_SIDE[self.gw.name]
        ts = int(p["timestamp"])
        last = self.pending[-1] if self.pending else None
        if last is not None and last.ts == ts and last.symbol == p["symbol"]:
            # prints of one millisecond are one row of the layout: summed, price weighted
            total = last.long_usd + last.short_usd + usd
            px = (last.price * (last.long_usd + last.short_usd) + float(price) * usd) / total
            self.pending[-1] = last._replace(long_usd=last.long_usd + usd * is_long,
                                             short_usd=last.short_usd + usd * (not is_long),
                                             price=px)
        else:
            self.pending.append(LiquidationEvent(LIQUIDATION, self.gw.name, p["symbol"], ts, ts,
                                                 usd if is_long else 0.0,
                                                 0.0 if is_long else usd, float(price)))
        self.received += 1

    def drain(self) -> list[LiquidationEvent]:
        out, self.pending = self.pending, []
        return [e for e in out if math.isfinite(e.price)]

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
