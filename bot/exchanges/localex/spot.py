"""The local exchange's spot side in Binance Spot's dialect (/api/v3) and the wallet
transfer between spot and USD-M futures (/sapi/v1/asset/transfer)."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web
from ccxt.base.errors import BaseError

from bot.exchanges.localex import dialect
from bot.exchanges.localex.public import PARAMS, market_of
from bot.markets import Market
from bot.types import OrderRequest, OrderState, OrderType

SPOT_PUBLIC = {"/api/v3/ping", "/api/v3/time", "/api/v3/exchangeInfo"}
TRANSFER_TYPES = {"MAIN_UMFUTURE": False, "UMFUTURE_MAIN": True}  # → to spot?


def spot_order_json(o: OrderState, m: Market) -> dict:
    avg = o.average if o.average is not None else Decimal(0)
    return {
        "symbol": dialect.market_id(m), "orderId": int(o.exchange_id), "orderListId": -1,
        "clientOrderId": o.client_id, "transactTime": o.timestamp, "time": o.timestamp,
        "updateTime": o.timestamp, "price": str(o.price or 0), "origQty": str(o.amount),
        "executedQty": str(o.filled), "cummulativeQuoteQty": str(o.filled * avg),
        "status": dialect.STATUS[o.status], "timeInForce": "GTC",
        "type": "LIMIT" if o.type is OrderType.LIMIT else "MARKET", "side": o.side.upper(),
        "workingTime": o.timestamp, "selfTradePreventionMode": "NONE", "fills": [],
        "isWorking": True, "origQuoteOrderQty": "0", "stopPrice": "0", "icebergQty": "0",
    }


class SpotRoutes:
    """Mixed into LocalExchange: needs self.sim, self.spot_by_id, self.spot_trades,
    self.transfers."""

    def add_spot_routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/api/v3/ping", self.ping)
        r.add_get("/api/v3/time", self.time)
        r.add_get("/api/v3/exchangeInfo", self.spot_exchange_info)
        r.add_post("/api/v3/order", self.spot_new_order)
        r.add_get("/api/v3/order", self.spot_get_order)
        r.add_delete("/api/v3/order", self.spot_cancel_order)
        r.add_get("/api/v3/openOrders", self.spot_open_orders)
        r.add_get("/api/v3/account", self.spot_account)
        r.add_get("/api/v3/myTrades", self.spot_my_trades)
        r.add_post("/sapi/v1/asset/transfer", self.asset_transfer)
        r.add_get("/sapi/v1/asset/transfer", self.transfer_history)

    def _spot_market(self, p: dict) -> Market:
        return market_of(self.spot_by_id, p)

    async def spot_exchange_info(self, _request: web.Request) -> web.Response:
        return web.json_response({"timezone": "UTC", "serverTime": self.sim.now,
                                  "rateLimits": [], "exchangeFilters": [],
                                  "symbols": [dialect.spot_symbol_info(m)
                                              for m in self.spot_by_id.values()]})

    async def spot_new_order(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._spot_market(p)
        kind = p["type"].upper()
        if kind not in ("MARKET", "LIMIT"):
            raise BaseError(f"-1116 Invalid orderType {kind} for this endpoint.")
        req = OrderRequest(p.get("newClientOrderId") or f"local-{self.sim.seq + 1}", m.symbol,
                           p["side"].lower(), OrderType[kind], Decimal(p["quantity"]),
                           Decimal(p["price"]) if kind == "LIMIT" else None)
        return web.json_response(spot_order_json(self.sim.create_order(req), m))

    def _spot_find(self, p: dict) -> OrderState:
        m = self._spot_market(p)
        cid, oid = p.get("origClientOrderId"), p.get("orderId")
        for o in self.sim.orders.values():
            if o.symbol == m.symbol and (o.client_id == cid or o.exchange_id == oid):
                return o
        raise BaseError("-2013 Order does not exist.")

    async def spot_get_order(self, request: web.Request) -> web.Response:
        o = self._spot_find(request[PARAMS])
        return web.json_response(spot_order_json(o, self.sim.markets[o.symbol]))

    async def spot_cancel_order(self, request: web.Request) -> web.Response:
        o = self.sim.cancel_order(self._spot_find(request[PARAMS]).client_id)
        return web.json_response(spot_order_json(o, self.sim.markets[o.symbol]))

    async def spot_open_orders(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        sym = self._spot_market(p).symbol if "symbol" in p else None
        return web.json_response([spot_order_json(o, self.sim.markets[o.symbol])
                                  for o in self.sim.open_orders(sym)
                                  if self.sim.markets[o.symbol].spot])

    async def spot_account(self, _request: web.Request) -> web.Response:
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "canTrade": True,
            "canWithdraw": True, "canDeposit": True, "updateTime": self.sim.now,
            "accountType": "SPOT", "permissions": ["SPOT"],
            "balances": [{"asset": a, "free": str(v), "locked": "0"}
                         for a, v in sorted(self.sim.spot.items())]})

    async def spot_my_trades(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        rows = [t for t in self.spot_trades if t["symbol"] == p["symbol"]]
        if "orderId" in p:
            rows = [t for t in rows if str(t["orderId"]) == p["orderId"]]
        if "startTime" in p:
            rows = [t for t in rows if t["time"] >= int(p["startTime"])]
        return web.json_response(rows[-int(p.get("limit", 500)):])

    async def asset_transfer(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        if p.get("type") not in TRANSFER_TYPES:
            raise BaseError(f"-1102 transfer type {p.get('type')!r} is not supported here")
        self.sim.transfer(p["asset"], Decimal(p["amount"]), TRANSFER_TYPES[p["type"]])
        self.transfers.append({"asset": p["asset"], "amount": p["amount"], "type": p["type"],
                               "status": "CONFIRMED", "tranId": len(self.transfers) + 1,
                               "timestamp": self.sim.now})
        return web.json_response({"tranId": len(self.transfers)})

    async def transfer_history(self, request: web.Request) -> web.Response:
        """GET /sapi/v1/asset/transfer: one type's transfers, newest first, as Binance
        pages them ({"total", "rows"})."""
        p = request[PARAMS]
        if p.get("type") not in TRANSFER_TYPES:
            raise BaseError(f"-1102 transfer type {p.get('type')!r} is not supported here")
        rows = [t for t in self.transfers if t["type"] == p["type"]
                and t["timestamp"] >= int(p.get("startTime", 0))
                and t["timestamp"] <= int(p.get("endTime", 2**62))]
        rows = rows[::-1][:min(int(p.get("size", 10)), 100)]
        return web.json_response({"total": len(rows), "rows": rows})
