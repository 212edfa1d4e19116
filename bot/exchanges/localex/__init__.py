"""The local exchange on loopback, backed by the SimExchange engine: Binance USD-M's REST
dialect, or Bybit v5's."""

from __future__ import annotations

from aiohttp import web

from bot.exchanges.localex.bybitex import BybitExchange
from bot.exchanges.localex.server import LocalExchange
from bot.exchanges.localex.venues import MarketTime

API_KEYS = ("fapiPublic", "fapiPublicV2", "fapiPublicV3", "fapiPrivate", "fapiPrivateV2",
            "fapiPrivateV3", "fapiData", "public", "private", "sapi")


def api_urls(base: str) -> dict[str, str]:
    """ccxt's api url table for Binance pointed at a local exchange at `base`."""
    return {
        "fapiPublic": f"{base}/fapi/v1", "fapiPublicV2": f"{base}/fapi/v2",
        "fapiPublicV3": f"{base}/fapi/v3", "fapiPrivate": f"{base}/fapi/v1",
        "fapiPrivateV2": f"{base}/fapi/v2", "fapiPrivateV3": f"{base}/fapi/v3",
        "fapiData": f"{base}/futures/data", "public": f"{base}/api/v3",
        "private": f"{base}/api/v3", "sapi": f"{base}/sapi/v1",
    }


def venue_urls(venue: str, base: str) -> dict[str, str]:
    """ccxt's api url table for `venue` pointed at a local exchange at `base`."""
    if venue == "binanceusdm":
        return api_urls(base)
    return {k: base for k in ("spot", "futures", "v2", "public", "private")}


def exchange_class(venue: str) -> type[LocalExchange]:
    """The local exchange that speaks `venue`'s trading dialect."""
    return BybitExchange if venue == "bybit" else LocalExchange


async def start(exchange: LocalExchange | MarketTime, host: str = "127.0.0.1", port: int = 0
                ) -> tuple[web.AppRunner, str]:
    """Serve a local exchange or venue on host:port (0: any free port); returns the runner
    and the base url."""
    # stopping waits at most 5 s for requests under way (aiohttp's default is a minute)
    runner = web.AppRunner(exchange.app(), handle_signals=False, access_log=None,
                           shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    return runner, f"http://{host}:{bound}"
