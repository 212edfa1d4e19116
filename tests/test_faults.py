"""Fault injection around the order manager: each fault class with the exact order
sequence that follows; an accepted-but-timed-out submit never produces a second order."""

from decimal import Decimal as D

import pytest
from ccxt.base.errors import NetworkError

from bot.exchanges.faulty import FaultyGateway
from bot.exchanges.sim.gateway import SimGateway
from bot.execution.orders import OrderManager
from tests.helpers import BTC, HOUR, Desk, plan, run, sim

PLAN = plan(1, 50_000, 49_000, (51_000, 52_000, 53_000))


def faulty_desk(**kw) -> tuple[Desk, FaultyGateway]:
    desk = Desk(sim(**kw))
    gw = FaultyGateway(SimGateway(desk.ex))
    desk.om = OrderManager(gw, desk.store, desk.ex.markets, desk.clock)
    return desk, gw


def sent(gw: FaultyGateway) -> list[str]:
    return [tag.split("-", 2)[2] for m, tag in gw.calls if m == "create_order"]


def on_exchange(desk: Desk) -> list[str]:
    return sorted(o.client_id.split("-", 2)[2] for o in desk.ex.orders.values())


def test_accepted_but_timed_out_entry_is_adopted_never_doubled():
    desk, gw = faulty_desk()
    gw.script("create_order", "timeout_after")
    trade = desk.open(PLAN, "1")  # the answer was lost; the next sync looked it up
    assert trade.state == "open"
    assert sent(gw) == ["entry-0", "stop-0", "t1-0", "t2-0", "t3-0"]
    assert [m for m, tag in gw.calls if tag.endswith("entry-0")] == ["create_order",
                                                                      "fetch_order"]
    assert on_exchange(desk).count("entry-0") == 1 and desk.ex.positions[BTC].contracts == 1


def test_timeout_before_the_exchange_saw_it_is_sent_again_under_the_same_id():
    desk, gw = faulty_desk()
    gw.script("create_order", "timeout")
    trade = desk.open(PLAN, "1")
    run(desk.om.sync())
    assert trade.state == "open"
    assert sent(gw) == ["entry-0", "entry-0", "stop-0", "t1-0", "t2-0", "t3-0"]
    assert on_exchange(desk) == ["entry-0", "stop-0", "t1-0", "t2-0", "t3-0"]


def test_rate_limit_and_5xx_on_the_stop_then_the_stop_is_placed_once():
    desk, gw = faulty_desk()
    trade = desk.open(PLAN, "1")
    desk.ex.cancel_order(f"dbot-{trade.id:06d}-stop-0")
    desk.ex.drain()
    gw.script("create_order", "rate_limit", "5xx_after")
    run(desk.om._move_stop(trade, D(49_500)))  # 429: refused
    run(desk.om.sync())  # lookup: not there → resend → 5xx after acceptance
    run(desk.om.sync())  # lookup: there → adopted
    stops = [o for o in desk.ex.orders.values() if "-stop-1" in o.client_id]
    assert len(stops) == 1 and stops[0].stop_price == D("49500.0")
    assert sent(gw)[-3:] == ["t3-0", "stop-1", "stop-1"]  # refused once, accepted once
    assert trade.state == "open" and trade.stop_price == D("49500.0")


def test_rejects_and_missing_funds_are_not_retried_and_fail_the_trade():
    for kind, why in (("reject", "injected reject"), ("no_funds", "injected no_funds")):
        desk, gw = faulty_desk()
        gw.script("create_order", kind)
        trade = desk.open(PLAN, "1")
        assert trade.state == "failed"
        assert sent(gw) == ["entry-0"]
        assert why in desk.store.orders(trade.id)[0].reason


def test_disconnect_during_poll_then_recovery():
    desk, gw = faulty_desk()
    trade = desk.open(PLAN, "1")
    gw.script("poll_events", "disconnect")
    desk.ex.on_candle(BTC, desk.t + HOUR, 50_000, 51_100, 49_900, 51_050)  # T1
    with pytest.raises(NetworkError, match="disconnect"):  # the tick logs it and carries on
        run(desk.om.sync())
    assert trade.state == "open"  # nothing learnt while disconnected
    run(desk.om.sync())
    assert trade.state == "t1_filled" and trade.stop_price == D("50000.0")


def resting_entry(*fills: str):
    """A 1 BTC limit entry resting at 49 950 (an hour to fill), then these partial fills,
    each seen by a sync."""
    desk, gw = faulty_desk(maker=0, taker=0)
    trade = run(desk.om.open_trade(
        desk.approved(PLAN, "1"), limit_price=49_950, timeout_ms=HOUR))
    cid = f"dbot-{trade.id:06d}-entry-0"
    for amount in fills:
        desk.ex.fill_partially(cid, D(amount), D(49_950))
        run(desk.om.sync())
    return desk, gw, trade, cid


def test_partial_entry_fill_of_37_percent_is_protected_exactly():
    desk, _gw, trade, cid = resting_entry("0.37")
    assert trade.state == "pending_entry" and trade.filled == D("0.37")
    # what filled is stopped at once, while the rest of the entry still rests
    [stop] = [o for o in desk.ex.open_orders(BTC) if o.type == "stop_market"]
    assert (stop.amount, stop.stop_price, stop.reduce_only) == (D("0.370"), D("49000.0"), True)
    desk.clock.t += HOUR  # the entry's time is up
    run(desk.om.sync())
    assert desk.ex.fetch_order(cid).status.value == "canceled"
    assert trade.state == "open"
    legs = {o.leg: o.amount for o in desk.store.orders(trade.id) if o.leg != "entry"}
    assert legs["stop"] == D("0.370")  # the same stop still covers exactly what is held
    assert [o.client_id[-6:] for o in desk.store.orders(trade.id) if o.leg == "stop"] == [
        "stop-0"]
    assert legs["t1"] + legs["t2"] + legs["t3"] == D("0.37")
    assert (legs["t1"], legs["t2"], legs["t3"]) == (D("0.148"), D("0.111"), D("0.111"))


def test_each_partial_fill_of_a_resting_entry_grows_its_stop_new_before_old():
    desk, gw, trade, _cid = resting_entry("0.2", "0.3")
    assert sent(gw) == ["entry-0", "stop-0", "stop-1"]
    assert [c for m, c in gw.calls if m == "cancel_order"] == [f"dbot-{trade.id:06d}-stop-0"]
    [stop] = [o for o in desk.ex.open_orders(BTC) if o.type == "stop_market"]
    assert stop.amount == D("0.500") and trade.state == "pending_entry"
    # the price falls through both: the rest of the entry fills on the way down, the 0.5
    # stop fires, and the other 0.5 (its stop already crossed) goes out at market
    desk.candle(BTC, 49_950, 49_960, 48_900, 48_950)
    assert trade.state == "closed" and trade.close_reason == "stop already crossed"
    assert trade.filled == trade.exited == D(1)
    assert desk.ex.positions.get(BTC) is None and desk.ex.open_orders(BTC) == []
