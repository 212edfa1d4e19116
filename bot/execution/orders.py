"""The order manager: carries out each trade's plan as one state machine.

Entry; on fill, a reduce-only stop and three reduce-only targets (40/30/30); stop to
breakeven after T1 and to T1 after T2; everything left cancelled when flat. Every
order is stored before it is sent, and every trade and order transition is stored.
Reactions to exchange events are queued and run one at a time, never nested.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from decimal import Decimal

from ccxt.base.errors import ExchangeError, InvalidOrder, NetworkError, OrderNotFound

from bot.exchanges.gateway import Gateway
from bot.execution.failpoints import failpoint
from bot.execution.trade import (
    FROM_STATUS,
    OrderLife,
    TradeState,
    check_trade_move,
    order_move_allowed,
)
from bot.markets import Market
from bot.types import (
    Fill,
    FundingPayment,
    OrderRequest,
    OrderState,
    OrderType,
    client_id,
    parse_client_id,
)
from risk.manager import Approved, OpenRisk
from state.models import FillRow, FundingRow, Order, Trade, row
from state.store import Store

log = logging.getLogger("derivbot.orders")
ZERO = Decimal(0)
TARGET_LEGS = ("t1", "t2", "t3")
TRAILING = (TradeState.OPEN, TradeState.T1_FILLED, TradeState.T2_FILLED)
EXIT_LEGS = ("stop", "t1", "t2", "t3", "exit")


class OrderManager:
    def __init__(self, gateway: Gateway, store: Store, markets: dict[str, Market], clock) -> None:
        self.gw, self.store, self.markets, self.clock = gateway, store, markets, clock
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

    # ---- commands -------------------------------------------------------------------------
    async def open_trade(self, ap: Approved, limit_price: float | None = None,
                         timeout_ms: int | None = None) -> Trade:
        """Enter at market, or rest a limit entry until `timeout_ms`; whatever filled by then
        gets its stop and targets, sized to the filled amount."""
        plan = ap.plan
        trade = row(Trade, id=self.store.new_trade_id(), strategy=plan.strategy,
                    symbol=plan.symbol, side=plan.direction.side,
                    state=TradeState.PENDING_ENTRY.value, plan_entry=plan.entry,
                    plan_stop=plan.stop,
                    targets_json=json.dumps([[t.price, t.fraction] for t in plan.targets]),
                    reasons_json=json.dumps(plan.reasons, default=str), size=ap.size,
                    risk_cash=ap.risk_cash, created_at=self.clock.now())
        self.store.add(trade)  # committed with its entry order, below
        self.active[trade.id] = trade
        log.info("trade=%s event=open symbol=%s side=%s size=%s", trade.id, trade.symbol,
                 trade.side, ap.size)
        if limit_price is None:
            await self._submit(trade, "entry", 0, OrderType.MARKET, ap.size)
        else:
            self.entry_deadline[trade.id] = self.clock.now() + (timeout_ms or 3_600_000)
            await self._submit(trade, "entry", 0, OrderType.LIMIT, ap.size, price=limit_price)
        await self.sync()
        return trade

    async def close_trade(self, trade_id: int, reason: str) -> None:
        """Close at market what is left (reduce-only), then cancel everything else."""
        trade = self.active.get(trade_id)
        if trade is None:
            return
        trade.close_reason = reason
        self.store.add(trade)  # the reason is kept even if we stop before the exit fills
        left = trade.filled - trade.exited
        if left > 0:
            await self._submit(trade, "exit", self.next_seq(trade_id, "exit"), OrderType.MARKET,
                               left, reduce_only=True)
        elif trade.state == TradeState.PENDING_ENTRY:
            await self._cancel_working(trade)
        await self.sync()

    async def sync(self) -> None:
        """Apply everything the exchange reported, then run the queued reactions."""
        if self.unknown:
            await self.resolve_unknown()
        if self.entry_deadline:
            await self.expire_entries()
        while True:
            events = await self.gw.poll_events()
            for ev in events:
                if isinstance(ev, OrderState):
                    self._on_order_state(ev)
                elif isinstance(ev, Fill):
                    self._on_fill(ev)
                elif isinstance(ev, FundingPayment):
                    self._on_funding(ev)
            if not self._reactions:
                if not events:
                    self.store.commit()
                    return
                continue
            while self._reactions:
                await self._react(*self._reactions.popleft())

    async def manage(self, symbol: str, now: int, close: float, atr: float, cfg) -> None:
        """Time stop and trailing stop (both optional, from [management]) for `symbol`."""
        trailing_states = {"open": TRAILING, "t1": TRAILING[1:], "t2": TRAILING[2:]}
        for trade in [t for t in self.active.values() if t.symbol == symbol]:
            if trade.state not in TRAILING or trade.opened_at is None:
                continue
            if (cfg.time_stop_hours and trade.state == TradeState.OPEN
                    and now - trade.opened_at >= cfg.time_stop_hours * 3_600_000):
                log.info("trade=%s event=time_stop hours=%s", trade.id, cfg.time_stop_hours)
                await self.close_trade(trade.id, "time stop")
                continue
            if not cfg.trailing_atr or trade.state not in trailing_states[cfg.trail_from] \
                    or not atr > 0 or trade.stop_price is None:
                continue
            d = 1 if trade.side == "long" else -1
            level = Decimal(repr(close - d * cfg.trailing_atr * atr))
            gain = (level - trade.stop_price) * d
            if gain >= Decimal(repr(cfg.trail_step_atr * atr)) and self.working(trade.id, "stop"):
                log.info("trade=%s event=trail stop=%s->%s", trade.id, trade.stop_price, level)
                await self._move_stop(trade, level)

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
        log.info("trade=%s event=exit leg=%s amount=%s price=%s left=%s", trade.id, leg, amount,
                 price, trade.filled - trade.exited)

    # ---- reactions ------------------------------------------------------------------------
    async def _react(self, trade_id: int, cid: str) -> None:
        trade = self.active.get(trade_id)
        if trade is None:
            return
        order = self.orders.get(cid)
        leg = order.leg if order else "liquidation"
        done = order is None or order.state not in (OrderLife.OPEN, OrderLife.PENDING_CREATE)
        if leg == "entry":
            if trade.state == TradeState.PENDING_ENTRY and done:
                if trade.filled > 0:
                    await self._protect(trade)
                else:
                    self._move(trade, TradeState.FAILED, f"entry {order.state}: {order.reason}")
                    self.active.pop(trade.id)
            elif trade.state == TradeState.PENDING_ENTRY and trade.filled > trade.exited:
                await self._cover(trade)  # part of a resting entry filled: stop it now
            return
        if trade.filled > 0 and trade.exited >= trade.filled:
            await self._finish(trade, trade.close_reason or leg)
            return
        if (leg == "stop" and done and order.state != OrderLife.FILLED
                and trade.state in TRAILING and not self.working(trade.id, "stop")):
            # the stop went (expired, cancelled by hand): put it back, or learn why not
            level = trade.stop_price or Decimal(repr(trade.plan_stop))
            log.warning("trade=%s event=stop_lost state=%s: placing it again", trade.id,
                        order.state)
            self.stops_replaced.append(trade.id)
            await self._place_stop(trade, level, self.next_seq(trade.id, "stop"))
            return
        if order is not None and order.state == OrderLife.FILLED:
            targets = json.loads(trade.targets_json)
            if leg == "t1" and trade.state == TradeState.OPEN:
                failpoint("t1.filled")
                self._move(trade, TradeState.T1_FILLED, "stop to breakeven")
                await self._move_stop(trade, trade.entry_price)
            elif leg == "t2" and trade.state == TradeState.T1_FILLED:
                self._move(trade, TradeState.T2_FILLED, "stop to T1")
                await self._move_stop(trade, Decimal(repr(targets[0][0])))

    async def _position_gone(self, trade: Trade, why: str) -> None:
        """A reduce-only order refused for want of a position: if the exchange holds none on
        the trade's side, the position was closed outside the bot (by hand, or liquidated
        unseen). The trade ends here with that reason — it is not retried tick after tick."""
        d = 1 if trade.side == "long" else -1
        if any(p.symbol == trade.symbol and p.contracts * d > 0
               for p in await self.gw.fetch_positions()) or trade.id not in self.active:
            return
        log.error("trade=%s event=position_gone left=%s reason=%s", trade.id,
                  trade.filled - trade.exited, why)
        trade.close_reason = "position gone on the exchange"
        await self._finish(trade, trade.close_reason)

    async def _cover(self, trade: Trade) -> None:
        """A stop for all that is held, at the plan's level: a new one first when what
        works covers less, then the smaller ones are cancelled."""
        old = self.working(trade.id, "stop")
        if sum((o.amount for o in old), ZERO) == trade.filled - trade.exited:
            return
        level = trade.stop_price or Decimal(repr(trade.plan_stop))
        await self._place_stop(trade, level, self.next_seq(trade.id, "stop"))
        for o in old:
            await self._cancel(o)

    async def _protect(self, trade: Trade) -> None:
        trade.opened_at = self.clock.now()  # written with the move
        self._move(trade, TradeState.OPEN, f"entry filled {trade.filled} @ {trade.entry_price}")
        await self._cover(trade)
        market = self.markets[trade.symbol]
        targets = json.loads(trade.targets_json)
        amounts = split_amounts(trade.filled, [f for _, f in targets], market)
        if trade.id not in self.active:
            return
        # the targets are written together and committed once (not once each) before the
        # first goes out; one that finds its trade gone is never sent, and says so
        staged = [self._new_order(trade, leg, 0, OrderType.LIMIT, amount, price=price,
                                  reduce_only=True)
                  for leg, (price, _), amount in zip(TARGET_LEGS, targets, amounts)
                  if amount > 0]
        self.store.commit()
        for order, req in staged:
            if trade.id in self.active:
                await self._send(trade, order, req, ahead=True)
            else:
                order.state, order.reason = OrderLife.REJECTED.value, "not sent: trade closed"
                self.store.record_order(order, self.clock.now(), order.reason)

    async def _move_stop(self, trade: Trade, price: Decimal) -> None:
        """New stop first, then cancel the old one: never a moment without a stop. A stop
        only ever tightens (a trailing stop ahead of breakeven stays where it is)."""
        d = 1 if trade.side == "long" else -1
        if trade.stop_price is not None and (price - trade.stop_price) * d <= 0:
            return
        old = self.working(trade.id, "stop")
        await self._place_stop(trade, price, self.next_seq(trade.id, "stop"))
        failpoint("stop.moved")  # two stops working for a moment
        for o in old:
            await self._cancel(o)

    def next_seq(self, trade_id: int, leg: str) -> int:
        """The next unused sequence number of a trade's leg (client ids are never reused)."""
        return 1 + max((parse_client_id(o.client_id)[2] for o in self.orders.values()
                        if o.trade_id == trade_id and o.leg == leg), default=-1)

    def working(self, trade_id: int, leg: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.trade_id == trade_id
                and o.state == OrderLife.OPEN and (leg is None or o.leg == leg)]

    async def _place_stop(self, trade: Trade, price: Decimal, seq: int) -> None:
        left = trade.filled - trade.exited
        market = self.markets[trade.symbol]
        px = market.price_to_precision(price)
        order = await self._submit(trade, "stop", seq, OrderType.STOP_MARKET, left,
                                   stop_price=px, reduce_only=True)
        if order is None:  # refused (price through the stop, or no position): get out now
            await self.close_trade(trade.id, "stop already crossed")
            return
        trade.stop_price = px
        self.store.add(trade)

    async def _finish(self, trade: Trade, reason: str) -> None:
        await self._cancel_working(trade)
        trade.close_reason = trade.close_reason or reason
        trade.closed_at = self.clock.now()
        self._move(trade, TradeState.CLOSED, trade.close_reason)
        self.active.pop(trade.id, None)
        self.finished[trade.id] = trade
        self.changed.append(trade.id)
        self.pnl["price"] += trade.realised
        self.pnl["fees"] += trade.fees
        self.pnl["funding"] += trade.funding
        for cid in [c for c, o in self.orders.items() if o.trade_id == trade.id]:
            del self.orders[cid]
        log.info("trade=%s event=closed reason=%s pnl=%s fees=%s funding=%s", trade.id,
                 trade.close_reason, trade.realised, trade.fees, trade.funding)

    async def _cancel_working(self, trade: Trade) -> None:
        for o in self.working(trade.id):
            await self._cancel(o)

    async def _cancel(self, order: Order) -> None:
        self.store.commit()  # what led here is on disk before the exchange acts on it
        try:
            st = await self.gw.cancel_order(order.symbol, order.client_id)
        except OrderNotFound:
            st = await self.gw.fetch_order(order.symbol, order.client_id)
        self._on_order_state(st)

    def _move(self, trade: Trade, new: TradeState, detail: str) -> None:
        check_trade_move(trade.id, trade.state, new)
        self.store.add_trade_event(trade, new.value, self.clock.now(), detail)

    async def _submit(self, trade: Trade, leg: str, seq: int, type_: OrderType, amount: Decimal,
                      price: float | Decimal | None = None, stop_price: Decimal | None = None,
                      reduce_only: bool = False) -> Order | None:
        order, req = self._new_order(trade, leg, seq, type_, amount, price, stop_price,
                                     reduce_only)
        return await self._send(trade, order, req)

    def _new_order(self, trade: Trade, leg: str, seq: int, type_: OrderType, amount: Decimal,
                   price: float | Decimal | None = None, stop_price: Decimal | None = None,
                   reduce_only: bool = False) -> tuple[Order, OrderRequest]:
        """The order as it will be sent, rounded to the market, written as pending_create."""
        market = self.markets[trade.symbol]
        entering = leg == "entry"
        side = "buy" if (trade.side == "long") == entering else "sell"
        req = OrderRequest(client_id(trade.id, leg, seq), trade.symbol, side, type_,
                           market.amount_to_precision(amount),
                           None if price is None else market.price_to_precision(price),
                           stop_price, reduce_only)
        order = row(Order, client_id=req.client_id, trade_id=trade.id, leg=leg,
                    symbol=req.symbol, side=side, type=type_.value, amount=req.amount,
                    price=req.price, stop_price=stop_price, reduce_only=reduce_only,
                    state=OrderLife.PENDING_CREATE.value)
        self.store.record_order(order, self.clock.now())
        self.orders[order.client_id] = order
        return order, req

    async def _send(self, trade: Trade, order: Order, req: OrderRequest, ahead: bool = False
                    ) -> Order | None:
        """The order to the exchange, its row committed first (write-ahead) — `ahead`: it
        was, with everything that led to it (what was written since is only the exchange's
        answers to orders sent before it, which reconciliation reads back)."""
        if not ahead:
            self.store.commit()
        if self.first_sent is None:
            self.first_sent = time.perf_counter()
        try:
            st = await self.gw.create_order(req)
        except NetworkError as err:
            # the exchange may or may not have it: look it up by client id before resending
            self.unknown[req.client_id] = req
            order.reason = f"submit outcome unknown: {err}"
            self.store.record_order(order, self.clock.now(), order.reason)
            log.warning("trade=%s event=submit_unknown order=%s error=%r", trade.id,
                        req.client_id, err)
            return order  # still pending_create: not a rejection
        except (InvalidOrder, ExchangeError) as err:
            order.state, order.reason = OrderLife.REJECTED.value, str(err)
            self.store.record_order(order, self.clock.now(), str(err))
            log.info("trade=%s event=rejected order=%s reason=%s", trade.id, req.client_id, err)
            if order.leg == "entry":
                self._reactions.append((trade.id, order.client_id))
            elif req.reduce_only and "-2022" in str(err):
                await self._position_gone(trade, str(err))
            return None
        self.unknown.pop(req.client_id, None)
        failpoint(f"{order.leg}.sent")  # on the exchange, not yet booked here
        self._on_order_state(st)
        return order

    async def resolve_unknown(self) -> None:
        """Each unknown submit: found on the exchange → adopted; not found → sent again
        under the same client id (so it can never exist twice); no answer → next time."""
        for cid, req in list(self.unknown.items()):
            order = self.orders.get(cid)
            if order is None:
                self.unknown.pop(cid)
                continue
            try:
                st = await self.gw.fetch_order(req.symbol, cid)
            except OrderNotFound:
                await self._send(self.active[order.trade_id], order, req)
                continue
            except NetworkError:
                continue
            self.unknown.pop(cid)
            self._on_order_state(st)

    async def expire_entries(self) -> None:
        """A resting entry past its deadline is pulled; what filled of it is protected."""
        now = self.clock.now()
        for trade_id, deadline in list(self.entry_deadline.items()):
            trade = self.active.get(trade_id)
            if trade is None or trade.state != TradeState.PENDING_ENTRY:
                self.entry_deadline.pop(trade_id)
                continue
            if now >= deadline:
                self.entry_deadline.pop(trade_id)
                for o in self.working(trade_id, "entry"):
                    await self._cancel(o)


def split_amounts(total: Decimal, fractions: list[float], market: Market) -> list[Decimal]:
    """Target amounts by fraction, rounded down; the last takes the remainder so they sum up.

    A slice below the market minimum is folded into the next target.
    """
    out: list[Decimal] = []
    carry = ZERO
    for i, f in enumerate(fractions):
        if i == len(fractions) - 1:
            amount = total - sum(out, ZERO)
        else:
            amount = market.amount_to_precision(total * Decimal(repr(f))) + carry
        if amount < market.min_amount and i < len(fractions) - 1:
            carry, amount = amount, ZERO
        else:
            carry = ZERO
        out.append(amount)
    return out
