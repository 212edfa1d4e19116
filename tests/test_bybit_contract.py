"""The local exchange's Bybit v5 dialect held to Bybit's answers, and the bybit gateway to
what Bybit does: for each endpoint the client calls, the same field names and JSON types as
Bybit's recorded answer, and every unified field ccxt fills from the recording filled from
ours; header signing, seven-day execution windows, conditional orders' direction, post-only
orders taken and cancelled, liquidations as BustTrade, funding's sign.

The recorded answers are facts taken from ccxt's test fixtures
(ts/src/test/static/response/bybit.json: fetchClosedOrder "Fetch swap closed order",
fetchPositions "Fetch linear position", fetchBalance "balance after availableToWithdraw
update", fetchMyTrades "swap trades without symbol", fetchFundingHistory, createOrder) and
Bybit's v5 documentation. The fixtures' recorder writes every number as a string
("positionIdx": "0", "seq": "15411084098", "retCode": "0"); the documentation gives these
as integers, and where it does so does this file (each place says so)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from ccxt.base.errors import AuthenticationError, BadRequest, OrderImmediatelyFillable

from bot.types import Fill, FundingPayment, OrderRequest, OrderStatus, OrderType
from tests.helpers import BTC, HOUR, T0, run, sim
from tests.test_binance_contract import shape
from tests.venues import venue

ENVELOPE = {"retCode": 0, "retMsg": "OK", "result": {}, "retExtInfo": {},
            "time": 1758189954146}  # retCode, time: integers (documentation)

ORDER = {  # fetchClosedOrder "Fetch swap closed order" (positionIdx, triggerDirection,
    # smpGroup: integers, documentation)
    "symbol": "BTCUSDT", "orderType": "Market", "orderLinkId": "", "slLimitPrice": "0",
    "orderId": "aee7453a-a100-465f-857a-3db780e9329a", "cancelType": "UNKNOWN",
    "avgPrice": "123498", "stopOrderType": "", "lastPriceOnCreated": "122392",
    "orderStatus": "Filled", "createType": "CreateByUser", "takeProfit": "",
    "cumExecValue": "123.498", "tpslMode": "", "smpType": "None", "triggerDirection": 0,
    "blockTradeId": "", "cumFeeDetail": {"USDT": "0.0679239"}, "rejectReason": "EC_NoError",
    "isLeverage": "", "price": "123615.9", "orderIv": "", "createdTime": "1757837580469",
    "tpTriggerBy": "", "positionIdx": 0, "timeInForce": "IOC", "leavesValue": "0",
    "updatedTime": "1757837580473", "side": "Buy", "smpGroup": 0, "triggerPrice": "",
    "tpLimitPrice": "0", "cumExecFee": "0.0679239", "slTriggerBy": "", "leavesQty": "0",
    "closeOnTrigger": False, "slippageToleranceType": "UNKNOWN", "placeType": "",
    "cumExecQty": "0.001", "reduceOnly": False, "qty": "0.001", "stopLoss": "",
    "smpOrderId": "", "slippageTolerance": "0", "triggerBy": "", "extraFees": ""}

PLACED = {"orderId": "1992319485461489920", "orderLinkId": "1992319485469878528"}  # create

POSITION = {  # fetchPositions "Fetch linear position"; positionIdx, riskId, tradeMode,
    # autoAddMargin, adlRankIndicator, seq: integers and curRealisedPnl (documentation)
    "symbol": "LTCUSDT", "leverage": "6", "autoAddMargin": 0, "avgPrice": "64.59947917",
    "liqPrice": "", "riskLimitValue": "200000", "takeProfit": "",
    "positionValue": "77.519375", "isReduceOnly": False, "tpslMode": "Full", "riskId": 71,
    "trailingStop": "0", "unrealisedPnl": "7.800625", "markPrice": "71.1",
    "adlRankIndicator": 2, "cumRealisedPnl": "-51.90142002", "curRealisedPnl": "0",
    "positionMM": "0.81072399", "createdTime": "1677168085779", "positionIdx": 0,
    "positionIM": "12.95542633", "seq": 15411084098, "updatedTime": "1699948800031",
    "side": "Buy", "bustPrice": "", "positionBalance": "11.699649",
    "leverageSysUpdatedTime": "", "size": "1.2", "positionStatus": "Normal",
    "mmrSysUpdatedTime": "1698293363950", "stopLoss": "", "tradeMode": 0}

WALLET = {  # fetchBalance "balance after availableToWithdraw update" (its USDT coin)
    "totalEquity": "92255.96988644", "accountIMRate": "0.0006",
    "totalMarginBalance": "90042.2788482", "totalInitialMargin": "54.3100333",
    "accountType": "UNIFIED", "totalAvailableBalance": "89987.9688149", "accountMMRate": "0",
    "totalPerpUPL": "-21.66812467", "totalWalletBalance": "90060.46626531", "accountLTV": "0",
    "totalMaintenanceMargin": "7.38826721",
    "coin": [{"availableToBorrow": "", "bonus": "0", "accruedInterest": "0",
              "availableToWithdraw": "", "totalOrderIM": "0", "equity": "3304.29766609",
              "totalPositionMM": "7.00285644", "usdValue": "3304.05314806",
              "unrealisedPnl": "-17.9613", "collateralSwitch": True, "spotHedgingQty": "0",
              "borrowAmount": "0.000000000000000000", "totalPositionIM": "50.61831144",
              "walletBalance": "3322.25896609", "cumRealisedPnl": "-10225.43901403",
              "locked": "42", "marginCollateral": True, "coin": "USDT"}]}

EXECUTION = {  # fetchMyTrades "swap trades without symbol" (seq: an integer, documentation)
    "symbol": "LTCUSDT", "orderType": "Market", "underlyingPrice": "", "orderLinkId": "",
    "orderId": "c18b72e4-1bf7-4c30-9b99-ba3274066029", "stopOrderType": "UNKNOWN",
    "execTime": "1710762918390", "feeCurrency": "", "createType": "CreateByUser",
    "feeRate": "0.00055", "tradeIv": "", "blockTradeId": "", "markPrice": "85.07",
    "execPrice": "85.11", "markIv": "", "orderQty": "0.1", "orderPrice": "89.32",
    "execValue": "8.511", "closedSize": "0", "execType": "Trade", "seq": 15961900053,
    "side": "Buy", "indexPrice": "", "leavesQty": "0", "isMaker": False,
    "execFee": "0.00468105", "execId": "751c8dba-bdeb-5d0c-9dd3-dda6bf98cdaf",
    "marketUnit": "", "execQty": "0.1"}

FUNDING = EXECUTION | {  # fetchFundingHistory "linear funding history"
    "orderType": "UNKNOWN", "createType": "", "feeRate": "-0.000881", "execType": "Funding",
    "execFee": "-0.00708126", "orderQty": "0", "orderPrice": "0"}

OPEN_ORDER = ORDER | {"cumFeeDetail": {}}  # fetchOpenOrder "Fetch an open swap order": no fee

RECORDED = {"envelope": ENVELOPE, "order": ORDER, "open order": OPEN_ORDER, "placed": PLACED,
            "cancelled": PLACED, "position": POSITION, "wallet": WALLET,
            "execution": EXECUTION, "funding": FUNDING}


def _req(cid, side, kind, amount, price=None, stop=None, reduce_only=False, tif="GTC"):
    return OrderRequest(cid, BTC, side, kind, D(amount), None if price is None else D(price),
                        None if stop is None else D(stop), reduce_only, tif)


async def _session(v):
    """A long, a resting reduce-only target, a funding payment: every endpoint has rows."""
    await v.gw.set_leverage(BTC, 10)
    await v.gw.create_order(_req("dbot-000001-entry-0", "buy", OrderType.MARKET, "0.5"))
    await v.gw.create_order(_req("dbot-000001-t1-0", "sell", OrderType.LIMIT, "0.2", 55_000,
                                 reduce_only=True))
    v.candle(BTC, T0 + HOUR, 50_000, 50_500, 49_800, 50_300)
    v.funding(BTC, T0 + HOUR, 0.0001)
    ex, lin = v.gw.ex, {"category": "linear", "symbol": "BTCUSDT"}

    async def first(call, params):
        return (await call(params))["result"]["list"][0]

    placed = await ex.privatePostV5OrderCreate(lin | {
        "side": "Sell", "orderType": "Limit", "qty": "0.1", "price": "56000",
        "timeInForce": "GTC", "reduceOnly": True, "orderLinkId": "dbot-000001-t2-0"})
    return {
        "envelope": placed | {"result": {}},
        "order": await first(ex.privateGetV5OrderRealtime,
                             lin | {"orderLinkId": "dbot-000001-entry-0"}),
        "open order": await first(ex.privateGetV5OrderRealtime, lin),
        "placed": placed["result"],
        "cancelled": (await ex.privatePostV5OrderCancel(
            lin | {"orderLinkId": "dbot-000001-t2-0"}))["result"],
        "position": await first(ex.privateGetV5PositionList, lin),
        "wallet": await first(ex.privateGetV5AccountWalletBalance, {"accountType": "UNIFIED"}),
        "execution": await first(ex.privateGetV5ExecutionList, lin | {"execType": "Trade"}),
        "funding": await first(ex.privateGetV5ExecutionList, lin | {"execType": "Funding"}),
    }


@pytest.fixture(scope="module")
def answers():
    async def go():
        async with venue("bybit", ex=sim(taker=0.0004)) as v:
            return await _session(v)
    return run(go())


@pytest.mark.parametrize("endpoint", sorted(RECORDED))
def test_field_names_and_types_equal_bybits(answers, endpoint):
    assert shape(answers[endpoint]) == shape(RECORDED[endpoint])


def test_the_answers_say_what_happened(answers):
    order, pos, wallet = answers["order"], answers["position"], answers["wallet"]
    assert (order["orderStatus"], order["cumExecQty"], order["avgPrice"],
            order["cumExecFee"]) == ("Filled", "0.5", "50000", "10")  # 0.04 % taker
    assert answers["open order"]["orderStatus"] == "New"
    assert (pos["side"], pos["size"], pos["avgPrice"], pos["leverage"], pos["tradeMode"]) == (
        "Buy", "0.500", "50000", "10", 1)  # isolated, as the bot trades
    assert wallet["coin"][0]["walletBalance"] == "99987.485"  # less the 10 fee, 2.515 funding
    assert (answers["funding"]["execFee"], answers["funding"]["side"]) == ("2.515", "Buy")
    assert answers["cancelled"]["orderLinkId"] == "dbot-000001-t2-0"


def test_ccxt_fills_from_ours_every_field_it_fills_from_the_recording():
    """ccxt's own parsers over the recorded answer and over ours: no unified field that the
    recording fills is left empty by ours (order status, filled, average, fee; position
    contracts, entry, leverage, margin, unrealised PnL; trades; funding; balance)."""
    def filled(parsed: dict) -> set[str]:
        return {k for k, v in parsed.items() if v not in (None, [], {}) and k != "info"}

    async def go():
        async with venue("bybit", ex=sim(taker=0.0004)) as v:
            ours = await _session(v)
            ex = v.gw.ex
            market = ex.market(BTC)
            parsers = {"order": ex.parse_order, "position": ex.parse_position,
                       "execution": ex.parse_trade, "funding": ex.parse_income}
            out = {name: (filled(parse(dict(RECORDED[name]), market)),
                          filled(parse(dict(ours[name]), market)))
                   for name, parse in parsers.items()}
            out["wallet"] = tuple(filled(ex.parse_balance(
                {"result": {"list": [w]}, "time": 1})["USDT"])
                for w in (RECORDED["wallet"], ours["wallet"]))
            return out

    for endpoint, (recorded, ours) in run(go()).items():
        assert recorded - ours == set(), endpoint


def test_requests_are_signed_in_headers():
    async def go():
        async with venue("bybit") as v:
            v.gw.ex.secret = "not-the-secret"
            with pytest.raises(AuthenticationError, match="10004"):
                await v.gw.fetch_balance()
            v.gw.ex.apiKey = "not-the-key"
            with pytest.raises(AuthenticationError, match="10003"):
                await v.gw.fetch_balance()
    run(go())


def test_executions_are_served_seven_days_at_a_time():
    async def go():
        async with venue("bybit") as v:
            await v.gw.create_order(_req("dbot-000001-entry-0", "buy", OrderType.MARKET, "1"))
            v.candle(BTC, T0 + 8 * 24 * HOUR, 50_000, 50_100, 49_900, 50_000)
            ex, lin = v.gw.ex, {"category": "linear", "symbol": "BTCUSDT"}
            recent = (await ex.privateGetV5ExecutionList(lin))["result"]["list"]
            week = (await ex.privateGetV5ExecutionList(lin | {"startTime": T0}))["result"]
            with pytest.raises(BadRequest, match="7 days"):
                await ex.privateGetV5ExecutionList(lin | {"startTime": T0,
                                                          "endTime": T0 + 8 * 24 * HOUR})
            return recent, week["list"]
    recent, week = run(go())
    assert recent == [] and [e["orderLinkId"] for e in week] == ["dbot-000001-entry-0"]


def test_conditional_orders_carry_their_direction_and_keep_their_id():
    async def go():
        async with venue("bybit") as v:
            await v.gw.create_order(_req("dbot-000001-entry-0", "sell", OrderType.MARKET, "1"))
            stop = await v.gw.create_order(_req("dbot-000001-stop-0", "buy",
                                                OrderType.STOP_MARKET, "1", stop=51_000,
                                                reduce_only=True))
            take = await v.gw.create_order(_req("dbot-000001-t1-0", "buy",
                                                OrderType.TAKE_PROFIT_MARKET, "0.4",
                                                stop=48_000, reduce_only=True))
            with pytest.raises(OrderImmediatelyFillable, match="110092"):  # rising, passed
                await v.gw.create_order(_req("dbot-000001-stop-1", "buy",
                                             OrderType.STOP_MARKET, "1", stop=49_000,
                                             reduce_only=True))
            rows = {r["orderLinkId"]: r for r in (await v.gw.ex.privateGetV5OrderRealtime(
                {"category": "linear", "symbol": "BTCUSDT"}))["result"]["list"]}
            v.candle(BTC, T0 + HOUR, 50_000, 51_500, 49_900, 51_200)
            done = await v.gw.fetch_order(BTC, "dbot-000001-stop-0")
            return stop, take, rows, done
    stop, take, rows, done = run(go())
    assert (stop.type, stop.status, take.type) == (OrderType.STOP_MARKET, OrderStatus.OPEN,
                                                   OrderType.TAKE_PROFIT_MARKET)
    assert [(rows[c]["triggerDirection"], rows[c]["orderStatus"], rows[c]["triggerPrice"])
            for c in ("dbot-000001-stop-0", "dbot-000001-t1-0")] == [
        (1, "Untriggered", "51000"), (2, "Untriggered", "48000")]
    assert (done.status, done.filled, done.average, done.exchange_id) == (
        OrderStatus.CLOSED, D(1), D(51_000), stop.exchange_id)  # the same orderId


def test_a_post_only_order_that_would_take_is_taken_and_cancelled():
    async def go():
        async with venue("bybit") as v:
            st = await v.gw.create_order(_req("dbot-000001-entry-0", "buy", OrderType.LIMIT,
                                              "0.1", 50_100, tif="GTX"))
            rows = (await v.gw.ex.privateGetV5OrderRealtime({
                "category": "linear", "symbol": "BTCUSDT",
                "orderLinkId": "dbot-000001-entry-0"}))["result"]["list"]
            resting = await v.gw.create_order(_req("dbot-000001-entry-1", "buy",
                                                   OrderType.LIMIT, "0.1", 49_900, tif="GTX"))
            return st, rows, resting
    st, (row,), resting = run(go())
    assert (st.status, st.filled) == (OrderStatus.CANCELED, 0)  # the manager's fallback
    assert (row["orderStatus"], row["rejectReason"], row["timeInForce"]) == (
        "Cancelled", "EC_PostOnlyWillTakeLiquidity", "PostOnly")
    assert resting.status is OrderStatus.OPEN


def test_a_liquidation_is_a_bust_trade_and_ends_the_reduce_only_stop():
    async def go():
        ex = sim(taker=0)
        ex.set_leverage(BTC, 10)
        async with venue("bybit", ex=ex) as v:
            await v.gw.create_order(_req("dbot-000001-entry-0", "buy", OrderType.MARKET, "1"))
            await v.gw.create_order(_req("dbot-000001-stop-0", "sell", OrderType.STOP_MARKET,
                                         "1", stop=40_000, reduce_only=True))
            events = await v.gw.poll_events()
            v.candle(BTC, T0 + HOUR, 50_000, 50_100, 43_000, 43_500)  # liquidated at 45 200
            events += await v.gw.poll_events()
            return events, v.local.executions
    events, rows = run(go())
    fills = [e for e in events if isinstance(e, Fill)]
    assert [(f.client_id, f.liquidation) for f in fills] == [
        ("dbot-000001-entry-0", False), ("", True)]
    assert [r["execType"] for r in rows] == ["Trade", "BustTrade"]
    stop = [e for e in events if getattr(e, "client_id", "") == "dbot-000001-stop-0"
            and not isinstance(e, Fill)]
    assert stop[-1].status is OrderStatus.EXPIRED  # Bybit ended it: nothing left to reduce


def test_funding_is_read_as_received_when_bybit_writes_a_negative_fee():
    async def go():
        async with venue("bybit", ex=sim(taker=0)) as v:
            await v.gw.create_order(_req("dbot-000001-entry-0", "sell", OrderType.MARKET, "1"))
            await v.gw.poll_events()
            v.funding(BTC, T0 + 8 * HOUR, 0.0001)
            pays = [e for e in await v.gw.poll_events() if isinstance(e, FundingPayment)]
            v.funding(BTC, T0 + 16 * HOUR, -0.0002)
            pays += [e for e in await v.gw.poll_events() if isinstance(e, FundingPayment)]
            return pays, [r["execFee"] for r in v.local.executions if r["execType"] == "Funding"]
    pays, fees = run(go())
    assert fees == ["-5", "10"]  # Bybit: what the account paid
    assert [p.amount for p in pays] == [D(5), D(-10)]  # ours: what it received


def test_a_trailing_stop_order_is_refused_with_the_reason():
    async def go():
        async with venue("bybit") as v:
            await v.gw.create_order(_req("dbot-000001-entry-0", "buy", OrderType.MARKET, "1"))
            await v.gw.create_order(OrderRequest(
                "dbot-000001-stop-0", BTC, "sell", OrderType.TRAILING_STOP_MARKET, D(1),
                reduce_only=True, callback_rate=D(1)))
    with pytest.raises(Exception, match="trails only a whole position"):
        run(go())


def test_a_rate_limited_order_is_sent_again_and_placed_once():
    """Bybit's 10006 "Too many visits!" is a refusal before the engine saw the order: the
    gateway waits and sends it again, and the order exists once."""
    async def go():
        async with venue("bybit") as v:
            v.local.faults.script.append(("POST /v5/order/create", "429"))
            st = await v.gw.create_order(_req("dbot-000001-entry-0", "buy", OrderType.MARKET,
                                              "1"))
            return st, v.local.requests["POST /v5/order/create"], len(v.local.sim.orders)
    st, tries, orders = run(go())
    assert (st.status, st.filled, tries, orders) == (OrderStatus.CLOSED, D(1), 2, 1)


def test_a_restarted_gateway_reads_each_working_conditional_order_as_its_kind():
    """Found working after a restart (no memory of sending them): Bybit says only
    triggerDirection and orderType, and from them with the side each kind is read back."""
    from bot.exchanges.ccxt.gateways import gateway_for
    from bot.exchanges.localex import venue_urls

    sent = {"dbot-000001-stop-0": ("buy", OrderType.STOP_MARKET, 51_000, None),
            "dbot-000001-stop-1": ("buy", OrderType.STOP_LIMIT, 51_000, 51_100),
            "dbot-000001-t1-0": ("buy", OrderType.TAKE_PROFIT_MARKET, 48_000, None),
            "dbot-000001-t2-0": ("buy", OrderType.TAKE_PROFIT_LIMIT, 47_000, 47_000)}

    async def go():
        async with venue("bybit") as v:
            await v.gw.create_order(_req("dbot-000001-entry-0", "sell", OrderType.MARKET, "1"))
            for cid, (side, kind, stop, price) in sent.items():
                await v.gw.create_order(_req(cid, side, kind, "0.2", price, stop=stop,
                                             reduce_only=True))
            again = gateway_for("bybit", "local-key", "local-secret",
                                urls=venue_urls("bybit", v.gw.ex.urls["api"]["public"]),
                                symbols=(BTC,), rate_limit_ms=0, throttle=False)
            try:
                await again.load_markets()
                return {o.client_id: o.type for o in await again.fetch_open_orders(BTC)}
            finally:
                await again.close()
    assert run(go()) == {cid: kind for cid, (_, kind, _, _) in sent.items()}
