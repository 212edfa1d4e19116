"""OKX v5's public market data (the shapes of www.okx.com/docs-v5): every answer is
{code, msg, data}; lists come newest first; `after` asks for older rows than a time and
`before` for newer, both exclusive. Swap sizes are in contracts of `ctVal` base units."""

from __future__ import annotations

import math
from decimal import Decimal

from aiohttp import web

from bot.exchanges.localex.venues import DataVenue, VenueError, arg, plain, window
from bot.markets import Market

CONTRACT = Decimal("0.01")  # base units per swap contract (BTC-USDT-SWAP's ctVal)


def inst_id(m: Market) -> str:
    return f"{m.base}-{m.quote}" if m.spot else f"{m.base}-{m.quote}-SWAP"


class OkxVenue(DataVenue):
    name = "okx"
    bad_code = "51000"

    def routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/api/v5/public/time", self.time)
        r.add_get("/api/v5/public/instruments", self.instruments)
        r.add_get("/api/v5/market/candles", self.candles)
        r.add_get("/api/v5/market/history-candles", self.candles)
        r.add_get("/api/v5/public/funding-rate-history", self.funding_history)
        r.add_get("/api/v5/public/funding-rate", self.funding_rate)
        r.add_get("/api/v5/rubik/stat/contracts/open-interest-history", self.oi_history)
        r.add_get("/api/v5/rubik/stat/contracts/long-short-account-ratio-contract",
                  self.long_short)

    def answer(self, data: list) -> web.Response:
        return web.json_response({"code": "0", "msg": "", "data": data})

    def refuse(self, err: VenueError) -> web.Response:
        return web.json_response({"code": err.code, "msg": err.msg, "data": []},
                                 status=err.status)

    def _market(self, params) -> tuple[str, Market]:
        wanted = params.get("instId", "")
        for sym, m in {**self.perps, **self.spots}.items():
            if inst_id(m) == wanted:
                return sym, m
        raise VenueError("51001", "Instrument ID does not exist")

    def _bounds(self, p) -> tuple[int | None, int | None]:
        """OKX's exclusive `before` (newer than) and `after` (older than) as inclusive
        start and end."""
        before, after = arg(p, "before"), arg(p, "after")
        return (None if before is None else before + 1,
                None if after is None else after - 1)

    async def time(self, _request: web.Request) -> web.Response:
        return self.answer([{"ts": str(self.now)}])

    async def instruments(self, request: web.Request) -> web.Response:
        kind = request.query.get("instType", "")
        if kind not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            raise VenueError("51000", "Parameter instType error")
        if kind == "SPOT":
            return self.answer([self._info(m, True) for m in self.spots.values()])
        if kind == "SWAP":
            return self.answer([self._info(m, False) for m in self.perps.values()])
        return self.answer([])

    def _info(self, m: Market, spot: bool) -> dict:
        lot = plain(m.amount_step) if spot else plain(max(m.amount_step / CONTRACT, 1))
        return {
            "instType": "SPOT" if spot else "SWAP", "instId": inst_id(m),
            "uly": "" if spot else f"{m.base}-{m.quote}",
            "instFamily": "" if spot else f"{m.base}-{m.quote}",
            "baseCcy": m.base if spot else "", "quoteCcy": m.quote if spot else "",
            "settleCcy": "" if spot else m.quote, "ctValCcy": "" if spot else m.base,
            "ctVal": "" if spot else plain(CONTRACT), "ctMult": "" if spot else "1",
            "ctType": "" if spot else "linear", "lever": "10" if spot else plain(m.max_leverage),
            "listTime": "1573557408000", "expTime": "", "lotSz": lot,
            "minSz": lot, "tickSz": plain(m.price_tick), "state": "live",
            "maxMktSz": "10000", "alias": "", "optType": "", "stk": "", "category": "1"}

    async def candles(self, request: web.Request) -> web.Response:
        p = request.query
        sym, m = self._market(p)
        if p.get("bar") != "1H":
            raise VenueError("51000", "Parameter bar error: only 1H is recorded here")
        start, end = self._bounds(p)
        perp = self.perp_of(sym) if m.spot else sym
        name = "spot_candles_1h.csv" if m.spot else "candles_1h.csv"
        limit = min(arg(p, "limit", 100), 300)
        newest = start is None or end is not None  # only `before`: the oldest after it
        rows = window(self.table(perp, name), start, end, limit, newest)
        out = []
        for r in rows.itertuples(index=False):
            vol = plain(r.volume) if m.spot else plain(Decimal(str(r.volume)) / CONTRACT)
            out.append([str(int(r.timestamp)), plain(r.open), plain(r.high), plain(r.low),
                        plain(r.close), vol, plain(r.volume), plain(r.volume * r.close), "1"])
        return self.answer(out)

    async def funding_history(self, request: web.Request) -> web.Response:
        p = request.query
        sym, m = self._market(p)
        start, end = self._bounds(p)
        rows = window(self.table(sym, "funding.csv"), start, end,
                      min(arg(p, "limit", 100), 100))
        return self.answer([{"instType": "SWAP", "instId": inst_id(m), "formulaType": "noRate",
                             "fundingRate": plain(r.rate), "realizedRate": plain(r.rate),
                             "fundingTime": str(int(r.timestamp)), "method": "current_period"}
                            for r in rows.itertuples(index=False)])

    async def funding_rate(self, request: web.Request) -> web.Response:
        sym, m = self._market(request.query)
        rows = self.table(sym, "funding.csv")
        rate = plain(rows["rate"].iloc[-1]) if rows is not None and len(rows) else "0"
        step = int(self.interval_hours(sym) * 3_600_000)
        settle = (self.now // step + 1) * step
        return self.answer([{"instType": "SWAP", "instId": inst_id(m), "method":
                             "current_period", "formulaType": "noRate", "fundingRate": rate,
                             "nextFundingRate": "", "fundingTime": str(settle),
                             "nextFundingTime": str(settle + step), "ts": str(self.now)}])

    async def oi_history(self, request: web.Request) -> web.Response:
        p = request.query
        sym, _ = self._market(p)
        if p.get("period") not in ("5m", "1H", "1D"):
            raise VenueError("51000", "Parameter period error")
        begin, end = arg(p, "begin"), arg(p, "end")
        rows = window(self.table(sym, "open_interest.csv"),
                      None if begin is None else begin + 1, None if end is None else end - 1,
                      min(arg(p, "limit", 100), 100))
        out = []
        for r in rows.itertuples(index=False):
            base = Decimal(str(r.open_interest))
            value = getattr(r, "open_interest_value", float("nan"))
            out.append([str(int(r.timestamp)), plain(base / CONTRACT), plain(base),
                        "" if math.isnan(value) else plain(value)])
        return self.answer(out)

    async def long_short(self, request: web.Request) -> web.Response:
        """The contract's long/short account ratio: [ts, ratio] rows, newest first."""
        p = request.query
        sym, _ = self._market(p)
        if p.get("period", "5m") not in ("5m", "1H", "1D"):
            raise VenueError("51000", "Parameter period error")
        begin, end = arg(p, "begin"), arg(p, "end")
        rows = window(self.table(sym, "long_short.csv"),
                      None if begin is None else begin + 1, None if end is None else end - 1,
                      min(arg(p, "limit", 100), 100))
        return self.answer([[str(int(r.timestamp)), plain(r.ratio)]
                            for r in rows.itertuples(index=False)])

