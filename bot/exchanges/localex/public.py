"""The local exchange's public market-data endpoints (Binance USD-M shapes), served from
the same data folder that drives its engine; nothing after the engine's time is shown."""

from __future__ import annotations

from aiohttp import web
from ccxt.base.errors import BaseError

from bot.exchanges.localex import dialect
from bot.marketdata.layout import stated_interval
from bot.markets import Market

PARAMS = web.RequestKey("params", dict)


def market_of(table: dict[str, Market], params: dict) -> Market:
    """The market a request's `symbol` names, or Binance's -1121."""
    try:
        return table[params["symbol"]]
    except KeyError:
        raise BaseError(f"-1121 Invalid symbol {params.get('symbol')}") from None


class PublicRoutes:
    """Mixed into LocalExchange: needs self.sim, self.data, self.venue, self.by_id, self.rates."""

    async def ping(self, _request: web.Request) -> web.Response:
        return web.json_response({})

    async def time(self, _request: web.Request) -> web.Response:
        """Market time: the one clock its orders, fills and data are stamped with."""
        return web.json_response({"serverTime": self.sim.now})

    async def exchange_info(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "timezone": "UTC", "serverTime": self.sim.now, "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.rates.limits.weight_per_minute},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.rates.limits.orders_per_minute},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": self.rates.limits.orders_per_10s}],
            "exchangeFilters": [], "assets": [],
            "symbols": [dialect.symbol_info(m) for m in self.by_id.values()]})

    def _market(self, params: dict) -> Market:
        return market_of(self.by_id, params)

    async def klines(self, request: web.Request) -> web.Response:
        return self._klines(request[PARAMS], self._market(request[PARAMS]), "candles_1h.csv")

    async def spot_klines(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        spot = market_of(self.spot_by_id, p)
        perp = next((m for m in self.by_id.values() if (m.base, m.quote) == (spot.base,
                                                                             spot.quote)), None)
        return self._klines(p, perp or spot, "spot_candles_1h.csv")

    def _klines(self, p: dict, m: Market, name: str) -> web.Response:
        limit = min(int(p.get("limit", 500)), 1500)
        start = int(p.get("startTime", 0))
        end = int(p.get("endTime", self.sim.now))
        rows = []
        if self.data is not None:
            df = self.data.tables.get((self.venue, m.symbol, name))
            if df is not None:
                ts = df["timestamp"].to_numpy()
                keep = (ts >= start) & (ts <= end) & (ts + 3_600_000 <= self.sim.now)
                sel = df[keep].head(limit) if "startTime" in p else df[keep].tail(limit)
                for r in sel.itertuples(index=False):
                    tb = getattr(r, "taker_buy_volume", 0.0)
                    rows.append([int(r.timestamp), str(r.open), str(r.high), str(r.low),
                                 str(r.close), str(r.volume), int(r.timestamp) + 3_599_999,
                                 str(r.volume * r.close), 0, str(tb), str(tb * r.close), "0"])
        return web.json_response(rows)

    async def premium_index(self, request: web.Request) -> web.Response:
        """One market's mark, index and funding; without a symbol, every market's (a list),
        as Binance answers."""
        p = request[PARAMS]
        if "symbol" not in p:
            return web.json_response([self._premium(m) for m in self.by_id.values()])
        return web.json_response(self._premium(self._market(p)))

    def _funding_rows(self, m: Market):
        df = None if self.data is None else self.data.tables.get(
            (self.venue, m.symbol, "funding.csv"))
        return None if df is None else df[df["timestamp"] <= self.sim.now]

    def _premium(self, m: Market) -> dict:
        last = dialect.decimal(self.sim.last.get(m.symbol, 0), m.price_tick)
        seen = self._funding_rows(m)
        rate = "0" if seen is None or not len(seen) else dialect.rate(seen["rate"].iloc[-1])
        return {"symbol": dialect.market_id(m), "markPrice": last, "indexPrice": last,
                "estimatedSettlePrice": last, "lastFundingRate": rate,
                "interestRate": "0.00010000",
                "nextFundingTime": (self.sim.now // 28_800_000 + 1) * 28_800_000,
                "time": self.sim.now}

    async def funding_rate(self, request: web.Request) -> web.Response:
        """Settled funding, oldest first: from startTime on, else the most recent `limit`
        (≤ 1000, default 100) up to endTime; rates and mark prices as plain decimals."""
        p = request[PARAMS]
        m = self._market(p)
        rows = []
        seen = self._funding_rows(m)
        if seen is not None:
            ts = seen["timestamp"].to_numpy()
            keep = (ts >= int(p.get("startTime", 0))) & (ts <= int(p.get("endTime", 2**62)))
            limit = min(int(p.get("limit", 100)), 1000)
            sel = seen[keep].head(limit) if "startTime" in p else seen[keep].tail(limit)
            closes = self._closes(m)
            for r in sel.itertuples(index=False):
                mark = closes.get(int(r.timestamp), self.sim.last.get(m.symbol, 0))
                rows.append({"symbol": dialect.market_id(m), "fundingTime": int(r.timestamp),
                             "fundingRate": dialect.rate(r.rate),
                             "markPrice": dialect.decimal(mark, m.price_tick)})
        return web.json_response(rows)

    def _closes(self, m: Market) -> dict[int, float]:
        """The hourly closes by the time they closed (a funding print's mark)."""
        df = None if self.data is None else self.data.tables.get(
            (self.venue, m.symbol, "candles_1h.csv"))
        if df is None:
            return {}
        return dict(zip((df["timestamp"] + 3_600_000).tolist(), df["close"].tolist(),
                        strict=True))

    async def funding_info(self, _request: web.Request) -> web.Response:
        """Binance lists the markets whose funding interval is not 8 h (their cap and floor,
        their interval); from the data: its interval column, else its prints' spacing."""
        out = []
        for m in self.by_id.values():
            df = None if self.data is None else self.data.tables.get(
                (self.venue, m.symbol, "funding.csv"))
            if df is None or len(df) < 2:
                continue
            hours = stated_interval(df)
            if hours != 8:
                out.append({"symbol": dialect.market_id(m), "adjustedFundingRateCap": "0.02500000",
                            "adjustedFundingRateFloor": "-0.02500000",
                            "fundingIntervalHours": int(hours), "disclaimer": False})
        return web.json_response(out)

    def _oi_rows(self, m: Market):
        if self.data is None:
            return None
        df = self.data.tables.get((self.venue, m.symbol, "open_interest.csv"))
        return None if df is None else df[df["timestamp"] <= self.sim.now]

    async def open_interest(self, request: web.Request) -> web.Response:
        m = self._market(request[PARAMS])
        rows = self._oi_rows(m)
        if rows is None or rows.empty:
            raise BaseError(f"-1121 No open interest for {dialect.market_id(m)}")
        last = rows.iloc[-1]
        return web.json_response({"openInterest": str(last["open_interest"]),
                                  "symbol": dialect.market_id(m), "time": int(last["timestamp"])})

    async def open_interest_hist(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._market(p)
        rows = self._oi_rows(m)
        out = []
        if rows is not None:
            ts = rows["timestamp"].to_numpy()
            keep = (ts >= int(p.get("startTime", 0))) & (ts <= int(p.get("endTime", 2**62)))
            sel = rows[keep]
            sel = sel.head(int(p.get("limit", 30))) if "startTime" in p else sel.tail(
                int(p.get("limit", 30)))
            for r in sel.itertuples(index=False):
                value = getattr(r, "open_interest_value", r.open_interest)
                out.append({"symbol": dialect.market_id(m), "sumOpenInterest": str(r.open_interest),
                            "sumOpenInterestValue": str(value), "timestamp": int(r.timestamp)})
        return web.json_response(out)

    async def leverage_bracket(self, _request: web.Request) -> web.Response:
        tiers = self.sim.mmr_tiers
        out = []
        for m in self.by_id.values():
            floor, brackets, cum, last_rate = 0, [], 0.0, 0.0
            for i, (cap, rate) in enumerate(tiers, 1):
                cum += floor * (rate - last_rate)  # Binance's maintenance amount: continuous
                brackets.append({"bracket": i, "initialLeverage": int(m.max_leverage),
                                 "notionalCap": int(min(cap, 1e12)), "notionalFloor": floor,
                                 "maintMarginRatio": rate, "cum": round(cum, 8)})
                floor, last_rate = int(min(cap, 1e12)), rate
            out.append({"symbol": dialect.market_id(m), "brackets": brackets})
        return web.json_response(out)

    async def long_short_ratio(self, request: web.Request) -> web.Response:
        """/futures/data/globalLongShortAccountRatio: the hourly account ratio, oldest
        first, `limit` (≤ 500) of them from startTime, else the newest."""
        p = request[PARAMS]
        m = self._market(p)
        df = None if self.data is None else self.data.tables.get(
            (self.venue, m.symbol, "long_short.csv"))
        out = []
        if df is not None:
            ts = df["timestamp"].to_numpy()
            keep = ((ts >= int(p.get("startTime", 0))) & (ts <= int(p.get("endTime", 2**62)))
                    & (ts <= self.sim.now))
            limit = min(int(p.get("limit", 30)), 500)
            sel = df[keep].head(limit) if "startTime" in p else df[keep].tail(limit)
            for r in sel.itertuples(index=False):
                long_share = r.ratio / (1 + r.ratio)
                out.append({"symbol": dialect.market_id(m), "longShortRatio": f"{r.ratio:.4f}",
                            "longAccount": f"{long_share:.4f}",
                            "shortAccount": f"{1 - long_share:.4f}",
                            "timestamp": int(r.timestamp)})
        return web.json_response(out)

