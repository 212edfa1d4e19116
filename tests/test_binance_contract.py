"""The local exchange's answers held to Binance's: for each endpoint the bot's ccxt client
calls, the same field names and JSON types as Binance's recorded answer, and every unified
field ccxt fills from the recording filled from ours.

The recorded answers below are facts taken from ccxt's test fixtures
(ts/src/test/static/response/binance.json: fetchPositions, fetchBalance "Linear swap balance",
fetchMyTrades "Swap private trade", createOrders "create swap orders", fetchOpenOrder "swap
open order", fetchMarginMode "linear swap fetch margin mode", fetchFundingHistory) and from
Binance's USD-M API documentation. The fixtures' recorder writes many numbers as strings
("updateTime": "1722161166529", "adl": "2"); where it did, the documentation's type stands
(an integer), and each such place says so."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest

from bot.types import OrderRequest, OrderType
from tests.helpers import BTC, HOUR, T0, run, sim
from tests.venues import venue

POSITION_RISK_V3 = {  # fetchPositions "Fetch linear positions with symbols"
    "symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.009",
    "entryPrice": "67445.9", "breakEvenPrice": "67479.62295", "markPrice": "67582.20000000",
    "unRealizedProfit": "1.22670000", "liquidationPrice": "64846.78939917",
    "isolatedMargin": "0", "notional": "608.23980000", "marginAsset": "USDT",
    "isolatedWallet": "0", "initialMargin": "7.60299749", "maintMargin": "2.43295920",
    "positionInitialMargin": "7.60299749", "openOrderInitialMargin": "0",
    "adl": 2, "bidNotional": "0", "askNotional": "0",  # adl: an integer (documentation)
    "updateTime": 1722161166529}  # an integer (documentation)

ACCOUNT_V3 = {  # fetchPositions "using account endpoint" (the v3 account)
    "totalInitialMargin": "7.59482199", "totalMaintMargin": "2.43034303",
    "totalWalletBalance": "25.72610060", "totalUnrealizedProfit": "0.54230362",
    "totalMarginBalance": "26.26840422", "totalPositionInitialMargin": "7.59482199",
    "totalOpenOrderInitialMargin": "0.00000000", "totalCrossWalletBalance": "25.72610060",
    "totalCrossUnPnl": "0.54230362", "availableBalance": "18.65949928",
    "maxWithdrawAmount": "18.65949928",
    "assets": [{"asset": "USDT", "walletBalance": "3.72964781",
                "unrealizedProfit": "0.54238506", "marginBalance": "4.27203287",
                "maintMargin": "2.43022194", "initialMargin": "7.59444356",
                "positionInitialMargin": "7.59444356", "openOrderInitialMargin": "0.00000000",
                "crossWalletBalance": "3.72964781", "crossUnPnl": "0.54238506",
                "availableBalance": "18.65856952", "maxWithdrawAmount": "3.72964781",
                "updateTime": 1722161166529}],
    "positions": [{"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.009",
                   "unrealizedProfit": "0.54238506", "isolatedMargin": "0",
                   "notional": "607.55548506", "isolatedWallet": "0",
                   "initialMargin": "7.59444356", "maintMargin": "2.43022194",
                   "updateTime": 1722161166529}]}

ACCOUNT_V2 = {  # fetchBalance "Linear swap balance" (feeTier, tradeGroupId: integers)
    "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
    "tradeGroupId": -1, "updateTime": 0, "multiAssetsMargin": False,
    **{k: v for k, v in ACCOUNT_V3.items() if k not in ("assets", "positions")},
    "assets": [ACCOUNT_V3["assets"][0] | {"marginAvailable": True}],
    "positions": ACCOUNT_V3["positions"]}

BALANCE = {"accountAlias": "SgsR", "asset": "USDT", "balance": "122607.35137903",
           "crossWalletBalance": "23.72469206", "crossUnPnl": "0.00000000",
           "availableBalance": "23.72469206", "maxWithdrawAmount": "23.72469206",
           "marginAvailable": True, "updateTime": 1617939110373}  # documentation

USER_TRADE = {  # fetchMyTrades "Swap private trade" (id, orderId, time: integers)
    "symbol": "BTCUSDT", "id": 272536245, "orderId": 3524852987, "side": "BUY",
    "price": "36567.10", "qty": "0.010", "realizedPnl": "0", "marginAsset": "USDT",
    "quoteQty": "365.67100", "commission": "0.14626840", "commissionAsset": "USDT",
    "time": 1699972836419, "positionSide": "BOTH", "maker": False, "buyer": True}

NEW_ORDER = {  # createOrders "create swap orders": POST /fapi/v1/order's answer, no `time`
    "orderId": 4087922044, "symbol": "BTCUSDT", "status": "NEW",
    "clientOrderId": "x-xcKtGhcu04075babaeb34c55af79ba", "price": "110001.00",
    "avgPrice": "0.00", "origQty": "0.200", "executedQty": "0.000", "cumQty": "0.000",
    "cumQuote": "0.00000", "timeInForce": "GTC", "type": "LIMIT", "reduceOnly": False,
    "closePosition": False, "side": "SELL", "positionSide": "BOTH", "stopPrice": "0.00",
    "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "LIMIT",
    "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
    "updateTime": 1739781831932}

QUERY_ORDER = {  # fetchOpenOrder "swap open order": GET /fapi/v1/order, no `cumQty`
    "orderId": 664082074, "symbol": "LTCUSDT", "status": "NEW",  # orderId, times: integers
    "clientOrderId": "x-xcKtGhcu68f8383451844295b3e8b9", "price": "50.00",
    "avgPrice": "0.00000", "origQty": "0.200", "executedQty": "0.000", "cumQuote": "0.00000",
    "timeInForce": "GTX", "type": "LIMIT", "reduceOnly": False, "closePosition": False,
    "side": "BUY", "positionSide": "BOTH", "stopPrice": "0.00",
    "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "LIMIT",
    "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
    "time": 1707907323983, "updateTime": 1707907323991}

SYMBOL_CONFIG = {"symbol": "BTCUSDT", "marginType": "CROSSED",  # fetchMarginMode; the
                 "isAutoAddMargin": "false", "leverage": 21,  # documentation's types
                 "maxNotionalValue": "1000000"}

INCOME = {"symbol": "BTCUSDT", "incomeType": "FUNDING_FEE", "income": "-0.04618913",
          "asset": "USDT", "time": 1707465600000, "info": "FUNDING_FEE",
          "tranId": 8082457372019390060, "tradeId": ""}  # fetchFundingHistory


def shape(x):
    """Field names and JSON types, recursively (a list by its first element)."""
    if isinstance(x, dict):
        return {k: shape(v) for k, v in x.items()}
    if isinstance(x, list):
        return [shape(x[0])] if x else []
    return type(x).__name__


def plain(text: str) -> bool:
    """A decimal as Binance writes it: no exponent, no float tail."""
    return "e" not in text.lower() and len(text.split(".")[-1]) <= 8


async def _session(v):
    """A long with a stop, a resting limit, a funding payment: every endpoint has rows."""
    v.local.sim.set_leverage(BTC, 10)
    await v.gw.set_leverage(BTC, 10)
    await v.gw.create_order(OrderRequest("dbot-000001-entry-0", BTC, "buy", OrderType.MARKET,
                                         D("0.5")))
    await v.gw.create_order(OrderRequest("dbot-000001-t1-0", BTC, "sell", OrderType.LIMIT,
                                         D("0.2"), price=D(55_000), reduce_only=True))
    v.candle(BTC, T0 + HOUR, 50_000, 50_500, 49_800, 50_300)
    v.funding(BTC, T0 + HOUR, 0.0001)
    ex, sym = v.gw.ex, {"symbol": "BTCUSDT"}
    return {
        "positionRisk v3": (await ex.fapiPrivateV3GetPositionRisk(sym))[0],
        "account v3": await ex.fapiPrivateV3GetAccount(),
        "account v2": await ex.fapiPrivateV2GetAccount(),
        "balance": (await ex.fapiPrivateV2GetBalance())[0],
        "userTrades": (await ex.fapiPrivateGetUserTrades(sym))[0],
        "new order": await ex.fapiPrivatePostOrder(sym | {
            "side": "SELL", "type": "LIMIT", "quantity": "0.1", "price": "56000",
            "timeInForce": "GTC", "reduceOnly": "true", "newClientOrderId": "dbot-000001-t2-0"}),
        "query order": await ex.fapiPrivateGetOrder(sym | {
            "origClientOrderId": "dbot-000001-t1-0"}),
        "symbolConfig": (await ex.fapiPrivateGetSymbolConfig(sym))[0],
        "income": (await ex.fapiPrivateGetIncome(sym))[0],
    }


RECORDED = {"positionRisk v3": POSITION_RISK_V3, "account v3": ACCOUNT_V3,
            "account v2": ACCOUNT_V2, "balance": BALANCE, "userTrades": USER_TRADE,
            "new order": NEW_ORDER, "query order": QUERY_ORDER, "symbolConfig": SYMBOL_CONFIG,
            "income": INCOME}


@pytest.fixture(scope="module")
def answers():
    async def go():
        async with venue("ccxt", ex=sim(taker=0.0004)) as v:
            return await _session(v)
    return run(go())


@pytest.mark.parametrize("endpoint", sorted(RECORDED))
def test_field_names_and_types_equal_binances(answers, endpoint):
    assert shape(answers[endpoint]) == shape(RECORDED[endpoint])


def test_numbers_are_plain_decimals_at_the_markets_precision(answers):
    pos = answers["positionRisk v3"]
    assert pos["positionAmt"] == "0.500" and D(pos["entryPrice"]) == 50_000
    for k, v in pos.items():
        if isinstance(v, str) and k not in ("symbol", "positionSide", "marginAsset"):
            assert plain(v), (k, v)
    assert D(pos["maintMargin"]) > 0 and pos["updateTime"] == T0
    assert all(plain(v) for v in answers["account v3"]["assets"][0].values()
               if isinstance(v, str) and v != "USDT")


def test_leverage_and_margin_mode_come_from_symbol_config():
    """v3 positions carry no leverage: against Binance `float(p["leverage"] or 1)` said 1×."""
    async def go():
        async with venue("ccxt", ex=sim()) as v:
            await v.gw.set_leverage(BTC, 7)  # and isolated, as the bot trades
            await v.gw.create_order(OrderRequest("dbot-000001-entry-0", BTC, "buy",
                                                 OrderType.MARKET, D("0.5")))
            (pos,) = await v.gw.fetch_positions()
            again = await v.gw.ex.fapiPrivatePostMarginType({"symbol": "BTCUSDT",
                                                              "marginType": "CROSSED"})
            await v.gw.set_leverage(BTC, 7)  # back to isolated: "no need to change" is fine
            return pos, again, await v.gw.ex.fapiPrivateGetSymbolConfig({"symbol": "BTCUSDT"})
    pos, switched, (config,) = run(go())
    assert (pos.leverage, pos.margin_mode) == (7.0, "isolated")
    assert switched == {"code": 200, "msg": "success"}
    assert (config["leverage"], config["marginType"]) == (7, "ISOLATED")


def test_ccxt_fills_from_ours_every_field_it_fills_from_the_recording():
    """ccxt's own parsers over the recorded answer and over ours: no unified field that the
    recording fills is left empty by ours (order status, filled, average; position contracts,
    entry, liquidation price, margin mode, unrealised PnL; trades; balance free/used/total)."""
    def filled(parsed: dict) -> set[str]:
        return {k for k, v in parsed.items() if v is not None and k != "info"}

    async def go():
        async with venue("ccxt", ex=sim(taker=0.0004)) as v:
            ours = await _session(v)
            ex = v.gw.ex
            market = ex.market(BTC)
            parsers = {"positionRisk v3": ex.parse_position_risk, "userTrades": ex.parse_trade,
                       "query order": ex.parse_order, "new order": ex.parse_order,
                       "income": ex.parse_income}
            out = {name: (filled(parse(dict(RECORDED[name]), market)),
                          filled(parse(dict(ours[name]), market)))
                   for name, parse in parsers.items()}
            out["balance"] = (filled(ex.parse_balance_custom(ACCOUNT_V3, "linear")["USDT"]),
                              filled(ex.parse_balance_custom(ours["account v3"],
                                                             "linear")["USDT"]))
            return out

    filled_by = run(go())
    for endpoint, (recorded, ours) in filled_by.items():
        assert recorded - ours == set(), endpoint
    assert {"contracts", "entryPrice", "liquidationPrice", "marginMode",
            "unrealizedPnl"} <= filled_by["positionRisk v3"][1]


def test_leverage_brackets_carry_binances_maintenance_amount():
    """/fapi/v1/leverageBracket as Binance: integer caps and floors, and `cum` the amount
    that keeps the maintenance margin continuous across brackets (notional × rate − cum)."""
    from bot.exchanges.sim.exchange import SimExchange
    from bot.markets import default_market

    async def go():
        ex = SimExchange({BTC: default_market(BTC, 50_000)}, 100_000,
                         mmr_tiers=((50_000, 0.004), (250_000, 0.005), (float("inf"), 0.01)))
        ex.on_candle(BTC, T0, 50_000, 50_000, 50_000, 50_000)
        async with venue("ccxt", ex=ex) as v:
            return await v.gw.ex.fapiPrivateGetLeverageBracket()

    (row,) = run(go())
    brackets = row["brackets"]
    assert shape(brackets[0]) == {"bracket": "int", "initialLeverage": "int", "notionalCap": "int",
                                  "notionalFloor": "int", "maintMarginRatio": "float",
                                  "cum": "float"}
    assert [(b["notionalFloor"], b["notionalCap"], b["cum"]) for b in brackets] == [
        (0, 50_000, 0.0), (50_000, 250_000, 50.0), (250_000, 10**12, 1300.0)]
    for lo, hi in itertools.pairwise(brackets):  # continuous at each boundary
        edge = hi["notionalFloor"]
        assert edge * lo["maintMarginRatio"] - lo["cum"] == pytest.approx(
            edge * hi["maintMarginRatio"] - hi["cum"])
