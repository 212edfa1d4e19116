"""Bybit v5's public market data (the shapes of bybit-exchange.github.io/docs/v5/market):
every answer is {retCode, retMsg, result, retExtInfo, time}; lists come newest first."""

from __future__ import annotations

from aiohttp import web

from bot.exchanges.localex.streams import BybitStreams
from bot.exchanges.localex.venues import DataVenue, VenueError, arg, plain, window
from bot.markets import Market, symbol_dir


def envelope(result, now: int, code: int = 0, msg: str = "OK", status: int = 200,
             headers: dict | None = None) -> web.Response:
    """Every Bybit v5 answer, a refusal too: {retCode, retMsg, result, retExtInfo, time}."""
    return web.json_response({"retCode": code, "retMsg": msg, "result": result,
                              "retExtInfo": {}, "time": now}, status=status, headers=headers)


class BybitVenue(DataVenue, BybitStreams):
    name = "bybit"
    bad_code = "10001"

    def routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v5/market/time", self.time)
        r.add_get("/v5/market/instruments-info", self.instruments)
        r.add_get("/v5/market/kline", self.kline)
        r.add_get("/v5/market/funding/history", self.funding_history)
        r.add_get("/v5/market/open-interest", self.open_interest)
        r.add_get("/v5/market/tickers", self.tickers)
        r.add_get("/v5/market/account-ratio", self.account_ratio)
        r.add_get("/v5/public/linear", self.bybit_ws)  # liquidation prints

    def answer(self, result) -> web.Response:
        return envelope(result, self.now)

    def refuse(self, err: VenueError) -> web.Response:
        return envelope({}, self.now, int(err.code), err.msg, err.status)

    def _market(self, params, category: str) -> tuple[str, Market]:
        book = self.spots if category == "spot" else self.perps
        wanted = params.get("symbol", "")
        for sym, m in book.items():
            if symbol_dir(sym) == wanted:
                return sym, m
        raise VenueError("10001", "params error: symbol invalid")

    async def time(self, _request: web.Request) -> web.Response:
        return self.answer({"timeSecond": str(self.now // 1000),
                            "timeNano": str(self.now * 1_000_000)})

    async def instruments(self, request: web.Request) -> web.Response:
        p = request.query
        category = p.get("category", "")
        if category not in ("spot", "linear", "inverse", "option"):
            raise VenueError("10001", "params error: category invalid")
        rows = []
        if category == "spot":
            rows = [self._spot_info(m) for m in self.spots.values()]
        elif category == "linear" and p.get("status", "Trading") == "Trading":
            rows = [linear_info(m, int(self.interval_hours(s) * 60)) for s, m in self.perps.items()]
        return self.answer({"category": category, "list": rows})

    def _spot_info(self, m: Market) -> dict:
        return {"symbol": f"{m.base}{m.quote}", "baseCoin": m.base, "quoteCoin": m.quote,
                "innovation": "0", "status": "Trading", "marginTrading": "both",
                "lotSizeFilter": {"basePrecision": plain(m.amount_step),
                                  "quotePrecision": "0.00000001",
                                  "minOrderQty": plain(m.min_amount), "maxOrderQty": "71.7",
                                  "minOrderAmt": "1", "maxOrderAmt": "2000000"},
                "priceFilter": {"tickSize": plain(m.price_tick)}}

    async def kline(self, request: web.Request) -> web.Response:
        p = request.query
        category = p.get("category", "linear")
        sym, _ = self._market(p, category)
        if p.get("interval") != "60":
            raise VenueError("10001", "params error: only interval 60 is recorded here")
        perp = sym if category != "spot" else self.perp_of(sym)
        name = "spot_candles_1h.csv" if category == "spot" else "candles_1h.csv"
        limit = min(arg(p, "limit", 200), 1000)
        rows = window(self.table(perp, name), arg(p, "start"), arg(p, "end"), limit)
        out = [[str(int(r.timestamp)), plain(r.open), plain(r.high), plain(r.low),
                plain(r.close), plain(r.volume), plain(r.volume * r.close)]
               for r in rows.itertuples(index=False)]
        return self.answer({"category": category, "symbol": p["symbol"], "list": out})

    async def funding_history(self, request: web.Request) -> web.Response:
        p = request.query
        sym, _ = self._market(p, "linear")
        start, end = arg(p, "startTime"), arg(p, "endTime")
        if start is not None and end is None:
            raise VenueError("10001", "params error: endTime is required with startTime")
        rows = window(self.table(sym, "funding.csv"), start, end,
                      min(arg(p, "limit", 200), 200))
        out = [{"symbol": p["symbol"], "fundingRate": plain(r.rate),
                "fundingRateTimestamp": str(int(r.timestamp))}
               for r in rows.itertuples(index=False)]
        return self.answer({"category": "linear", "list": out})

    async def open_interest(self, request: web.Request) -> web.Response:
        p = request.query
        sym, _ = self._market(p, "linear")
        if p.get("intervalTime") not in ("5min", "15min", "30min", "1h", "4h", "1d"):
            raise VenueError("10001", "params error: intervalTime invalid")
        rows = window(self.table(sym, "open_interest.csv"), arg(p, "startTime"),
                      arg(p, "endTime"), min(arg(p, "limit", 50), 200))
        out = [{"openInterest": plain(r.open_interest), "timestamp": str(int(r.timestamp))}
               for r in rows.itertuples(index=False)]
        return self.answer({"symbol": p["symbol"], "category": "linear", "list": out,
                            "nextPageCursor": ""})

    async def tickers(self, request: web.Request) -> web.Response:
        p = request.query
        sym, _ = self._market(p, "linear")
        bars = self.table(sym, "candles_1h.csv")
        funding = self.table(sym, "funding.csv")
        oi = self.table(sym, "open_interest.csv")
        last = plain(bars["close"].iloc[-1]) if bars is not None and len(bars) else ""
        hours = self.interval_hours(sym)
        step = int(hours * 3_600_000)
        return self.answer({"category": "linear", "list": [{
            "symbol": p["symbol"], "lastPrice": last, "indexPrice": last, "markPrice": last,
            "fundingRate": plain(funding["rate"].iloc[-1]) if funding is not None and len(
                funding) else "0",
            "nextFundingTime": str((self.now // step + 1) * step),
            "fundingIntervalHour": str(int(hours)),
            "openInterest": plain(oi["open_interest"].iloc[-1]) if oi is not None and len(
                oi) else "0"}]})

    async def account_ratio(self, request: web.Request) -> web.Response:
        """/v5/market/account-ratio: buyers' and sellers' share of accounts, newest first."""
        p = request.query
        sym, _ = self._market(p, "linear")
        if p.get("period") not in ("5min", "15min", "30min", "1h", "4h", "1d"):
            raise VenueError("10001", "params error: period invalid")
        rows = window(self.table(sym, "long_short.csv"), arg(p, "startTime"),
                      arg(p, "endTime"), min(arg(p, "limit", 50), 500))
        out = [{"symbol": p["symbol"], "buyRatio": f"{r.ratio / (1 + r.ratio):.4f}",
                "sellRatio": f"{1 / (1 + r.ratio):.4f}", "timestamp": str(int(r.timestamp))}
               for r in rows.itertuples(index=False)]
        return self.answer({"list": out, "nextPageCursor": ""})


def linear_info(m: Market, funding_minutes: int = 480) -> dict:
    """A linear perp as /v5/market/instruments-info lists it."""
    return {
        "symbol": f"{m.base}{m.quote}", "contractType": "LinearPerpetual",
        "status": "Trading", "baseCoin": m.base, "quoteCoin": m.quote,
        "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(max(-m.price_tick.as_tuple().exponent, 0)),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": plain(m.max_leverage),
                           "leverageStep": "0.01"},
        "priceFilter": {"minPrice": plain(m.price_tick), "maxPrice": "1999999.80",
                        "tickSize": plain(m.price_tick)},
        "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": plain(m.min_amount),
                          "qtyStep": plain(m.amount_step),
                          "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
                          "minNotionalValue": plain(m.min_notional)},
        "unifiedMarginTrade": True,
        "fundingInterval": funding_minutes,
        "settleCoin": m.quote, "copyTrading": "both", "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005", "isPreListing": False, "preListingInfo": None}
