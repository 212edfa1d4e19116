"""The gateways the contract suite runs against: in-process ("sim"), and real ccxt over HTTP
to the local exchange in Binance USD-M's dialect ("ccxt") or Bybit v5's ("bybit")."""

from __future__ import annotations

from contextlib import asynccontextmanager

from bot.exchanges.ccxt.gateways import gateway_for
from bot.exchanges.localex import LocalExchange, exchange_class, start, venue_urls
from bot.exchanges.localex.guard import Faults, Limits
from bot.exchanges.sim.exchange import SimExchange
from bot.exchanges.sim.gateway import SimGateway
from tests.helpers import BTC, sim


class Venue:
    def __init__(self, gw, ex: SimExchange, local: LocalExchange | None = None) -> None:
        self.gw, self.ex, self.local = gw, ex, local

    def candle(self, symbol: str, t: int, o: float, h: float, lo: float, c: float,
               volume: float | None = None) -> None:
        if self.local is not None:
            self.local.candle(symbol, t, o, h, lo, c, volume)
        else:
            self.ex.on_candle(symbol, t, o, h, lo, c, volume)

    def funding(self, symbol: str, t: int, rate: float) -> None:
        if self.local is not None:
            self.local.funding(symbol, t, rate)
            self.gw.expect_funding()
        else:
            self.ex.on_funding(symbol, t, rate)


@asynccontextmanager
async def venue(kind: str, ex: SimExchange | None = None, limits: Limits | None = None,
                faults: Faults | None = None, **gw_kw):
    ex = ex or sim()
    if kind == "sim":
        yield Venue(SimGateway(ex), ex)
        return
    name = "bybit" if kind == "bybit" else "binanceusdm"
    local = exchange_class(name)(ex, limits=limits or Limits(weight_per_minute=10**9,
                                                             orders_per_10s=10**9,
                                                             orders_per_minute=10**9),
                                 faults=faults)
    runner, base = await start(local)
    spot = gw_kw.pop("spot", False)
    gw = gateway_for(name, "local-key", "local-secret", urls=venue_urls(name, base),
                     symbols=(BTC, "BTC/USDT") if spot else (BTC,), spot=spot,
                     rate_limit_ms=gw_kw.pop("rate_limit_ms", 0),
                     base_wait=gw_kw.pop("base_wait", 0.01), **gw_kw)
    try:
        await gw.load_markets()
        yield Venue(gw, ex, local)
    finally:
        await gw.close()
        await runner.cleanup()
