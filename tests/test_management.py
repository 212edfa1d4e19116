"""Optional trade management from [management]: a trailing stop and a time stop."""

from decimal import Decimal as D

from bot.config import parse_config
from tests.helpers import BTC, HOUR, Desk, plan, run, sim

PLAN = plan(1, 50_000, 49_000, (52_000, 54_000, 56_000))


def manage(desk: Desk, close: float, atr: float, **cfg) -> None:
    m = parse_config({"management": cfg}).management
    run(desk.om.manage(BTC, desk.t, close, atr, m))


def stops(desk: Desk, trade_id: int) -> list[tuple[str, str, str]]:
    return [(o.client_id.split("-", 2)[2], o.state, str(o.stop_price))
            for o in desk.store.orders(trade_id) if o.leg == "stop"]


def test_trailing_stop_follows_price_up_never_down_new_before_old():
    desk = Desk(sim())
    trade = desk.open(PLAN, "1")
    cfg = {"trailing_atr": 2.0, "trail_from": "open", "trail_step_atr": 0.25}
    desk.candle(BTC, 50_000, 51_200, 50_000, 51_000)
    manage(desk, 51_000, 500, **cfg)  # 51 000 − 2 × 500 = 50 000: up from 49 000
    desk.candle(BTC, 51_000, 51_100, 50_900, 50_950)
    manage(desk, 50_950, 500, **cfg)  # 49 950 would loosen it: no order
    desk.candle(BTC, 50_950, 51_500, 50_900, 51_400)
    manage(desk, 51_400, 500, **cfg)  # 50 400: +400 ≥ 0.25 ATR
    desk.candle(BTC, 51_400, 51_450, 51_350, 51_450)
    manage(desk, 51_450, 500, **cfg)  # +50 < 125: not worth an order
    assert stops(desk, trade.id) == [("stop-0", "canceled", "49000.0"),
                                     ("stop-1", "canceled", "50000.0"),
                                     ("stop-2", "open", "50400.0")]
    [stop] = [o for o in desk.ex.open_orders(BTC) if o.type == "stop_market"]
    assert stop.amount == D(1)  # the whole position stays covered
    desk.candle(BTC, 51_450, 51_450, 50_300, 50_350)  # falls through the trailed stop
    assert trade.state == "closed" and trade.close_reason == "stop"
    assert trade.realised == D("400.0")  # locked in by the trail, not lost at 49 000


def test_trailing_from_t1_waits_for_t1_and_breakeven_never_loosens_it():
    desk = Desk(sim())
    trade = desk.open(PLAN, "1")
    cfg = {"trailing_atr": 1.0, "trail_from": "t1"}
    manage(desk, 51_500, 300, **cfg)
    assert len(stops(desk, trade.id)) == 1  # still OPEN: no trailing yet
    desk.candle(BTC, 50_000, 52_100, 50_000, 52_050)  # T1 fills: stop to breakeven
    manage(desk, 52_050, 300, **cfg)  # then trails to 51 750
    assert [s[2] for s in stops(desk, trade.id)] == ["49000.0", "50000.0", "51750.0"]


def test_time_stop_exits_a_trade_that_has_not_reached_t1():
    desk = Desk(sim())
    trade = desk.open(PLAN, "1")
    for _ in range(47):
        desk.candle(BTC, 50_000, 50_100, 49_900, 50_050)
    manage(desk, 50_050, 200, time_stop_hours=48)
    assert trade.state == "open"
    desk.candle(BTC, 50_050, 50_100, 49_900, 50_020)
    manage(desk, 50_020, 200, time_stop_hours=48)
    assert trade.state == "closed" and trade.close_reason == "time stop"
    assert ("exit-0", "filled") in desk.legs(trade.id)
    assert desk.ex.positions.get(BTC) is None and desk.ex.open_orders(BTC) == []
    assert desk.t - trade.opened_at == 48 * HOUR


def test_a_position_closed_by_hand_ends_the_trade_instead_of_retrying():
    from bot.types import OrderRequest, OrderType

    desk = Desk(sim())
    trade = desk.open(PLAN, "1")
    # someone closes the position on the exchange: its reduce-only orders expire
    desk.ex.create_order(OrderRequest("manual-1", BTC, "sell", OrderType.MARKET, D(1)))
    desk.candle(BTC, 50_000, 50_100, 49_900, 50_000)
    # the bot tried to put its stop back once, was refused -2022, saw no position: done
    assert trade.state == "closed" and trade.close_reason == "position gone on the exchange"
    assert [(leg, state) for leg, state in desk.legs(trade.id) if leg.startswith("stop")] == [
        ("stop-0", "expired"), ("stop-1", "rejected")]
    assert trade.id not in desk.om.active
    desk.candle(BTC, 50_000, 50_100, 49_900, 50_000)
    assert len(desk.store.orders(trade.id)) == 6  # nothing more was sent


def test_a_plans_time_exit_closes_it_at_its_hour_not_before():
    """max_hold_hours = 3: at 2 h 59 m it holds; at 3 h it is closed at market, reason
    "time exit", whatever the trailing settings."""
    import dataclasses
    desk = Desk(sim())
    timed = dataclasses.replace(plan(1, 50_000, 49_000, ()), max_hold_hours=3.0)
    trade = desk.open(timed, "1")
    opened = trade.opened_at
    m = parse_config({}).management
    run(desk.om.manage(BTC, opened + 3 * HOUR - 60_000, 50_100.0, 200.0, m))
    assert trade.state == "open"
    run(desk.om.manage(BTC, opened + 3 * HOUR, 50_100.0, 200.0, m))
    assert trade.state == "closed" and trade.close_reason == "time exit"
    assert [(o.leg, o.type, o.state) for o in desk.store.orders(trade.id)
            if o.leg == "exit"] == [("exit", "market", "filled")]


def test_a_short_trails_down_by_its_atr_multiple_and_only_in_its_states():
    """A short from 50 000 (stop 51 000), trail 2 ATR from T2: nothing while open or after
    T1 (stop at breakeven); after T2 the stop follows 2 × 400 above the close, and only
    when the gain beats a quarter ATR."""
    desk = Desk(sim())
    trade = desk.open(plan(-1, 50_000, 51_000, (49_000, 48_000, 45_000)), "1")
    cfg = {"trailing_atr": 2.0, "trail_from": "t2", "trail_step_atr": 0.25}
    manage(desk, 49_500, 400, **cfg)
    desk.candle(BTC, 50_000, 50_000, 48_900, 48_950)  # T1: breakeven 50 000
    manage(desk, 48_950, 400, **cfg)
    assert [s[2] for s in stops(desk, trade.id)][-1] == "50000.0"
    desk.candle(BTC, 48_950, 49_000, 47_900, 47_950)  # T2: stop to T1, 49 000
    manage(desk, 47_950, 400, **cfg)  # 47 950 + 800 = 48 750: 250 down ≥ 100
    manage(desk, 47_900, 400, **cfg)  # 48 700: 50 < 100, not worth an order
    manage(desk, 47_950, 0, **cfg)  # no ATR: nothing
    assert [s[2] for s in stops(desk, trade.id)] == ["51000.0", "50000.0", "49000.0",
                                                     "48750.0"]
    assert trade.stop_price == D("48750.0")


def test_a_short_closed_and_turned_long_by_hand_is_gone_too():
    """A 1 BTC short; someone buys 2 on the exchange (flat, then long 1): the short the
    trade holds is gone, so the trade ends — the long is not taken for it."""
    from bot.types import OrderRequest, OrderType

    desk = Desk(sim())
    trade = desk.open(plan(-1, 50_000, 51_000, (48_000, 46_000, 44_000)), "1")
    desk.ex.create_order(OrderRequest("manual-1", BTC, "buy", OrderType.MARKET, D(2)))
    desk.candle(BTC, 50_000, 50_100, 49_900, 50_000)
    assert trade.state == "closed" and trade.close_reason == "position gone on the exchange"
    assert [p.contracts for p in desk.ex.fetch_positions()] == [D(1)]  # left to its owner
