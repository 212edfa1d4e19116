"""The book of trades under way: trades, their orders, the closed record and its PnL parts,
and what the exchange's reports — order states, fills, funding — do to them. Each report that
moves a trade queues a reaction (the order manager's) rather than acting inside it."""

from __future__ import annotations

import logging
from collections import deque
from decimal import Decimal

from bot.config import OrdersConfig
from bot.exchanges.gateway import Gateway
from bot.execution.trade import FROM_STATUS, OrderLife, TradeState, order_move_allowed
from bot.logs import kv
from bot.markets import Market
from bot.types import Fill, FundingPayment, OrderRequest, OrderState, parse_client_id
from risk.manager import OpenRisk
from state.models import FillRow, FundingRow, Order, Trade, row
from state.store import Store

log = logging.getLogger("derivbot.orders")
ZERO = Decimal(0)


class TradeBook:
    """The trades and orders under way, the closed record and its PnL parts, and what the
    exchange's reports (order states, fills, funding) do to them."""

    def __init__(self, gateway: Gateway, store: Store, markets: dict[str, Market], clock,
                 order_rules: OrdersConfig | None = None) -> None:
        self.gw, self.store, self.markets, self.clock = gateway, store, markets, clock
        # [orders]: how entries, targets and exits go out (market, post-only, IOC, take-profit)
        self.order_rules = order_rules or OrdersConfig()
        self.last_close: dict[str, float] = {}  # per symbol, for an IOC exit's price band
        self.active: dict[int, Trade] = {t.id: t for t in store.open_trades()}
        self.orders: dict[str, Order] = {
            o.client_id: o for t in self.active.values() for o in store.orders(t.id)}
        self._reactions: deque[tuple[int, str]] = deque()
        self.unknown: dict[str, OrderRequest] = {}  # submits whose outcome we do not know
        self.entry_deadline: dict[int, int] = {}  # trade id -> when a resting entry is pulled
        self.stops_replaced: list[int] = []  # trades whose lost stop was put back
        self.first_sent: float | None = None  # perf_counter of the first order handed over
        self.basis = None  # the basis executor, when enabled: its orders and funding go there
        done = [t for t in store.trades() if t.state == TradeState.CLOSED]
        self.finished: dict[int, Trade] = {t.id: t for t in done}  # the closed record
        self.changed: list[int] = list(self.finished)  # ids, each time one's net changed
        self.pnl = {"price": sum((t.realised for t in done), ZERO),
                    "fees": sum((t.fees for t in done), ZERO),
                    "funding": sum((t.funding for t in done), ZERO)}

    def timed(self, symbol: str) -> bool:
        """An active trade on `symbol` leaves at a time of its own."""
        return any(t.symbol == symbol and t.max_hold_hours for t in self.active.values())

    def open_risk(self) -> list[OpenRisk]:
        return [OpenRisk(t.symbol, t.risk_cash) for t in self.active.values()]

    # ---- events ---------------------------------------------------------------------------
    def _on_order_state(self, st: OrderState) -> None:
        order = self.orders.get(st.client_id)
        if order is None:
            if self.basis is not None and self.basis.owns(st.client_id):
                self.basis.on_state(st)
            return  # else not an order of an active trade: reconciliation's business
        trade = self.active[order.trade_id]
        new = FROM_STATUS[st.status]
        delta = st.filled - order.filled
        if delta < 0 or not order_move_allowed(order.state, new):
            return  # stale report
        if delta > 0:
            old_value = (order.average or ZERO) * order.filled
            price = (st.average * st.filled - old_value) / delta
            self._book(trade, order.leg, delta, price, st.fee - order.fee)
            order.filled, order.average, order.fee = st.filled, st.average, st.fee
        changed = delta > 0 or order.state != new.value
        order.state, order.exchange_id = new.value, st.exchange_id or order.exchange_id
        if st.reason:
            order.reason = st.reason
        if changed:  # the trade with it when a fill moved it (a state alone leaves it be)
            self.store.record_order(order, self.clock.now(), st.reason,
                                    *([trade] if delta > 0 else []))
            self._reactions.append((trade.id, order.client_id))

    def _on_fill(self, fill: Fill) -> None:
        if fill.fill_id and self.store.has_fill(fill.symbol, fill.fill_id):
            return  # read again (a gateway re-reading recent fills after a restart)
        parsed = parse_client_id(fill.client_id)
        trade_id = parsed[0] if parsed else None
        touched: list = []
        if fill.liquidation:
            pair = self.basis.holder(fill.symbol, fill.timestamp) if self.basis else None
            trade = None if pair is not None else self._trade_on(fill.symbol, fill.timestamp)
            if pair is not None:
                self.basis.on_liquidation(pair, fill)
                touched.append(pair)
            elif trade is not None:
                trade_id = trade.id
                trade.close_reason = "liquidated"
                self._book(trade, "liquidation", fill.amount, fill.price, fill.fee)
                self._reactions.append((trade.id, ""))
                touched.append(trade)
        rec = row(FillRow, trade_id=trade_id, client_id=fill.client_id,
                  exchange_id=fill.exchange_id, symbol=fill.symbol, side=fill.side,
                  amount=fill.amount, price=fill.price, fee=fill.fee, ts=fill.timestamp,
                  liquidation=fill.liquidation, fill_id=fill.fill_id)
        self.store.add(rec, *touched)  # the fill and what it closed: one transaction

    def _on_funding(self, pay: FundingPayment) -> None:
        if self.store.has_funding(pay.symbol, pay.timestamp):
            return  # reported again (e.g. a gateway re-reading history after a restart)
        pair = self.basis.holder(pay.symbol, pay.timestamp) if self.basis is not None else None
        if pair is not None:  # the basis short held the perp (no directional trade may)
            pair.funding += pay.amount
            self.store.add(row(FundingRow, basis_id=pair.id, symbol=pay.symbol,
                               ts=pay.timestamp, rate=pay.rate, notional=pay.notional,
                               amount=pay.amount), pair)
            return
        # the trade that held the position then: it may have closed before we heard
        trade = self._trade_on(pay.symbol) or self.store.trade_open_at(pay.symbol,
                                                                         pay.timestamp)
        if trade is not None:
            trade.funding += pay.amount
            if trade.state == TradeState.CLOSED:  # a late report changes the record
                self.finished[trade.id] = trade
                self.changed.append(trade.id)
        self.store.add(row(FundingRow, trade_id=trade.id if trade else None,
                           symbol=pay.symbol, ts=pay.timestamp, rate=pay.rate,
                           notional=pay.notional, amount=pay.amount),
                       *([trade] if trade else []))

    def _trade_on(self, symbol: str, at: int | None = None) -> Trade | None:
        """The active trade holding `symbol` (at time `at`, when given)."""
        return next((t for t in self.active.values() if t.symbol == symbol
                     and (t.state != TradeState.PENDING_ENTRY or t.filled > 0)
                     and (at is None or (t.opened_at or 0) <= at)), None)

    def _book(self, trade: Trade, leg: str, amount: Decimal, price: Decimal, fee: Decimal) -> None:
        trade.fees += fee
        if leg == "entry":
            value = (trade.entry_price or ZERO) * trade.filled + price * amount
            trade.filled += amount
            trade.entry_price = value / trade.filled
            return
        d = 1 if trade.side == "long" else -1
        trade.realised += (price - trade.entry_price) * amount * d
        value = (trade.exit_price or ZERO) * trade.exited + price * amount
        trade.exited += amount
        trade.exit_price = value / trade.exited
        if trade.exited >= trade.filled and not trade.close_reason:
            trade.close_reason = leg  # the leg that made the trade flat
        log.info(
            "exit",
            extra=kv(
                trade=trade.id,
                leg=leg,
                amount=amount,
                price=price,
                left=trade.filled - trade.exited,
            ),
        )

    def next_seq(self, trade_id: int, leg: str) -> int:
        """The next unused sequence number of a trade's leg (client ids are never reused)."""
        return 1 + max((parse_client_id(o.client_id)[2] for o in self.orders.values()
                        if o.trade_id == trade_id and o.leg == leg), default=-1)

    def working(self, trade_id: int, leg: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.trade_id == trade_id
                and o.state == OrderLife.OPEN and (leg is None or o.leg == leg)]
