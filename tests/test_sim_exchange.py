"""The simulated exchange: rejects like an exchange, fills by the stated OHLC path rule."""

from decimal import Decimal as D

import pytest
from ccxt.base.errors import DuplicateOrderId, InsufficientFunds, InvalidOrder, OrderNotFound

from bot.exchanges.sim.matching import candle_path
from bot.types import Fill, FundingPayment, OrderRequest, OrderStatus, OrderType
from tests.helpers import BTC, HOUR, T0, sim

MKT, LMT, STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET


def req(cid, side, type_, amount, price=None, stop=None, reduce_only=False, symbol=BTC):
    return OrderRequest(cid, symbol, side, type_, D(amount), None if price is None else D(price),
                        None if stop is None else D(stop), reduce_only)


def long_one_btc(ex):
    ex.create_order(req("e", "buy", MKT, "1"))
    ex.drain()


@pytest.mark.parametrize("request_, code", [
    (req("a", "buy", MKT, "0.0015"), "-1111"),          # amount off the 0.001 step
    (req("b", "buy", LMT, "0.01", price="49999.95"), "-4014"),  # price off the 0.1 tick
    (req("c", "buy", MKT, "0.001"), "-4164"),           # 50 USDT < 100 min notional
    (req("d", "sell", STOP, "0.01", stop="50100"), "-2021"),  # sell stop above last
    (req("e", "sell", LMT, "0.01", price="51000", reduce_only=True), "-2022"),  # nothing held
    (req("f", "buy", LMT, "0.01"), "-1102"),            # limit without price
])
def test_rejects_like_an_exchange(request_, code):
    ex = sim()
    with pytest.raises(InvalidOrder, match=code):
        ex.create_order(request_)
    assert ex.open_orders() == [] and ex.positions == {}


def test_margin_insufficient_and_duplicate_client_id():
    ex = sim(balance=1_000)
    with pytest.raises(InsufficientFunds, match="-2019"):
        ex.create_order(req("big", "buy", MKT, "1"))  # 50 000 notional at 5x needs 10 000
    ex.create_order(req("ok", "buy", LMT, "0.01", price="40000"))
    with pytest.raises(DuplicateOrderId, match="-4116"):
        ex.create_order(req("ok", "buy", LMT, "0.01", price="40000"))
    with pytest.raises(OrderNotFound, match="-2011"):
        ex.cancel_order("never-sent")


def test_market_order_fills_at_last_with_taker_fee():
    ex = sim()
    st = ex.create_order(req("e", "buy", MKT, "1"))
    assert st.status is OrderStatus.CLOSED and st.average == D(50_000)
    assert st.fee == D("25.0000")  # 50 000 × 0.05 %
    pos = ex.fetch_positions()[0]
    assert pos.contracts == D(1) and pos.margin == D(10_000)
    assert ex.wallet == D(100_000) - D(25)


def test_path_rule_is_adverse_extreme_first():
    assert candle_path(10, 12, 9, 11, position_sign=1) == (10, 9, 12, 11)
    assert candle_path(10, 12, 9, 11, position_sign=-1) == (10, 12, 9, 11)
    assert candle_path(10, 12, 9, 11, position_sign=0) == (10, 9, 12, 11)
    assert candle_path(10, 12, 9, 9.5, position_sign=0) == (10, 12, 9, 9.5)


def test_stop_and_target_in_one_candle_stop_fills_first():
    ex = sim()
    long_one_btc(ex)
    ex.create_order(req("stop", "sell", STOP, "1", stop="49000", reduce_only=True))
    ex.create_order(req("t1", "sell", LMT, "1", price="51000", reduce_only=True))
    ex.on_candle(BTC, T0 + HOUR, 50_000, 51_500, 48_500, 50_500)  # green candle reaching both
    assert ex.fetch_order("stop").status is OrderStatus.CLOSED
    assert ex.fetch_order("stop").average == D(49_000)
    assert ex.fetch_order("t1").status is OrderStatus.EXPIRED
    assert ex.positions == {}


def test_gap_through_stop_fills_at_open_and_limit_at_its_price():
    ex = sim()
    long_one_btc(ex)
    ex.create_order(req("stop", "sell", STOP, "1", stop="49000", reduce_only=True))
    ex.on_candle(BTC, T0 + HOUR, 48_000, 48_500, 47_000, 48_200)
    assert ex.fetch_order("stop").average == D(48_000)  # gapped: worse than the stop
    ex2 = sim()
    long_one_btc(ex2)
    ex2.create_order(req("t1", "sell", LMT, "0.4", price="50500", reduce_only=True))
    ex2.on_candle(BTC, T0 + HOUR, 50_000, 50_800, 49_900, 50_700)
    t1 = ex2.fetch_order("t1")
    assert t1.average == D(50_500) and t1.fee == D("0.4") * D(50_500) * D("0.0002")
    assert ex2.fetch_positions()[0].contracts == D("0.6")


def test_funding_charged_on_the_right_side():
    for side, rate, expected in (("buy", 0.0001, D(-5)), ("sell", 0.0001, D(5)),
                                 ("buy", -0.0002, D(10))):
        ex = sim(taker=0)
        ex.create_order(req("e", side, MKT, "1"))
        ex.drain()
        ex.on_funding(BTC, T0 + 8 * HOUR, rate)
        pay = [e for e in ex.drain() if isinstance(e, FundingPayment)]
        assert len(pay) == 1 and pay[0].amount == expected
        assert ex.wallet == D(100_000) + expected
    flat = sim()
    flat.on_funding(BTC, T0 + 8 * HOUR, 0.001)
    assert flat.drain() == [] and flat.wallet == D(100_000)


def test_isolated_liquidation_loses_the_margin_and_cancels_reduce_only():
    ex = sim(taker=0)
    ex.set_leverage(BTC, 10)
    long_one_btc(ex)  # margin 5 000, liquidation at 50 000 × (1 − 0.1 + 0.004) = 45 200
    ex.create_order(req("t1", "sell", LMT, "1", price="55000", reduce_only=True))
    assert ex.fetch_positions()[0].liquidation_price == D("45200.000")
    ex.on_candle(BTC, T0 + HOUR, 50_000, 50_100, 45_000, 45_500)
    fills = [e for e in ex.drain() if isinstance(e, Fill)]
    assert fills[-1].liquidation and fills[-1].price == D(45_200)
    assert ex.wallet == D(95_000)
    assert ex.fetch_order("t1").status is OrderStatus.EXPIRED
    with pytest.raises(InvalidOrder, match="-4028"):
        ex.set_leverage(BTC, 500)


def test_spot_orders_and_transfers_between_accounts():
    ex = sim(taker=0.001)
    ex.on_candle("BTC/USDT", T0, 50_000, 50_000, 50_000, 50_000)
    with pytest.raises(InsufficientFunds, match="-2010"):
        ex.create_order(req("s0", "buy", MKT, "0.1", symbol="BTC/USDT"))
    ex.transfer("USDT", D(10_000), to_spot=True)
    ex.create_order(req("s1", "buy", MKT, "0.1", symbol="BTC/USDT"))
    bal = ex.balance()
    assert bal.spot["BTC"] == D("0.1")
    assert bal.spot["USDT"] == D(10_000) - D(5_000) - D(5)
    assert bal.wallet == D(90_000)
    with pytest.raises(InsufficientFunds):
        ex.transfer("USDT", D(10_000), to_spot=False)


def test_marketable_limit_fills_at_once_as_taker():
    ex = sim()
    st = ex.create_order(req("l", "buy", LMT, "0.1", price="50100"))
    assert st.status is OrderStatus.CLOSED and st.average == D(50_000)


def test_slippage_moves_market_fills_against_the_taker_on_tick():
    ex = sim(slippage=2.0)
    st = ex.create_order(req("e", "buy", MKT, "0.1"))
    assert st.average == D("50010.0")


def test_a_short_liquidation_buys_back_at_its_price_and_books_the_clearing_fee():
    """A 1 BTC short at 50 000, 5×: margin 10 000, liquidated at 50 000 × (1 + 0.2 − 0.004)
    = 59 800. The fill buys 1 back at 59 800; the clearing fee is what the margin had left
    (10 000 − 9 800 = 200); the wallet loses the margin, nothing else."""
    ex = sim(taker=0)
    ex.create_order(req("e", "sell", MKT, "1"))
    ex.drain()
    assert ex.fetch_positions()[0].liquidation_price == D("59800.0000")
    ex.on_candle(BTC, T0 + HOUR, 50_000, 60_000, 49_900, 59_900)
    [fill] = [e for e in ex.drain() if isinstance(e, Fill)]
    assert (fill.client_id, fill.side, fill.amount, fill.price, fill.fee, fill.liquidation,
            fill.fill_id) == ("", "buy", D(1), D(59_800), D(200), True,
                              f"liq-{BTC}-{T0 + HOUR}")
    assert ex.wallet == D(90_000) and ex.fees_paid == D(200) and ex.fetch_positions() == []


def test_a_partial_fill_books_its_share_as_a_maker_and_leaves_the_rest_open():
    ex = sim(maker=0.0002)
    ex.create_order(req("b", "buy", LMT, "1", price="49000"))
    ex.drain()
    ex.now = T0 + 60_000
    st = ex.fill_partially("b", D("0.37"), D(49_000))
    assert (st.status, st.filled, st.average, st.fee, st.timestamp) == (
        OrderStatus.OPEN, D("0.37"), D(49_000), D("3.6260"), T0 + 60_000)
    assert ex.wallet == D(100_000) - D("3.6260") and ex.fees_paid == D("3.6260")
    events = ex.drain()
    assert [(e.client_id, e.amount, e.price, e.fee) for e in events if isinstance(e, Fill)] \
        == [("b", D("0.37"), D(49_000), D("3.6260"))]
    assert ex.fetch_positions()[0].contracts == D("0.37")
    for bad in ("0", "0.63", "1"):  # nothing, or all that is left: not a partial fill
        with pytest.raises(InvalidOrder, match=r"must be below what is left of b \(0\.63\)"):
            ex.fill_partially("b", D(bad), D(49_000))
    ex.transfer("USDT", D(10_000), True)
    ex.on_candle("BTC/USDT", T0, 50_000, 50_000, 50_000, 50_000)
    ex.create_order(req("s", "buy", LMT, "0.1", price="49000", symbol="BTC/USDT"))
    with pytest.raises(InvalidOrder, match="partial fills are for perp orders, not BTC/USDT"):
        ex.fill_partially("s", D("0.05"), D(49_000))
