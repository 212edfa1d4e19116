"""The local exchange's account endpoints, field for field as Binance USD-M answers them:
/fapi/v2|v3/account, /fapi/v2|v3/positionRisk, /fapi/v2|v3/balance, /fapi/v1/symbolConfig,
leverage and margin type, the trade list, forced orders and income."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web
from ccxt.base.errors import BaseError

from bot.exchanges.localex import dialect
from bot.exchanges.localex.public import PARAMS
from risk.sizing import mmr_for

MONEY = Decimal("0.00000001")  # Binance writes account amounts with eight decimals
MAX_NOTIONAL = "1000000000"


def money(x: Decimal) -> str:
    return format(Decimal(x).quantize(MONEY), "f")


class AccountRoutes:
    """Mixed into LocalExchange (sim, by_id, trades, income, force_orders, margin_types,
    updated)."""

    def add_account_routes(self, r: web.UrlDispatcher) -> None:
        for v in ("v2", "v3"):
            r.add_get(f"/fapi/{v}/account", self.account)
            r.add_get(f"/fapi/{v}/positionRisk", self.position_risk)
            r.add_get(f"/fapi/{v}/balance", self.balance)
        r.add_get("/fapi/v1/symbolConfig", self.symbol_config)
        r.add_post("/fapi/v1/leverage", self.leverage)
        r.add_post("/fapi/v1/marginType", self.margin_type)
        r.add_get("/fapi/v1/userTrades", self.user_trades)
        r.add_get("/fapi/v1/forceOrders", self.forced)
        r.add_get("/fapi/v1/income", self.income_history)

    # ---- positions and the account ------------------------------------------------------
    def _position_rows(self) -> list[dict]:
        """Every open position's numbers, at the market's precision."""
        out = []
        for pos in self.sim.fetch_positions():
            m = self.sim.markets[pos.symbol]
            mark = Decimal(repr(self.sim.last.get(pos.symbol, float(pos.entry_price))))
            notional = pos.contracts * mark
            mmr = Decimal(repr(mmr_for(float(abs(notional)), self.sim.mmr_tiers)))
            out.append({
                "symbol": dialect.market_id(m), "positionSide": "BOTH",
                "positionAmt": format(pos.contracts.quantize(m.amount_step), "f"),
                "entryPrice": dialect.decimal(float(pos.entry_price), m.price_tick),
                "breakEvenPrice": dialect.decimal(float(pos.entry_price), m.price_tick),
                "markPrice": money(mark), "unRealizedProfit": money(pos.unrealised),
                "liquidationPrice": money(pos.liquidation_price or Decimal(0)),
                "isolatedMargin": money(pos.margin + pos.unrealised),  # wallet + unrealised
                "notional": money(notional), "marginAsset": m.quote,
                "isolatedWallet": money(pos.margin), "initialMargin": money(pos.margin),
                "maintMargin": money(abs(notional) * mmr),
                "positionInitialMargin": money(pos.margin), "openOrderInitialMargin": "0",
                "adl": 1, "bidNotional": "0", "askNotional": "0",
                "updateTime": self.updated.get(dialect.market_id(m), self.sim.now),
                "leverage": str(int(pos.leverage))})
        return out

    async def position_risk(self, request: web.Request) -> web.Response:
        v2 = "/v2/" in request.path
        rows = self._position_rows()
        if "symbol" in request[PARAMS]:
            rows = [p for p in rows if p["symbol"] == request[PARAMS]["symbol"]]
        if v2:  # v2 names the position's settings, and no margin figures
            return web.json_response([{
                "symbol": p["symbol"], "positionAmt": p["positionAmt"],
                "entryPrice": p["entryPrice"], "breakEvenPrice": p["breakEvenPrice"],
                "markPrice": p["markPrice"], "unRealizedProfit": p["unRealizedProfit"],
                "liquidationPrice": p["liquidationPrice"], "leverage": p["leverage"],
                "maxNotionalValue": MAX_NOTIONAL,
                "marginType": {"CROSSED": "cross", "ISOLATED": "isolated"}[
                    self._margin_type(p["symbol"])],
                "isolatedMargin": p["isolatedMargin"], "isAutoAddMargin": "false",
                "positionSide": "BOTH", "notional": p["notional"],
                "isolatedWallet": p["isolatedWallet"], "updateTime": p["updateTime"],
            } for p in rows])
        return web.json_response([{k: v for k, v in p.items() if k != "leverage"} for p in rows])

    def _assets(self, rows: list[dict]) -> tuple[dict, Decimal]:
        """The USDT asset of the account (its maintenance margin that of `rows`)."""
        bal = self.sim.balance()
        upnl = bal.equity - bal.wallet
        used = bal.wallet - bal.available
        maint = sum((Decimal(p["maintMargin"]) for p in rows), Decimal(0))
        return {"asset": "USDT", "walletBalance": money(bal.wallet),
                "unrealizedProfit": money(upnl), "marginBalance": money(bal.equity),
                "maintMargin": money(maint), "initialMargin": money(used),
                "positionInitialMargin": money(used), "openOrderInitialMargin": money(0),
                "crossWalletBalance": money(bal.wallet), "crossUnPnl": money(0),
                "availableBalance": money(bal.available),
                "maxWithdrawAmount": money(bal.available), "updateTime": self.sim.now}, maint

    async def account(self, request: web.Request) -> web.Response:
        v2 = "/v2/" in request.path
        rows = self._position_rows()
        asset, maint = self._assets(rows)
        totals = {
            "totalInitialMargin": asset["initialMargin"], "totalMaintMargin": money(maint),
            "totalWalletBalance": asset["walletBalance"],
            "totalUnrealizedProfit": asset["unrealizedProfit"],
            "totalMarginBalance": asset["marginBalance"],
            "totalPositionInitialMargin": asset["positionInitialMargin"],
            "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
            "totalCrossWalletBalance": asset["crossWalletBalance"],
            "totalCrossUnPnl": asset["crossUnPnl"],
            "availableBalance": asset["availableBalance"],
            "maxWithdrawAmount": asset["maxWithdrawAmount"]}
        positions = [{"symbol": p["symbol"], "positionSide": "BOTH",
                      "positionAmt": p["positionAmt"], "unrealizedProfit": p["unRealizedProfit"],
                      "isolatedMargin": p["isolatedMargin"], "notional": p["notional"],
                      "isolatedWallet": p["isolatedWallet"], "initialMargin": p["initialMargin"],
                      "maintMargin": p["maintMargin"], "updateTime": p["updateTime"]}
                     for p in rows]
        if not v2:
            return web.json_response(totals | {"assets": [asset], "positions": positions})
        head = {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                "tradeGroupId": -1, "updateTime": 0, "multiAssetsMargin": False}
        asset = asset | {"marginAvailable": True}
        return web.json_response(head | totals | {"assets": [asset], "positions": positions})

    async def balance(self, _request: web.Request) -> web.Response:
        asset, _ = self._assets(self._position_rows())
        return web.json_response([{
            "accountAlias": "SgsR", "asset": "USDT", "balance": asset["walletBalance"],
            "crossWalletBalance": asset["crossWalletBalance"], "crossUnPnl": asset["crossUnPnl"],
            "availableBalance": asset["availableBalance"],
            "maxWithdrawAmount": asset["maxWithdrawAmount"], "marginAvailable": True,
            "updateTime": self.sim.now}])

    # ---- the symbol's settings ----------------------------------------------------------
    def _margin_type(self, market_id: str) -> str:
        return self.margin_types.get(market_id, "CROSSED")  # Binance's default

    def _config_row(self, market_id: str) -> dict:
        m = self.by_id[market_id]
        return {"symbol": market_id, "marginType": self._margin_type(market_id),
                "isAutoAddMargin": "false", "leverage": int(self.sim.leverage_of(m.symbol)),
                "maxNotionalValue": MAX_NOTIONAL}

    async def symbol_config(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/symbolConfig: leverage and margin type, per symbol or of all."""
        p = request[PARAMS]
        ids = [self._market(p) and p["symbol"]] if "symbol" in p else sorted(self.by_id)
        return web.json_response([self._config_row(i) for i in ids])

    async def leverage(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._market(p)
        try:
            lev = int(p.get("leverage", ""))
        except ValueError:
            raise BaseError("-1102 Mandatory parameter 'leverage' was not sent, was empty/null, "
                            "or malformed.") from None
        if not 1 <= lev <= int(m.max_leverage):
            raise BaseError(f"-4028 Leverage {lev} is not valid")
        self.sim.set_leverage(m.symbol, float(lev))
        return web.json_response({"leverage": lev, "maxNotionalValue": MAX_NOTIONAL,
                                  "symbol": p["symbol"]})

    async def margin_type(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        self._market(p)
        want = p.get("marginType", "").upper()
        if want not in ("ISOLATED", "CROSSED"):
            raise BaseError("-1130 Data sent for parameter 'marginType' is not valid.")
        if self._margin_type(p["symbol"]) == want:
            raise BaseError("-4046 No need to change margin type.")
        self.margin_types[p["symbol"]] = want
        return web.json_response({"code": 200, "msg": "success"})

    # ---- what happened ----------------------------------------------------------------------
    async def user_trades(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        rows = [t for t in self.trades if t["symbol"] == p.get("symbol", t["symbol"])]
        if "orderId" in p:
            rows = [t for t in rows if str(t["orderId"]) == p["orderId"]]
        if "fromId" in p:
            rows = [t for t in rows if t["id"] >= int(p["fromId"])]
        limit = int(p.get("limit", 500))
        if "startTime" in p:
            rows = [t for t in rows if t["time"] >= int(p["startTime"])]
        elif "fromId" not in p:  # as Binance: without a start, the most recent
            return web.json_response(rows[-limit:])
        return web.json_response(rows[:limit])

    async def forced(self, request: web.Request) -> web.Response:
        """GET /fapi/v1/forceOrders: the user's liquidation and ADL orders, newest last."""
        p = request[PARAMS]
        rows = [o for o in self.force_orders if o["symbol"] == p.get("symbol", o["symbol"])
                and o["time"] >= int(p.get("startTime", 0))
                and o["time"] <= int(p.get("endTime", 2**62))]
        return web.json_response(rows[-min(int(p.get("limit", 50)), 100):])

    async def income_history(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        rows = [i for i in self.income if "symbol" not in p or i["symbol"] == p["symbol"]]
        limit = int(p.get("limit", 100))
        if "startTime" not in p:  # as Binance: without a start, the most recent
            return web.json_response(rows[-limit:])
        rows = [i for i in rows if i["time"] >= int(p["startTime"])]
        return web.json_response(rows[:limit])
