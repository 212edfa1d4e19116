"""The conditional orders the exchange advertises, in process and through real ccxt over
HTTP alike: take-profit market, stop-limit (Binance's STOP), take-profit limit, and
close-position; a trigger already passed is refused (-2021); workingType is kept."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from ccxt.base.errors import InvalidOrder

from bot.types import OrderRequest, OrderState, OrderStatus, OrderType
from tests.helpers import BTC, HOUR, T0, run, sim
from tests.venues import venue

KINDS = ["sim", "ccxt"]


def order(cid, side, type_, amount="1", price=None, stop=None, close=False):
    return OrderRequest(cid, BTC, side, type_, D(amount), None if price is None else D(price),
                        None if stop is None else D(stop), reduce_only=not close and
                        type_ is not OrderType.MARKET, close_position=close)


def states(events) -> dict[str, OrderState]:
    return {e.client_id: e for e in events if isinstance(e, OrderState)}


async def _long(v, amount="1"):
    await v.gw.create_order(order("dbot-000001-entry-0", "buy", OrderType.MARKET, amount))
    await v.gw.poll_events()


@pytest.mark.parametrize("kind", KINDS)
def test_a_take_profit_market_sells_when_the_price_rises_to_it(kind):
    async def go():
        async with venue(kind, ex=sim(taker=0.0005)) as v:
            await _long(v)
            tp = await v.gw.create_order(order("dbot-000001-t1-0", "sell",
                                               OrderType.TAKE_PROFIT_MARKET, stop="51000"))
            v.candle(BTC, T0 + HOUR, 50_000, 50_900, 49_500, 50_800)  # not reached
            quiet = states(await v.gw.poll_events())
            v.candle(BTC, T0 + 2 * HOUR, 50_800, 51_500, 50_700, 51_200)
            seen = states(await v.gw.poll_events())
            return tp, quiet, seen["dbot-000001-t1-0"], await v.gw.fetch_positions()

    tp, quiet, done, positions = run(go())
    assert tp.status is OrderStatus.OPEN and tp.type is OrderType.TAKE_PROFIT_MARKET
    assert quiet.get("dbot-000001-t1-0", tp).status is OrderStatus.OPEN  # not reached
    assert (done.status, done.filled, done.average) == (OrderStatus.CLOSED, D(1), D(51_000))
    assert done.fee == D("25.5")  # a taker's 0.05 % of 51 000
    assert positions == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_stop_limit_gapped_through_rests_at_its_limit_and_fills_as_maker(kind):
    async def go():
        async with venue(kind, ex=sim(maker=0.0002)) as v:
            await _long(v)
            await v.gw.create_order(order("dbot-000001-stop-0", "sell", OrderType.STOP_LIMIT,
                                          price="48900", stop="49000"))
            # opens at 48 500 under both: triggered there, its limit 48 900 is not taken
            # then; the bounce to 48 950 reaches it
            v.candle(BTC, T0 + HOUR, 48_500, 48_950, 48_400, 48_600)
            return states(await v.gw.poll_events())["dbot-000001-stop-0"]

    st = run(go())
    assert (st.status, st.filled, st.average) == (OrderStatus.CLOSED, D(1), D(48_900))
    assert st.fee == D("9.78")  # a maker's 0.02 %


@pytest.mark.parametrize("kind", KINDS)
def test_a_take_profit_limit_triggered_in_range_fills_at_once(kind):
    async def go():
        async with venue(kind, ex=sim(maker=0.0002, taker=0.0005)) as v:
            await _long(v)
            await v.gw.create_order(order("dbot-000001-t1-0", "sell",
                                          OrderType.TAKE_PROFIT_LIMIT, price="50900",
                                          stop="51000"))
            v.candle(BTC, T0 + HOUR, 50_000, 51_200, 49_900, 51_100)
            return states(await v.gw.poll_events())["dbot-000001-t1-0"]

    st = run(go())
    assert (st.status, st.average) == (OrderStatus.CLOSED, D(51_000))  # at the trigger
    assert st.fee == D("25.5")  # it took liquidity


@pytest.mark.parametrize("kind", KINDS)
def test_a_close_position_stop_closes_whatever_is_held_when_it_fires(kind):
    async def go():
        async with venue(kind, ex=sim(taker=0)) as v:
            await _long(v)
            await v.gw.create_order(order("dbot-000001-stop-0", "sell",
                                          OrderType.STOP_MARKET, amount="0", stop="49000",
                                          close=True))
            await v.gw.create_order(order("dbot-000002-entry-0", "buy", OrderType.MARKET,
                                          "0.5"))  # the position grows after the stop
            v.candle(BTC, T0 + HOUR, 50_000, 50_100, 48_800, 48_900)
            seen = states(await v.gw.poll_events())
            return seen["dbot-000001-stop-0"], await v.gw.fetch_positions()

    st, positions = run(go())
    assert (st.status, st.filled, st.average) == (OrderStatus.CLOSED, D("1.5"), D(49_000))
    assert positions == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_trigger_already_passed_is_refused(kind):
    async def go():
        async with venue(kind, ex=sim()) as v:
            await _long(v)
            await v.gw.create_order(order("dbot-000001-t1-0", "sell",
                                          OrderType.TAKE_PROFIT_MARKET, stop="49900"))

    with pytest.raises(InvalidOrder, match="-2021"):
        run(go())


def test_the_algo_api_keeps_working_type_and_refuses_what_binance_refuses():
    async def go():
        async with venue("ccxt", ex=sim()) as v:
            await _long(v)
            algo = v.gw.ex.fapiPrivatePostAlgoOrder
            base = {"symbol": "BTCUSDT", "side": "SELL", "algoType": "CONDITIONAL",
                    "type": "STOP_MARKET", "triggerPrice": "49000"}
            marked = await algo(base | {"quantity": "1", "reduceOnly": "true",
                                        "workingType": "MARK_PRICE", "clientAlgoId": "a1"})
            closing = await algo(base | {"closePosition": "true", "clientAlgoId": "a2"})
            refused = []
            for extra in ({"closePosition": "true", "quantity": "1"},
                          {"quantity": "1", "workingType": "LAST"}):
                try:
                    await algo(base | extra)
                except InvalidOrder as err:
                    refused.append(str(err))
                except Exception as err:  # noqa: BLE001 - ccxt's class for the code varies
                    refused.append(str(err))
            return marked, closing, refused

    marked, closing, refused = run(go())
    assert marked["workingType"] == "MARK_PRICE" and marked["orderType"] == "STOP_MARKET"
    assert closing["closePosition"] is True
    assert "-4137" in refused[0] and "-1115" in refused[1]


def trailing(cid: str, rate: str, activation: str | None = None) -> OrderRequest:
    return OrderRequest(cid, BTC, "sell", OrderType.TRAILING_STOP_MARKET, D(1),
                        stop_price=None if activation is None else D(activation),
                        reduce_only=True, callback_rate=D(rate))


@pytest.mark.parametrize("kind", KINDS)
def test_a_trailing_stop_follows_the_high_and_fires_its_callback_below_it(kind):
    """A 1 % trailing sell from 50 000: the rally to 51 000 lifts its trigger to 50 490;
    the next candle's dip through it sells there (a taker)."""
    async def go():
        async with venue(kind, ex=sim(taker=0.0005)) as v:
            await _long(v)
            await v.gw.create_order(trailing("dbot-000001-stop-0", "1"))
            v.candle(BTC, T0 + HOUR, 50_000, 51_000, 49_900, 50_800)
            quiet = states(await v.gw.poll_events()).get("dbot-000001-stop-0")
            v.candle(BTC, T0 + 2 * HOUR, 50_800, 50_900, 50_000, 50_100)
            return quiet, states(await v.gw.poll_events())["dbot-000001-stop-0"]

    quiet, st = run(go())
    assert quiet is None or quiet.status is OrderStatus.OPEN
    assert (st.status, st.filled, st.average) == (OrderStatus.CLOSED, D(1), D(50_490))
    assert st.fee == D("25.245")


@pytest.mark.parametrize("kind", KINDS)
def test_a_trailing_stop_waits_for_its_activation_price(kind):
    """Activation at 51 500: the rally to 51 000 and the dip to 50 000 do nothing; the next
    rally to 52 000 activates it, and the fall sells 2 % under that high, at 50 960."""
    async def go():
        async with venue(kind, ex=sim(taker=0)) as v:
            await _long(v)
            await v.gw.create_order(trailing("dbot-000001-stop-0", "2", "51500"))
            v.candle(BTC, T0 + HOUR, 50_000, 51_000, 49_900, 50_000)
            v.candle(BTC, T0 + 2 * HOUR, 50_000, 50_200, 49_000, 49_100)
            held = await v.gw.fetch_positions()
            v.candle(BTC, T0 + 3 * HOUR, 49_100, 52_000, 49_000, 51_900)
            v.candle(BTC, T0 + 4 * HOUR, 51_900, 51_950, 50_500, 50_600)
            return held, states(await v.gw.poll_events())["dbot-000001-stop-0"]

    held, st = run(go())
    assert [p.contracts for p in held] == [D(1)]
    assert (st.status, st.average) == (OrderStatus.CLOSED, D(50_960))


def test_a_trailing_stop_outside_binances_callback_range_is_refused():
    async def go():
        async with venue("sim", ex=sim()) as v:
            await _long(v)
            await v.gw.create_order(trailing("dbot-000001-stop-0", "15"))

    with pytest.raises(InvalidOrder, match="-2007"):
        run(go())
