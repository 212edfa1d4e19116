"""Public market data of one venue on loopback, served from a data folder in that venue's own
dialect (Bybit v5, OKX v5; Binance's is the local exchange's), so the real ccxt classes read
it over HTTP. Market time moves by POST /sim/advance; nothing after it is shown."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
from aiohttp import web

from bot.exchanges.localex.streams import track
from bot.marketdata.layout import MarketData, stated_interval
from bot.markets import Market, split_symbol
from strategies.types import HOUR_MS

SPANS = {"candles_1h.csv": HOUR_MS, "spot_candles_1h.csv": HOUR_MS,
         "candles_4h.csv": 4 * HOUR_MS}


class VenueError(Exception):
    """A request the venue refuses: its own code and message."""

    def __init__(self, code: str | None, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def plain(x: float | Decimal) -> str:
    """A number as the venues write it: plain decimals, never 1e-05."""
    if isinstance(x, float) and math.isnan(x):
        return ""
    return format(Decimal(str(x)).normalize(), "f")


class MarketTime:
    """A local venue's market time `now`, moved forward by POST /sim/advance {"until": ms}."""

    now = 0

    async def sim_advance(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.now = max(self.now, int(body["until"]))
        return web.json_response({"now": self.now})


class DataVenue(MarketTime):
    """One venue's public data at market time `now`. Subclasses give the dialect."""

    name = ""
    bad_code = "-1"  # the venue's code for a bad parameter

    def __init__(self, data: MarketData, markets: dict[str, Market], now: int = 0) -> None:
        self.data, self.now = data, now
        self.perps = {s: m for s, m in markets.items() if not m.spot}
        self.spots = {s: m for s, m in markets.items() if m.spot}

    def table(self, symbol: str, name: str) -> pd.DataFrame | None:
        """The rows of `name` for the perp `symbol` known at `now` (a bar once closed)."""
        df = self.data.tables.get((self.name, symbol, name))
        if df is None:
            return None
        return df[df["timestamp"].to_numpy() + SPANS.get(name, 0) <= self.now]

    def perp_of(self, spot: str) -> str | None:
        base, quote, _ = split_symbol(spot)
        return next((s for s in self.perps if split_symbol(s)[:2] == (base, quote)), None)

    def interval_hours(self, symbol: str) -> float:
        df = self.table(symbol, "funding.csv")
        return 8.0 if df is None or df.empty else stated_interval(df)

    def routes(self, r: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def answer(self, data) -> web.Response:
        raise NotImplementedError

    def refuse(self, err: VenueError) -> web.Response:
        raise NotImplementedError

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        try:
            return await handler(request)
        except VenueError as err:
            err.code = err.code or self.bad_code
            return self.refuse(err)
        except KeyError as err:
            return self.refuse(VenueError(self.bad_code, f"missing parameter {err}"))

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.routes(app.router)
        app.router.add_post("/sim/advance", self.sim_advance)
        return track(app)


def window(df: pd.DataFrame | None, start: int | None, end: int | None, limit: int,
           newest: bool = True) -> pd.DataFrame:
    """Rows with start <= timestamp <= end: the newest `limit` of them (what venues that
    page backwards answer), or the oldest when `newest` is False; newest first."""
    if df is None:
        return pd.DataFrame()
    ts = df["timestamp"].to_numpy()
    keep = (ts >= (start if start is not None else -1)) & (ts <= (end if end is not None
                                                                  else 2**62))
    sel = df[keep]
    sel = sel.tail(limit) if newest else sel.head(limit)
    return sel.iloc[::-1]


def arg(params, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise VenueError(None, f"{name} must be an integer") from None
