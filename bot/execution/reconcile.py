"""Restart recovery: before any new decision, make the database and the exchange agree.

The database is the truth for intent, the exchange for fills: orders the database thinks
are working are looked up and their fills adopted; orders the bot owns (client id prefix)
that the database does not know are cancelled; anything else is flagged, never touched;
every open trade gets its protective stop back if it lost it; basis pairs a crash cut
short are driven on to open or closed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from ccxt.base.errors import OrderNotFound

from bot.execution.orders import OrderManager
from bot.execution.trade import OrderLife, TradeState
from bot.logs import kv
from bot.types import CLIENT_PREFIX

log = logging.getLogger("derivbot.reconcile")
PROTECTED = (TradeState.OPEN, TradeState.T1_FILLED, TradeState.T2_FILLED)


@dataclass
class Report:
    looked_up: int = 0
    adopted: int = 0  # orders whose fills or end happened while the bot was down
    never_placed: list[str] = field(default_factory=list)
    orphans_cancelled: list[str] = field(default_factory=list)
    foreign_orders: list[str] = field(default_factory=list)
    stops_replaced: list[int] = field(default_factory=list)
    unowned_positions: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def reconcile(om: OrderManager) -> Report:
    started = time.perf_counter()
    r = Report()
    now = om.clock.now()
    for o in [o for o in om.orders.values()
              if o.state in (OrderLife.PENDING_CREATE, OrderLife.OPEN)]:
        r.looked_up += 1
        try:
            st = await om.gw.fetch_order(o.symbol, o.client_id)
        except OrderNotFound:
            end = OrderLife.REJECTED if o.state == OrderLife.PENDING_CREATE else OrderLife.EXPIRED
            o.state, o.reason = end.value, "not on the exchange at restart"
            om.store.record_order(o, now, o.reason)
            r.never_placed.append(o.client_id)
            om._reactions.append((o.trade_id, o.client_id))
            continue
        before = (o.state, o.filled)
        om._on_order_state(st)
        r.adopted += (o.state, o.filled) != before
    for trade in list(om.active.values()):  # created, but the crash came before its entry
        if trade.state == TradeState.PENDING_ENTRY and not any(
                o.trade_id == trade.id for o in om.orders.values()):
            om._move(trade, TradeState.FAILED, "no entry order was placed before the restart")
            om.active.pop(trade.id)
            r.never_placed.append(f"trade {trade.id}")
    for st in await om.gw.fetch_open_orders():
        if st.client_id in om.orders or (om.basis is not None and om.basis.owns(st.client_id)):
            continue
        if st.client_id.startswith(f"{CLIENT_PREFIX}-"):
            await om.gw.cancel_order(st.symbol, st.client_id)
            r.orphans_cancelled.append(st.client_id)
        else:
            r.foreign_orders.append(st.client_id)
    for o in om.orders.values():  # reactions a crash may have cut short are run again;
        if o.state not in (OrderLife.PENDING_CREATE, OrderLife.OPEN):  # each is guarded
            om._reactions.append((o.trade_id, o.client_id))  # by the trade's state
    await om.sync()  # reactions to what happened while down: protect, move stops, finish
    for trade in list(om.active.values()):
        if trade.state in PROTECTED and not om.working(trade.id, "stop"):
            level = trade.stop_price or Decimal(repr(trade.plan_stop))
            await om._place_stop(trade, level, om.next_seq(trade.id, "stop"))
            r.stops_replaced.append(trade.id)
    await om.sync()
    r.stops_replaced = sorted(set(r.stops_replaced + om.stops_replaced))
    om.stops_replaced.clear()
    if om.basis is not None:  # basis pairs a crash cut short: finish opening or closing them
        for pair in list(om.basis.active.values()):
            await om.basis.drive(pair)
    traded = {t.symbol for t in om.active.values()} | (
        {b.perp for b in om.basis.active.values()} if om.basis is not None else set())
    r.unowned_positions = [p.symbol for p in await om.gw.fetch_positions()
                           if p.symbol not in traded]
    om.store.commit()
    r.seconds = time.perf_counter() - started
    log.info(
        "reconciled",
        extra=kv(
            seconds=round(r.seconds, 3),
            looked_up=r.looked_up,
            adopted=r.adopted,
            never_placed=len(r.never_placed),
            orphans_cancelled=len(r.orphans_cancelled),
            foreign=r.foreign_orders,
            stops_replaced=r.stops_replaced,
            unowned_positions=r.unowned_positions,
        ),
    )
    return r
