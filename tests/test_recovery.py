"""Restart recovery and the kill switch: the database and the exchange made to agree."""

from decimal import Decimal as D

from bot.execution.flatten import flatten
from bot.execution.orders import OrderManager
from bot.execution.reconcile import reconcile
from bot.types import OrderRequest, OrderType
from state.models import Order
from tests.helpers import BTC, Desk, plan, run, sim


def restart(desk: Desk) -> OrderManager:
    """A new order manager on the same database and exchange: the bot after a crash."""
    desk.om = OrderManager(desk.om.gw, desk.store, desk.ex.markets, desk.clock)
    return desk.om


def test_fills_while_down_are_adopted_and_no_second_entry_is_placed():
    desk = Desk(sim(taker=0, maker=0))
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.t += 3_600_000
    desk.ex.on_candle(BTC, desk.t, 50_000, 51_100, 49_900, 51_050)  # T1 fills while down
    desk.ex.drain()  # the crashed process never saw these events
    om = restart(desk)
    report = run(reconcile(om))
    t = om.active[trade.id]
    assert report.adopted >= 1 and t.state == "t1_filled"
    assert t.stop_price == D("50000.0")  # breakeven, placed after the restart
    entries = [o for o in desk.ex.orders.values() if o.client_id.endswith("entry-0")]
    assert len(entries) == 1


def test_missing_stop_is_replaced_orphans_cancelled_foreign_flagged():
    desk = Desk(sim())
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.ex.cancel_order(f"dbot-{trade.id:06d}-stop-0")  # lost on the exchange
    desk.ex.create_order(OrderRequest("dbot-000099-t1-0", BTC, "sell", OrderType.LIMIT,
                                      D("0.1"), D(60000), reduce_only=True))
    desk.ex.create_order(OrderRequest("manual-1", BTC, "sell", OrderType.LIMIT, D("0.1"),
                                      D(61000), reduce_only=True))
    desk.ex.drain()
    om = restart(desk)
    report = run(reconcile(om))
    assert report.stops_replaced == [trade.id]
    assert report.orphans_cancelled == ["dbot-000099-t1-0"]
    assert report.foreign_orders == ["manual-1"]
    assert desk.ex.fetch_order("manual-1").status.value == "open"
    stops = [o for o in desk.ex.open.values() if "-stop-" in o.client_id]
    assert len(stops) == 1 and stops[0].amount == D("1.000")


def test_an_entry_that_never_reached_the_exchange_fails_the_trade():
    desk = Desk(sim())
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    run(desk.om.close_trade(trade.id, "manual"))
    from state.models import Trade
    ghost = Trade(strategy="funding_fade", symbol=BTC, side="long", state="pending_entry",
                  plan_entry=50_000, plan_stop=49_000, targets_json="[[51000, 1.0]]",
                  size=D(1))
    desk.store.save(ghost)
    desk.store.record_order(Order(client_id=f"dbot-{ghost.id:06d}-entry-0", trade_id=ghost.id,
                                  leg="entry", symbol=BTC, side="buy", type="market",
                                  amount=D(1), state="pending_create"), desk.t)
    om = restart(desk)
    report = run(reconcile(om))
    assert report.never_placed == [f"dbot-{ghost.id:06d}-entry-0"]
    assert desk.store.session.get(Trade, ghost.id).state == "failed"
    assert ghost.id not in om.active


def test_flatten_closes_everything_the_bot_owns_reduce_only():
    desk = Desk(sim())
    a = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.ex.create_order(OrderRequest("manual-2", BTC, "buy", OrderType.LIMIT, D("0.01"),
                                      D(40000)))
    desk.ex.drain()
    report = run(flatten(desk.om))
    assert report.trades_closed == [a.id] and report.left_alone == ["manual-2"]
    assert desk.ex.positions == {}
    assert [o.client_id for o in desk.ex.open.values()] == ["manual-2"]
    assert a.state == "closed" and a.close_reason == "flatten"
    exits = [o for o in desk.store.orders(a.id) if o.leg == "exit"]
    assert exits and all(o.reduce_only for o in exits)
    assert desk.store.get_meta("last_flatten")["trades"] == [a.id]
