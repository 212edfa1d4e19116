"""Orders as Binance executes them, through real ccxt over HTTP: time in force (GTC, IOC,
FOK, GTX post-only with -5022), PARTIALLY_FILLED, and a partial entry fill handled by the
order manager exactly as in process."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from ccxt.base.errors import ExchangeError, InvalidOrder

from bot.clock import ReplayClock
from bot.execution.orders import OrderManager
from bot.types import OrderRequest, OrderStatus, OrderType
from state.store import Store
from tests.helpers import BTC, HOUR, T0, Desk, plan, run, sim
from tests.venues import venue

PLAN = plan(1, 50_000, 49_000, (51_000, 52_000, 53_000))


def limit(cid: str, side: str, price: str, tif: str, amount: str = "0.1") -> OrderRequest:
    return OrderRequest(cid, BTC, side, OrderType.LIMIT, D(amount), price=D(price),
                        time_in_force=tif)


@pytest.mark.parametrize("kind", ["sim", "ccxt"])
def test_time_in_force_as_binance(kind):
    async def go():
        async with venue(kind, ex=sim(taker=0, maker=0)) as v:  # last price 50 000
            out = {}
            with pytest.raises(InvalidOrder, match="-5022"):  # a post-only that crosses
                await v.gw.create_order(limit("dbot-000001-entry-0", "buy", "50100", "GTX"))
            out["gtx"] = await v.gw.create_order(limit("dbot-000002-entry-0", "buy", "49900",
                                                       "GTX"))
            out["ioc_miss"] = await v.gw.create_order(limit("dbot-000003-entry-0", "buy",
                                                            "49900", "IOC"))
            out["ioc_hit"] = await v.gw.create_order(limit("dbot-000004-entry-0", "buy",
                                                           "50100", "IOC"))
            with pytest.raises(InvalidOrder, match="-5021"):
                await v.gw.create_order(limit("dbot-000005-entry-0", "buy", "49900", "FOK"))
            out["fok_hit"] = await v.gw.create_order(limit("dbot-000006-entry-0", "buy",
                                                           "50100", "FOK"))
            out["open"] = {o.client_id for o in await v.gw.fetch_open_orders(BTC)}
            if v.local is not None:
                raw = await v.gw.ex.fapiPrivateGetOrder({"symbol": "BTCUSDT",
                                                         "origClientOrderId": "dbot-000002-entry-0"})
                out["raw_tif"] = raw["timeInForce"]
            return out

    out = run(go())
    assert out["gtx"].status is OrderStatus.OPEN  # a passive post-only rests
    assert out["ioc_miss"].status is OrderStatus.EXPIRED and out["ioc_miss"].filled == 0
    assert out["ioc_hit"].status is OrderStatus.CLOSED and out["ioc_hit"].average == D(50_000)
    assert out["fok_hit"].status is OrderStatus.CLOSED
    assert out["open"] == {"dbot-000002-entry-0"}
    assert out.get("raw_tif", "GTX") == "GTX"


def test_a_limit_without_time_in_force_is_refused_as_binance_does():
    async def go():
        async with venue("ccxt", ex=sim()) as v:
            return await v.gw.ex.fapiPrivatePostOrder({
                "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.1",
                "price": "49000"})

    with pytest.raises(Exception, match="-1102"):
        run(go())


def _desk(v, **orders):
    """An order manager on venue `v` with these [orders] settings, on a clock at T0."""
    from bot.config import OrdersConfig
    clock = ReplayClock(T0)
    return OrderManager(v.gw, Store(":memory:"), v.ex.markets, clock,
                        OrdersConfig(**orders)), clock


def test_a_partial_fill_reads_partially_filled_and_the_37_percent_entry_is_protected():
    """The order manager over real ccxt: a 1 BTC limit entry fills 0.37; Binance says
    PARTIALLY_FILLED; the stop covers exactly 0.370 while the rest still rests; when the
    entry's time is up the rest is cancelled and the targets split what is held."""
    async def go():
        ex = sim(maker=0, taker=0)
        async with venue("ccxt", ex=ex) as v:
            om, clock = _desk(v)
            trade = await om.open_trade(Desk.approved(PLAN, "1"), limit_price=49_950,
                                        timeout_ms=HOUR)
            cid = f"dbot-{trade.id:06d}-entry-0"
            ex.fill_partially(cid, D("0.37"), D(49_950))
            raw = await v.gw.ex.fapiPrivateGetOrder({"symbol": "BTCUSDT",
                                                     "origClientOrderId": cid})
            await om.sync()
            state = (trade.state, trade.filled)
            stops = [(o.amount, o.stop_price, o.reduce_only) for o in ex.open_orders(BTC)
                     if o.type is OrderType.STOP_MARKET]
            clock.t += HOUR
            await om.sync()
            legs = {o.leg: o.amount for o in om.store.orders(trade.id) if o.leg != "entry"}
            return raw, state, stops, ex.fetch_order(cid).status, trade.state, legs

    raw, state, stops, entry_status, final, legs = run(go())
    assert (raw["status"], raw["executedQty"]) == ("PARTIALLY_FILLED", "0.37")
    assert state == ("pending_entry", D("0.37"))
    assert stops == [(D("0.370"), D("49000.0"), True)]
    assert entry_status is OrderStatus.CANCELED and final == "open"
    assert legs["stop"] == D("0.370")
    assert (legs["t1"], legs["t2"], legs["t3"]) == (D("0.148"), D("0.111"), D("0.111"))


def _legs(om, trade) -> list[tuple[str, str, str]]:
    return [(o.client_id.split("-", 2)[2], o.type, o.state) for o in om.store.orders(trade.id)]


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
def test_a_post_only_entry_rests_a_tick_passive_and_fills_as_maker(kind):
    async def go():
        ex = sim(maker=0.0002, taker=0.0005)
        async with venue(kind, ex=ex) as v:
            om, clock = _desk(v, entry_type="post_only")
            trade = await om.open_trade(Desk.approved(PLAN, "1"))
            resting = [(o.price, o.time_in_force) for o in ex.open_orders(BTC)]
            clock.t = T0 + HOUR
            v.candle(BTC, T0 + HOUR, 50_000, 50_100, 49_990, 50_050)
            await om.sync()
            return resting, trade, _legs(om, trade)

    resting, trade, legs = run(go())
    assert resting == [(D("49999.9"), "GTX")]  # a buy one tick under the plan's 50 000
    assert trade.state == "open" and trade.entry_price == D("49999.9")
    assert trade.fees == D("9.99998")  # maker: 0.02 % of 49 999.9
    assert legs[0] == ("entry-0", "limit", "filled") and ("stop-0", "stop_market", "open") in legs


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
@pytest.mark.parametrize("fallback", ["market", "cancel"])
def test_a_post_only_entry_refused_as_taker_falls_back_as_configured(fallback, kind):
    async def go():
        async with venue(kind, ex=sim(price=49_900)) as v:  # the price fell under the plan
            om, _ = _desk(v, entry_type="post_only", post_only_fallback=fallback)
            trade = await om.open_trade(Desk.approved(PLAN, "1"))
            return trade, _legs(om, trade), om.store.orders(trade.id)[0].reason

    trade, legs, reason = run(go())
    if kind == "bybit":  # Bybit takes the order and cancels it at once: no refusal
        assert legs[0] == ("entry-0", "limit", "canceled")
    else:
        assert legs[0] == ("entry-0", "limit", "rejected") and "-5022" in reason
    if fallback == "market":
        assert legs[1] == ("entry-1", "market", "filled")
        assert trade.state == "open" and trade.entry_price == D(49_900)
    else:
        assert len(legs) == 1 and trade.state == "failed"
        assert kind == "bybit" or "-5022" in trade.close_reason


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
def test_a_post_only_entry_unfilled_when_its_time_is_up_enters_at_market(kind):
    async def go():
        async with venue(kind, ex=sim()) as v:
            om, clock = _desk(v, entry_type="post_only", post_only_wait_minutes=30)
            trade = await om.open_trade(Desk.approved(PLAN, "1"))
            clock.t = T0 + 29 * 60_000
            await om.sync()
            still = trade.state
            clock.t = T0 + 30 * 60_000
            await om.sync()
            return still, trade, _legs(om, trade)

    still, trade, legs = run(go())
    assert still == "pending_entry"
    assert legs[:2] == [("entry-0", "limit", "canceled"), ("entry-1", "market", "filled")]
    assert trade.state == "open" and trade.filled == D(1)


def test_a_conditional_order_on_the_legacy_order_endpoint_is_sent_to_the_algo_api():
    async def go():
        async with venue("ccxt", ex=sim()) as v:
            return await v.gw.ex.fapiPrivatePostOrder({
                "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.1",
                "stopPrice": "49000"})

    with pytest.raises(ExchangeError, match="-4120"):  # ccxt's class for it on USD-M
        run(go())


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
def test_a_resting_limit_takes_at_most_its_share_of_each_candles_volume(kind):
    """[sim] volume_share = 0.1: a 1 BTC bid reached by a 4 BTC candle fills 0.4 and stays
    open (PARTIALLY_FILLED); the next candle's 20 BTC fill the 0.6 left."""
    async def go():
        ex = sim(maker=0)
        ex.volume_share = D("0.1")
        async with venue(kind, ex=ex) as v:
            await v.gw.create_order(limit("dbot-000001-entry-0", "buy", "49900", "GTC", "1"))
            v.candle(BTC, T0 + HOUR, 50_000, 50_100, 49_800, 49_950, volume=4)
            first = await v.gw.fetch_order(BTC, "dbot-000001-entry-0")
            raw = None
            if kind == "ccxt":
                raw = (await v.gw.ex.fapiPrivateGetOrder({
                    "symbol": "BTCUSDT", "origClientOrderId": "dbot-000001-entry-0"}))["status"]
            elif kind == "bybit":
                raw = (await v.gw.ex.privateGetV5OrderRealtime({
                    "category": "linear", "symbol": "BTCUSDT",
                    "orderLinkId": "dbot-000001-entry-0"}))["result"]["list"][0]["orderStatus"]
            v.candle(BTC, T0 + 2 * HOUR, 49_950, 50_000, 49_850, 49_900, volume=20)
            return first, raw, await v.gw.fetch_order(BTC, "dbot-000001-entry-0")

    first, raw, second = run(go())
    assert (first.status, first.filled) == (OrderStatus.OPEN, D("0.4"))
    assert raw in (None, "PARTIALLY_FILLED", "PartiallyFilled")
    assert (second.status, second.filled, second.average) == (OrderStatus.CLOSED, D(1),
                                                              D(49_900))


WIDE = plan(1, 50_000, 47_000, (53_000, 54_000, 55_000))


def _ioc_close(kind: str, move=None):
    """A 1 BTC long closed by hand with [orders] exit_type = ioc (20 bps), the bot's last
    close 50 000; `move(v)` moves the market first. Its trade and its legs."""
    async def go():
        from bot.config import ManagementConfig
        async with venue(kind, ex=sim(taker=0)) as v:
            om, _ = _desk(v, exit_type="ioc", exit_band_bps=20)
            trade = await om.open_trade(Desk.approved(WIDE, "1"))
            await om.manage(BTC, T0, 50_000.0, 500.0, ManagementConfig())
            if move is not None:
                move(v)
            await om.close_trade(trade.id, "by hand")
            exits = [(o.client_id.split("-", 2)[2], o.type, o.state, o.price)
                     for o in om.store.orders(trade.id) if o.leg == "exit"]
            return trade, exits
    return run(go())


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
def test_an_ioc_exit_takes_within_its_band(kind):
    trade, exits = _ioc_close(kind)
    assert trade.state == "closed" and trade.exit_price == D(50_000)
    # an IOC sell 20 bps under the last close: it takes the price, never worse than that
    assert exits == [("exit-0", "limit", "filled", D("49900.0"))]


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
def test_an_ioc_exit_the_price_ran_away_from_sends_the_rest_at_market(kind):
    trade, exits = _ioc_close(kind, lambda v: v.candle(BTC, T0 + HOUR, 50_000, 50_000, 48_900,
                                                       49_000))  # before the bot looks
    assert [e[:3] for e in exits] == [("exit-0", "limit", "expired"),
                                      ("exit-1", "market", "filled")]
    assert trade.state == "closed" and trade.exit_price == D(49_000)


@pytest.mark.parametrize("kind", ["sim", "ccxt", "bybit"])
def test_take_profit_targets_stay_out_of_the_book_and_fill_as_makers(kind):
    """target_type = take_profit: T1 at 51 000 waits on the exchange as a TAKE_PROFIT with
    its trigger a tick nearer (50 999.9); the rally to 51 500 fills it as a maker at 51 000
    and the stop goes to breakeven as with a resting limit."""
    async def go():
        ex = sim(maker=0.0002, taker=0)
        async with venue(kind, ex=ex) as v:
            om, clock = _desk(v, target_type="take_profit")
            trade = await om.open_trade(Desk.approved(PLAN, "1"))
            waiting = sorted((o.type.value, o.price, o.stop_price) for o in ex.open_orders(BTC)
                             if o.client_id.endswith("t1-0"))
            clock.t = T0 + HOUR
            v.candle(BTC, T0 + HOUR, 50_000, 51_500, 49_900, 51_200)
            await om.sync()
            t1 = ex.fetch_order(f"dbot-{trade.id:06d}-t1-0")
            return waiting, t1, trade

    waiting, t1, trade = run(go())
    assert waiting == [("take_profit_limit", D("51000.0"), D("50999.9"))]
    assert (t1.status, t1.filled, t1.average, t1.fee) == (OrderStatus.CLOSED, D("0.4"),
                                                          D(51_000), D("4.08"))
    assert trade.state == "t1_filled" and trade.stop_price == trade.entry_price
