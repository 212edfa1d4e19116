"""Trade management on the simulated exchange, checked as a trader would."""

import csv
from decimal import Decimal
from decimal import Decimal as D

import pytest

from bot.execution.pricing import split_amounts
from bot.execution.trade import IllegalTransition, TradeState, check_trade_move
from bot.markets import default_market
from bot.types import client_id, parse_client_id
from tests.helpers import BTC, Desk, plan, run, sim


def test_t1_breakeven_t2_stop_at_t1_path_with_exact_pnl():
    desk = Desk(sim())
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    assert trade.state == "open" and trade.entry_price == D(50_000)
    assert [(o.leg, o.type, str(o.amount), str(o.price or o.stop_price), o.state)
            for o in desk.store.orders(trade.id)] == [
        ("entry", "market", "1.000", "None", "filled"),
        ("stop", "stop_market", "1.000", "49000.0", "open"),
        ("t1", "limit", "0.400", "51000.0", "open"),
        ("t2", "limit", "0.300", "52000.0", "open"),
        ("t3", "limit", "0.300", "53000.0", "open"),
    ]
    desk.candle(BTC, 50_000, 51_100, 49_900, 51_050)  # T1
    assert trade.state == "t1_filled"
    assert trade.stop_price == D("50000.0")  # breakeven
    stops = [(o.client_id, o.state, str(o.amount)) for o in desk.store.orders(trade.id)
             if o.leg == "stop"]
    assert stops == [("dbot-000001-stop-0", "canceled", "1.000"),
                     ("dbot-000001-stop-1", "open", "0.600")]
    desk.candle(BTC, 51_050, 52_100, 50_500, 52_000)  # T2
    assert trade.state == "t2_filled" and trade.stop_price == D("51000.0")
    desk.candle(BTC, 52_000, 52_200, 50_800, 50_900)  # back to T1: stop
    assert trade.state == "closed" and trade.close_reason == "stop"
    assert trade.realised == D(1300)  # 0.4×1000 + 0.3×2000 + 0.3×1000
    assert trade.fees == D("39.85")  # 25 + 4.08 + 3.12 + 7.65
    assert desk.ex.wallet == D(100_000) + D("1260.15")
    assert desk.ex.open_orders() == [] and desk.ex.positions == {}
    assert [s for s, in [(e.to_state,) for e in _events(desk, trade.id)]] == [
        "open", "t1_filled", "t2_filled", "closed"]
    assert desk.legs(trade.id)[-1][1] in ("canceled", "expired")  # t3 never filled


def _events(desk, trade_id):
    from sqlmodel import select

    from state.models import TradeEvent
    return desk.store.session.exec(select(TradeEvent).where(TradeEvent.trade_id == trade_id)
                                   .order_by(TradeEvent.id)).all()


def test_short_runs_all_targets_and_cancels_the_stop():
    desk = Desk(sim(taker=0, maker=0))
    trade = desk.open(plan(-1, 50_000, 51_000, (49_000, 48_000, 47_000)), "0.5")
    desk.candle(BTC, 50_000, 50_100, 46_900, 47_100)  # red candle through all targets
    assert trade.state == "closed" and trade.close_reason == "t3"
    assert trade.realised == D("0.2") * 1000 + D("0.15") * 2000 + D("0.15") * 3000
    assert all(o.state != "open" for o in desk.store.orders(trade.id))
    assert desk.ex.open_orders() == []


def test_stop_and_target_in_one_candle_is_a_full_stop_loss():
    desk = Desk(sim(taker=0, maker=0))
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.candle(BTC, 50_000, 51_500, 48_900, 50_500)
    assert trade.state == "closed" and trade.close_reason == "stop"
    assert trade.realised == D(-1000)


def test_breakeven_stop_already_crossed_exits_at_market():
    desk = Desk(sim(taker=0, maker=0))
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.candle(BTC, 50_000, 51_200, 49_950, 49_960)  # T1, then closes below entry
    assert trade.state == "closed" and trade.close_reason == "stop already crossed"
    exits = [o for o in desk.store.orders(trade.id) if o.leg == "exit"]
    assert len(exits) == 1 and exits[0].state == "filled" and exits[0].reduce_only
    assert trade.realised == D("0.4") * 1000 + D("0.6") * (49_960 - 50_000)


def test_rejected_entry_marks_the_trade_failed_with_the_reason():
    desk = Desk(sim(balance=1_000))
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    assert trade.state == "failed"
    entry = desk.store.orders(trade.id)[0]
    assert entry.state == "rejected" and "-2019 Margin is insufficient" in entry.reason
    assert desk.om.active == {}


def test_manual_close_is_reduce_only_and_flat():
    desk = Desk(sim())
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    from tests.helpers import run
    run(desk.om.close_trade(trade.id, "manual"))
    assert trade.state == "closed" and trade.close_reason == "manual"
    assert desk.ex.positions == {} and desk.ex.open_orders() == []


def test_liquidation_closes_the_trade():
    ex = sim(taker=0)
    ex.set_leverage(BTC, 10)
    desk = Desk(ex)
    trade = desk.open(plan(1, 50_000, 44_000, (51_000, 52_000, 53_000)), "1")
    desk.candle(BTC, 50_000, 50_100, 43_000, 43_500)  # liq 45 200 before the stop 44 000
    assert trade.state == "closed" and trade.close_reason == "liquidated"
    assert trade.realised - trade.fees == D(-5000)  # the isolated margin


def test_funding_is_booked_against_the_open_trade():
    desk = Desk(sim(taker=0))
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.ex.on_funding(BTC, desk.t, 0.0001)
    from tests.helpers import run
    run(desk.om.sync())
    assert trade.funding == D(-5)
    assert [f.trade_id for f in desk.store.funding()] == [trade.id]


def test_client_ids_are_deterministic_and_parse_back():
    cid = client_id(42, "stop", 3)
    assert cid == "dbot-000042-stop-3" and len(cid) <= 36
    assert parse_client_id(cid) == (42, "stop", 3)
    assert parse_client_id("someone-else") is None


def test_illegal_trade_transition_is_an_error():
    with pytest.raises(IllegalTransition, match="closed -> open"):
        check_trade_move(1, "closed", TradeState.OPEN)
    with pytest.raises(IllegalTransition):
        check_trade_move(1, "pending_entry", TradeState.T2_FILLED)


def test_target_split_sums_to_the_filled_amount():
    m = default_market(BTC, 50_000)
    assert split_amounts(D("1.000"), [0.4, 0.3, 0.3], m) == [D("0.400"), D("0.300"), D("0.300")]
    assert split_amounts(D("0.371"), [0.4, 0.3, 0.3], m) == [D("0.148"), D("0.111"), D("0.112")]
    assert split_amounts(D("0.002"), [0.4, 0.3, 0.3], m) == [D(0), D(0), D("0.002")]


def test_targets_left_unsent_when_the_first_finds_the_position_gone_say_so():
    """The three targets are written together before the first goes out; when the first is
    refused because someone closed the position by hand, the trade ends there and the
    other two are stored as never sent — nothing is left pending, nothing more is sent."""
    from bot.types import OrderRequest, OrderType

    desk = Desk(sim())
    create = desk.om.gw.create_order
    sent: list[str] = []

    async def create_order(req):
        if req.client_id.endswith("-t1-0"):  # a hand on the exchange, just before
            desk.ex.create_order(OrderRequest("manual-1", BTC, "sell", OrderType.MARKET, D(1)))
        sent.append(req.client_id.split("-", 2)[2])
        return await create(req)

    desk.om.gw.create_order = create_order
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    assert trade.state == "closed" and trade.close_reason == "position gone on the exchange"
    assert sent == ["entry-0", "stop-0", "t1-0"]
    assert [(o.leg, o.state, o.reason) for o in desk.store.orders(trade.id)][2:] == [
        ("t1", "rejected", desk.store.orders(trade.id)[2].reason),
        ("t2", "rejected", "not sent: trade closed"),
        ("t3", "rejected", "not sent: trade closed"),
    ]
    assert "-2022" in desk.store.orders(trade.id)[2].reason
    assert desk.ex.open_orders() == []


def test_a_plan_sized_to_the_whole_margin_leaves_room_for_the_taker_fee():
    """Sized at the available margin (5× of a 10 000 wallet), the entry's margin plus its
    taker fee fits: the exchange fills it instead of refusing -2019."""
    from risk.limits import RiskLimits
    from risk.manager import Approved, Portfolio, assess

    ex = sim(balance=10_000, price=50_000)  # taker 0.05 %
    ex.set_leverage(BTC, 5)
    p = plan(1, 50_000, 49_900, (50_100, 50_200, 50_300))  # risk 150 / 100 → 1.5 BTC wanted
    out = assess(p, Portfolio(10_000, 10_000), ex.markets[BTC].rules(),
                 RiskLimits(leverage=5, kelly=False))
    assert isinstance(out, Approved)
    need = out.size * Decimal(50_000) * (Decimal("0.2") + Decimal("0.0005"))
    assert out.size == Decimal("0.997") and need <= 10_000  # 0.998 would need 10 004.95
    assert any("available margin" in c for c in out.cuts)
    desk = Desk(ex)
    trade = run(desk.om.open_trade(out))
    assert trade.state == "open" and trade.filled == Decimal("0.997")


def test_a_refused_entry_leaves_its_reason_on_the_trade_and_in_trades_csv(tmp_path):
    from bot.operator.report import write_trades_csv

    desk = Desk(sim(balance=1_000))
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    assert trade.state == "failed" and trade.close_reason.startswith(
        "entry rejected: -2019 Margin is insufficient")
    write_trades_csv(desk.store, tmp_path / "trades.csv")
    rows = list(csv.DictReader((tmp_path / "trades.csv").open()))
    assert rows[0]["state"] == "failed" and "-2019" in rows[0]["close_reason"]


@pytest.mark.parametrize("direction", [1, -1])
def test_a_person_tightens_a_stop_only_toward_the_price(direction):
    """Tighten stop: the new stop goes out before the old one is cancelled; looser, at or
    through the price, on a trade without a position: refused with the reason."""
    desk = Desk(sim())
    stop, targets = 50_000 - direction * 1_000, tuple(50_000 + direction * k for k in
                                                      (1_000, 2_000, 3_000))
    trade = desk.open(plan(direction, 50_000, stop, targets), "1")
    looser = D(50_000 - direction * 1_500)
    tighter = D(50_000 - direction * 500)

    def go(level, last=50_000.0):
        return run(desk.om.tighten_stop(trade.id, D(level), last))

    assert go(looser) == f"refused: {looser:.1f} would loosen the stop at {stop:.1f} " \
                         "(only toward the price)"
    assert go(50_000) == "refused: 50000.0 is at or through the price 50000"
    assert go(50_000 + direction * 10) .startswith("refused: ")
    assert go(7, 50_000.0).startswith("refused: ")
    assert run(desk.om.tighten_stop(999, tighter, 50_000.0)) == \
        "refused: trade 999 has no open position to protect"
    assert go(tighter) == f"trade {trade.id}: stop moved from {stop:.1f} to {tighter:.1f}"
    assert trade.stop_price == tighter
    stops = [(o.client_id[-6:], o.state, o.stop_price) for o in desk.store.orders(trade.id)
             if o.leg == "stop"]
    assert stops == [("stop-0", "canceled", D(stop)), ("stop-1", "open", tighter)]
    working = [o for o in desk.ex.open_orders(BTC) if o.type == "stop_market"]
    assert [(o.stop_price, o.amount, o.reduce_only) for o in working] == [
        (tighter, D(1), True)]


def test_a_trade_still_entering_has_no_stop_to_tighten():
    desk = Desk(sim())
    trade = run(desk.om.open_trade(desk.approved(plan(1, 50_000, 49_000, (51_000, 52_000,
                                                                          53_000)), "1"),
                                   limit_price=49_500, timeout_ms=3_600_000))
    assert trade.state == "pending_entry"
    assert run(desk.om.tighten_stop(trade.id, D(49_200), 50_000.0)) == \
        f"refused: trade {trade.id} has no open position to protect"


def test_a_stop_moved_to_where_it_is_is_refused_and_a_tenth_closer_is_taken():
    desk = Desk(sim())
    trade = desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    assert run(desk.om.tighten_stop(trade.id, D(49_000), 50_000.0)) == \
        "refused: 49000.0 would loosen the stop at 49000.0 (only toward the price)"
    assert run(desk.om.tighten_stop(trade.id, D("49000.1"), 50_000.0)) == \
        f"trade {trade.id}: stop moved from 49000.0 to 49000.1"
    assert run(desk.om.tighten_stop(trade.id, D("49999.9"), 50_000.0)).endswith("49999.9")
