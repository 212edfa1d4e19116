"""One contract, two gateways: the SimGateway in-process and the CcxtGateway through real
ccxt to the local exchange over HTTP. Same orders, fills, positions, funding and errors."""

from decimal import Decimal as D

import pytest
from ccxt.base.errors import (
    DuplicateOrderId,
    InsufficientFunds,
    InvalidOrder,
    OrderImmediatelyFillable,
    OrderNotFound,
)

from bot.types import FundingPayment, OrderRequest, OrderState, OrderStatus, OrderType
from tests.helpers import BTC, HOUR, T0, run, sim
from tests.venues import venue

KINDS = ["sim", "ccxt", "bybit"]
MKT, LMT, STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET


def req(cid, side, type_, amount, price=None, stop=None, reduce_only=False):
    return OrderRequest(cid, BTC, side, type_, D(amount), None if price is None else D(price),
                        None if stop is None else D(stop), reduce_only)


def states(events) -> dict[str, OrderState]:
    return {e.client_id: e for e in events if isinstance(e, OrderState)}


@pytest.mark.parametrize("kind", KINDS)
def test_markets_and_leverage(kind):
    async def go():
        async with venue(kind) as v:
            m = (await v.gw.load_markets())[BTC]
            assert (m.amount_step, m.price_tick, m.min_notional) == (D("0.001"), D("0.1"),
                                                                     D(100))
            await v.gw.set_leverage(BTC, 10)
            assert v.ex.leverage[BTC] == 10
    run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_market_entry_fills_with_fee_position_and_balance(kind):
    async def go():
        async with venue(kind) as v:
            st = await v.gw.create_order(req("dbot-000001-entry-0", "buy", MKT, "0.5"))
            assert (st.status, st.filled, st.average, st.fee) == (
                OrderStatus.CLOSED, D("0.5"), D(50_000), D("12.5"))
            (pos,) = await v.gw.fetch_positions()
            assert (pos.contracts, pos.entry_price, pos.margin) == (D("0.5"), D(50_000),
                                                                    D(5_000))
            bal = await v.gw.fetch_balance()
            assert bal.wallet == D("99987.5") and bal.available == D("94987.5")
            again = await v.gw.fetch_order(BTC, "dbot-000001-entry-0")
            assert again.filled == D("0.5") and again.fee == D("12.5")
    run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_stop_and_target_rest_then_the_stop_fills_first(kind):
    async def go():
        async with venue(kind) as v:
            await v.gw.create_order(req("dbot-000001-entry-0", "buy", MKT, "1"))
            await v.gw.poll_events()
            stop = await v.gw.create_order(req("dbot-000001-stop-0", "sell", STOP, "1",
                                               stop="49000", reduce_only=True))
            t1 = await v.gw.create_order(req("dbot-000001-t1-0", "sell", LMT, "0.4",
                                             price="51000", reduce_only=True))
            assert stop.status is t1.status is OrderStatus.OPEN
            assert stop.type is STOP and stop.stop_price == D(49_000) and stop.reduce_only
            working = {o.client_id for o in await v.gw.fetch_open_orders(BTC)}
            assert working == {"dbot-000001-stop-0", "dbot-000001-t1-0"}
            v.candle(BTC, T0 + HOUR, 50_000, 51_500, 48_500, 50_500)
            seen = states(await v.gw.poll_events())
            assert seen["dbot-000001-stop-0"].status is OrderStatus.CLOSED
            assert seen["dbot-000001-stop-0"].average == D(49_000)
            assert seen["dbot-000001-stop-0"].fee == D("24.5")
            assert seen["dbot-000001-t1-0"].status is OrderStatus.EXPIRED
            assert await v.gw.fetch_positions() == []
            assert await v.gw.fetch_open_orders(BTC) == []
    run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_cancel_and_unknown_orders(kind):
    async def go():
        async with venue(kind) as v:
            await v.gw.create_order(req("dbot-000002-entry-0", "buy", LMT, "0.01",
                                        price="45000"))
            st = await v.gw.cancel_order(BTC, "dbot-000002-entry-0")
            assert st.status is OrderStatus.CANCELED
            with pytest.raises(OrderNotFound):
                await v.gw.cancel_order(BTC, "dbot-000002-entry-0")
            with pytest.raises(OrderNotFound):
                await v.gw.fetch_order(BTC, "dbot-000099-entry-0")
    run(go())


# each refusal's code as the venue writes it: min notional, margin, reduce-only, trigger passed
CODES = {"sim": ("-4164", "-2019", "-2022", "-2021"), "ccxt": ("-4164", "-2019", "-2022", "-2021"),
         "bybit": ("110094", "110007", "110017", "110093")}


@pytest.mark.parametrize("kind", KINDS)
def test_each_error_class_maps_the_same(kind):
    notional, margin, reduce_only, passed = CODES[kind]

    async def go():
        async with venue(kind, ex=sim(balance=1_000)) as v:
            with pytest.raises(InvalidOrder, match=notional):
                await v.gw.create_order(req("dbot-000003-entry-0", "buy", MKT, "0.001"))
            with pytest.raises(InsufficientFunds, match=margin):
                await v.gw.create_order(req("dbot-000003-entry-1", "buy", MKT, "1"))
            with pytest.raises(InvalidOrder, match=reduce_only):
                await v.gw.create_order(req("dbot-000003-t1-0", "sell", LMT, "0.01",
                                            price="51000", reduce_only=True))
            await v.gw.create_order(req("dbot-000003-entry-2", "buy", MKT, "0.01"))
            with pytest.raises(OrderImmediatelyFillable, match=passed):
                await v.gw.create_order(req("dbot-000003-stop-0", "sell", STOP, "0.01",
                                            stop="50500", reduce_only=True))
            await v.gw.create_order(req("dbot-000003-t1-1", "sell", LMT, "0.01",
                                        price="52000", reduce_only=True))
            with pytest.raises(DuplicateOrderId):
                await v.gw.create_order(req("dbot-000003-t1-1", "sell", LMT, "0.01",
                                            price="52000", reduce_only=True))
    run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_funding_payments_arrive_signed(kind):
    async def go():
        async with venue(kind, ex=sim(taker=0)) as v:
            await v.gw.create_order(req("dbot-000004-entry-0", "sell", MKT, "1"))
            await v.gw.poll_events()
            v.funding(BTC, T0 + 8 * HOUR, 0.0001)
            pays = [e for e in await v.gw.poll_events() if isinstance(e, FundingPayment)]
            assert [p.amount for p in pays] == [D(5)]
    run(go())


@pytest.mark.parametrize("kind", ["sim", "ccxt"])
def test_spot_leg_transfer_buy_and_balances(kind):
    """The basis executor's spot side: quote moved from futures, spot bought at market with
    its fee, balances read back exactly; the perp short beside it is a separate position."""
    async def go():
        async with venue(kind, spot=True) as v:
            markets = await v.gw.load_markets()
            assert markets["BTC/USDT"].spot and not markets[BTC].spot
            v.candle("BTC/USDT", T0, 50_000, 50_000, 50_000, 50_000)
            with pytest.raises(InsufficientFunds, match="-2010"):
                await v.gw.create_order(OrderRequest("dbot-b000001-spot-0", "BTC/USDT", "buy",
                                                     MKT, D("0.2")))
            await v.gw.transfer("USDT", D(10100), True)
            st = await v.gw.create_order(OrderRequest("dbot-b000001-spot-1", "BTC/USDT", "buy",
                                                      MKT, D("0.2")))
            assert (st.status, st.filled, st.average, st.fee) == (
                OrderStatus.CLOSED, D("0.2"), D(50_000), D("5.0"))
            await v.gw.create_order(req("dbot-b000001-perp-0", "sell", MKT, "0.2"))
            bal = await v.gw.fetch_balance()
            assert bal.spot["BTC"] == D("0.2") and bal.spot["USDT"] == D(95)
            assert bal.wallet == D(100_000) - D(10_100) - D(5)  # transfer out, perp taker fee
            [pos] = await v.gw.fetch_positions()
            assert pos.symbol == BTC and pos.contracts == D("-0.2")
            assert (await v.gw.fetch_order("BTC/USDT", "dbot-b000001-spot-1")).filled == D("0.2")
    run(go())


def test_a_spot_fee_charged_in_the_base_asset_is_valued_at_the_fill_price():
    """Binance takes a spot buy's fee in the coin bought (without BNB): the gateway reports
    it in quote, at the fill's price; a fee in a third asset is not counted as quote."""
    async def go():
        async with venue("ccxt", spot=True) as v:
            v.candle("BTC/USDT", T0, 50_000, 50_000, 50_000, 50_000)
            await v.gw.transfer("USDT", D(10100), True)
            await v.gw.create_order(OrderRequest("dbot-b000001-spot-0", "BTC/USDT", "buy",
                                                 MKT, D("0.2")))
            [row] = v.local.spot_trades
            row.update(commission="0.0002", commissionAsset="BTC")
            st = await v.gw.fetch_order("BTC/USDT", "dbot-b000001-spot-0")
            assert st.fee == D("10.0000")  # 0.0002 BTC at 50 000
            row.update(commission="0.01", commissionAsset="BNB")
            assert (await v.gw.fetch_order("BTC/USDT", "dbot-b000001-spot-0")).fee == 0
    run(go())


def test_maintenance_brackets_come_from_the_exchange():
    """The exchange's leverage brackets become the market's MMR tiers, which the risk
    checks use in place of the configured ones."""
    from bot.exchanges.sim.exchange import SimExchange
    from bot.markets import default_market

    tiers = ((50_000.0, 0.004), (250_000.0, 0.005), (float("inf"), 0.01))
    ex = SimExchange({BTC: default_market(BTC, 50_000)}, 100_000, mmr_tiers=tiers)
    ex.on_candle(BTC, T0, 50_000, 50_000, 50_000, 50_000)

    async def go():
        async with venue("ccxt", ex=ex) as v:
            m = (await v.gw.load_markets())[BTC]
            assert m.mmr_tiers == ((50_000.0, 0.004), (250_000.0, 0.005), (1e12, 0.01))
            assert m.rules().mmr_tiers == m.mmr_tiers
    run(go())


def test_bybit_refuses_the_spot_leg_with_the_reason():
    async def go():
        async with venue("bybit", spot=True):
            pass
    with pytest.raises(ValueError, match="spot leg is not supported on bybit"):
        run(go())
