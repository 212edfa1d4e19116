"""The store's hot rows (orders and trades) go to SQLite as plain upserts: what is read back
after reopening the database is what was written, to the last Decimal digit."""

import sqlite3
from decimal import Decimal

import pytest

from state.models import Order, PositionRow, Trade
from state.store import Store


def _trade(**kw) -> Trade:
    return Trade(**({"strategy": "funding_fade", "symbol": "BTC/USDT:USDT", "side": "short",
                     "state": "pending_entry", "plan_entry": 50_000.0, "plan_stop": 50_500.0,
                     "targets_json": "[[49500.0, 0.4]]", "size": Decimal("0.123"),
                     "risk_cash": 1_500.0, "created_at": 1} | kw))


def _order(trade_id: int, **kw) -> Order:
    return Order(**({"client_id": f"dbot-{trade_id}-stop-0", "trade_id": trade_id,
                     "leg": "stop", "symbol": "BTC/USDT:USDT", "side": "buy",
                     "type": "stop_market", "amount": Decimal("0.123"),
                     "stop_price": Decimal("50500.1"), "reduce_only": True,
                     "state": "pending_create"} | kw))


def test_orders_and_trades_read_back_exactly_after_reopening(tmp_path):
    db = tmp_path / "bot.db"
    store = Store(db)
    trade = _trade(id=store.new_trade_id())
    store.add(trade)
    order = _order(trade.id)
    store.record_order(order, 10)  # the trade and its order: one commit
    order.state, order.filled = "filled", Decimal("0.123")
    order.average, order.fee = Decimal("50500.10000001"), Decimal("3.1562562500")
    trade.state, trade.exited = "closed", Decimal("0.123")
    trade.realised = Decimal("-61.5123000001230")
    store.record_order(order, 20, "stopped", trade)
    store.close()

    again = Store(db)
    (got,) = again.trades()
    assert got.id == 1 and got.state == "closed" and got.entry_price is None
    assert str(got.realised) == "-61.5123000001230" and got.size == Decimal("0.123")
    assert got.targets_json == "[[49500.0, 0.4]]" and got.risk_cash == 1_500.0
    (o,) = again.orders(got.id)
    assert (o.state, o.reduce_only, o.price, o.updated_at) == ("filled", True, None, 20)
    assert str(o.average) == "50500.10000001" and str(o.fee) == "3.1562562500"
    assert again.open_trades() == [] and again.orders(working=True) == []


def test_a_trade_without_an_id_gets_the_next_one():
    store = Store(":memory:")
    first, second = _trade(), _trade(symbol="ETH/USDT:USDT")
    store.save(first)
    store.save(second)
    assert (first.id, second.id) == (1, 2)
    assert [t.symbol for t in store.trades()] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def test_the_store_counts_the_transactions_it_commits_and_only_those(tmp_path):
    """A commit with nothing written is no transaction; plain writes (orders, trades), a
    meta write (committed by itself), ORM rows and a telemetry batch on a connection of its
    own each are one."""
    store = Store(tmp_path / "bot.db")
    store.commit()
    assert store.commits == 0
    trade = _trade(id=store.new_trade_id())
    store.add(trade, _order(trade.id))  # plain statements on the session's connection
    store.commit()
    store.commit()  # nothing new
    assert store.commits == 1
    store.set_meta("market_now", 5)  # commits itself
    store.commit()
    assert store.commits == 2
    store.add(PositionRow(symbol="BTC/USDT:USDT", contracts=Decimal("0.1")))  # the ORM's
    store.commit()
    assert store.commits == 3
    with store.apart() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert store.commits == 4
    again = Store(tmp_path / "bot.db")
    assert [t.id for t in again.trades()] == [trade.id]
    assert again.get_meta("market_now") == 5


def test_a_trade_added_but_never_committed_is_not_stored(tmp_path):
    """add() joins the next commit: a crash before it leaves neither the trade nor its
    entry order behind."""
    store = Store(tmp_path / "bot.db")
    store.save(_trade(id=1))
    store.add(_trade(id=2, symbol="ETH/USDT:USDT"))
    store.session.close()  # the process dies here: the open transaction is gone
    again = Store(tmp_path / "bot.db")
    assert [t.id for t in again.trades()] == [1]


def test_rows_read_are_not_shared_between_reads():
    """Each read gives the rows as stored now (a row changed in memory and not yet written
    is not what the next read returns)."""
    store = Store(":memory:")
    store.save(_trade(id=1))
    (mine,) = store.open_trades()
    mine.state = "open"
    (fresh,) = store.open_trades()
    assert fresh.state == "pending_entry" and fresh is not mine
    store.save(mine)
    assert [t.state for t in store.open_trades()] == ["open"]


def test_every_order_and_cancel_is_on_disk_before_the_exchange_hears_of_it(tmp_path):
    """Write-ahead: whatever the exchange is asked to do, another process reading the
    database at that moment already sees the order as it was sent (so a crash right after
    can be reconciled by client id), with the fills and trade state that led to it."""
    from tests.helpers import BTC, Desk, plan, run, sim

    db = tmp_path / "bot.db"
    desk = Desk(sim(), str(db))
    seen: list[tuple[str, str, str]] = []
    gw = desk.om.gw
    create, cancel = gw.create_order, gw.cancel_order

    def on_disk(client_id: str) -> tuple:
        with sqlite3.connect(db) as other:
            row = other.execute('SELECT o.state, t.state, t.opened_at IS NOT NULL, '
                                "t.close_reason FROM \"order\" o JOIN trade t "
                                "ON t.id = o.trade_id WHERE o.client_id = ?",
                                (client_id,)).fetchone()
        assert row is not None, f"{client_id} sent before it was committed"
        return row

    async def create_order(req):
        seen.append(("create", req.client_id, *on_disk(req.client_id)))
        return await create(req)

    async def cancel_order(symbol, client_id):
        seen.append(("cancel", client_id, *on_disk(client_id)))
        return await cancel(symbol, client_id)

    gw.create_order, gw.cancel_order = create_order, cancel_order
    desk.open(plan(1, 50_000, 49_000, (51_000, 52_000, 53_000)), "1")
    desk.candle(BTC, 50_000, 51_100, 49_900, 51_050)  # T1: stop to breakeven
    run(desk.om.close_trade(1, "closed by hand"))
    opened = ("open", True, "")  # the trade's state, its open time, no close reason yet
    assert seen == [
        ("create", "dbot-000001-entry-0", "pending_create", "pending_entry", False, ""),
        ("create", "dbot-000001-stop-0", "pending_create", *opened),
        ("create", "dbot-000001-t1-0", "pending_create", *opened),
        ("create", "dbot-000001-t2-0", "pending_create", *opened),
        ("create", "dbot-000001-t3-0", "pending_create", *opened),
        # the T1 fill is on disk
        ("create", "dbot-000001-stop-1", "pending_create", "t1_filled", True, ""),
        ("cancel", "dbot-000001-stop-0", "open", "t1_filled", True, ""),
        # why the trade is closing, before its exit goes (a crash now keeps the reason)
        ("create", "dbot-000001-exit-0", "pending_create", "t1_filled", True, "closed by hand"),
    ]  # (the exchange cancels the reduce-only orders left once the position is flat)


def test_a_row_built_fast_is_the_constructors_row_and_stores_alike(tmp_path):
    from state.models import FillRow, row

    kw = {"client_id": "dbot-000001-entry-0", "exchange_id": "7", "symbol": "BTC/USDT:USDT",
          "side": "buy", "amount": Decimal("0.125"), "price": Decimal("50000.1"),
          "fee": Decimal("2.5000050"), "ts": 5}
    fast, slow = row(FillRow, **kw), FillRow(**kw)
    assert fast.model_dump() == slow.model_dump()  # defaults filled in alike
    assert fast.liquidation is False and fast.fill_id == "" and fast.id is None
    store = Store(tmp_path / "f.db")
    store.add(fast)  # a plain insert: the id comes back
    store.session.add(row(FillRow, **kw | {"exchange_id": "8"}))  # and the ORM takes one too
    store.commit()
    assert fast.id == 1
    got = Store(tmp_path / "f.db").fills()
    assert [(f.exchange_id, f.fee) for f in got] == [("7", Decimal("2.5000050")),
                                                     ("8", Decimal("2.5000050"))]
    with pytest.raises(TypeError, match="FillRow has no field prise"):
        row(FillRow, **kw, prise=1)
