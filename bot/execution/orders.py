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
from decimal import Decimal

from ccxt.base.errors import ExchangeError, InvalidOrder, NetworkError, OrderNotFound

from bot.execution.book import ZERO, TradeBook
from bot.execution.failpoints import failpoint
from bot.execution.pricing import (
    entry_falls_back,
    exit_rest_at_market,
    ioc_exit_price,
    post_only_price,
    split_amounts,
    target_kind,
)
from bot.execution.trade import (
    OrderLife,
    TradeState,
    check_trade_move,
)
from bot.logs import kv
from bot.types import (
    Fill,
    FundingPayment,
    OrderRequest,
    OrderState,
    OrderType,
    client_id,
)
from risk.manager import Approved
from state.models import Order, Trade, row

log = logging.getLogger("derivbot.orders")
TARGET_LEGS = ("t1", "t2", "t3")
TRAILING = (TradeState.OPEN, TradeState.T1_FILLED, TradeState.T2_FILLED)
EXIT_LEGS = ("stop", "t1", "t2", "t3", "exit")


class OrderManager(TradeBook):
    """Commands (open, close, manage), the reactions they set off, and the orders they send."""

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
                    risk_cash=ap.risk_cash, created_at=self.clock.now(),
                    max_hold_hours=plan.max_hold_hours)
        self.store.add(trade)  # committed with its entry order, below
        self.active[trade.id] = trade
        market = self.markets[trade.symbol]
        log.info("open", extra=kv(
            trade=trade.id, strategy=trade.strategy, symbol=trade.symbol, side=trade.side,
            size=ap.size, entry=market.price_to_precision(plan.entry),
            stop=market.price_to_precision(plan.stop), risk=f"{ap.risk_cash:.2f}"))
        tif = "GTC"
        if limit_price is None and self.order_rules.entry_type == "post_only":
            limit_price = post_only_price(self.order_rules, market, trade.side, plan.entry)
            timeout_ms, tif = int(self.order_rules.post_only_wait_minutes * 60_000), "GTX"
        if limit_price is None:
            await self._submit(trade, "entry", 0, OrderType.MARKET, ap.size)
        else:
            self.entry_deadline[trade.id] = self.clock.now() + (timeout_ms or 3_600_000)
            await self._submit(trade, "entry", 0, OrderType.LIMIT, ap.size, price=limit_price,
                               time_in_force=tif)
        await self.sync()
        return trade

    async def tighten_stop(self, trade_id: int, level: Decimal, last: float) -> str:
        """A person moves a trade's stop: only toward the price (never looser) and never
        to or through it. Returns what happened, in a line a person reads."""
        trade = self.active.get(trade_id)
        if trade is None or trade.state not in TRAILING:
            return f"refused: trade {trade_id} has no open position to protect"
        d = 1 if trade.side == "long" else -1
        px = self.markets[trade.symbol].price_to_precision(level)
        now = trade.stop_price or Decimal(repr(trade.plan_stop))
        if (px - now) * d <= 0:
            return f"refused: {px} would loosen the stop at {now} (only toward the price)"
        if (Decimal(repr(last)) - px) * d <= 0:
            return f"refused: {px} is at or through the price {last:g}"
        await self._move_stop(trade, px)
        return f"trade {trade_id}: stop moved from {now} to {trade.stop_price}"

    async def close_trade(self, trade_id: int, reason: str) -> None:
        """Close at market what is left (reduce-only), then cancel everything else."""
        trade = self.active.get(trade_id)
        if trade is None:
            return
        trade.close_reason = reason
        self.store.add(trade)  # the reason is kept even if we stop before the exit fills
        left = trade.filled - trade.exited
        last = self.last_close.get(trade.symbol)
        if left > 0 and self.order_rules.exit_type == "ioc" and last:
            price = ioc_exit_price(self.order_rules, self.markets[trade.symbol], trade.side, last)
            await self._submit(trade, "exit", self.next_seq(trade_id, "exit"), OrderType.LIMIT,
                               left, price=price, reduce_only=True, time_in_force="IOC")
        elif left > 0:
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
        """A plan's time exit; the time stop and trailing stop of [management] (both
        optional) for `symbol`."""
        self.last_close[symbol] = close
        trailing_states = {"open": TRAILING, "t1": TRAILING[1:], "t2": TRAILING[2:]}
        for trade in [t for t in self.active.values() if t.symbol == symbol]:
            if trade.state not in TRAILING or trade.opened_at is None:
                continue
            if trade.max_hold_hours and now - trade.opened_at >= trade.max_hold_hours * 3_600_000:
                log.info("time_exit", extra=kv(trade=trade.id, hours=trade.max_hold_hours))
                await self.close_trade(trade.id, "time exit")
                continue
            if (cfg.time_stop_hours and trade.state == TradeState.OPEN
                    and now - trade.opened_at >= cfg.time_stop_hours * 3_600_000):
                log.info("time_stop", extra=kv(trade=trade.id, hours=cfg.time_stop_hours))
                await self.close_trade(trade.id, "time stop")
                continue
            if not cfg.trailing_atr or trade.state not in trailing_states[cfg.trail_from] \
                    or not atr > 0 or trade.stop_price is None:
                continue
            d = 1 if trade.side == "long" else -1
            level = Decimal(repr(close - d * cfg.trailing_atr * atr))
            gain = (level - trade.stop_price) * d
            if gain >= Decimal(repr(cfg.trail_step_atr * atr)) and self.working(trade.id, "stop"):
                log.info(
                    "trail", extra=kv(trade=trade.id, stop_from=trade.stop_price, stop_to=level)
                )
                await self._move_stop(trade, level)

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
                elif entry_falls_back(self.order_rules, trade, order):  # refused or unfilled
                    log.info("post_only_fallback", extra=kv(trade=trade.id, why=order.state))
                    await self._submit(trade, "entry", self.next_seq(trade.id, "entry"),
                                       OrderType.MARKET, trade.size)
                else:
                    trade.close_reason = f"entry {order.state}: {order.reason}"
                    self._move(trade, TradeState.FAILED, trade.close_reason)
                    self.active.pop(trade.id)
            elif trade.state == TradeState.PENDING_ENTRY and trade.filled > trade.exited:
                await self._cover(trade)  # part of a resting entry filled: stop it now
            return
        if trade.filled > 0 and trade.exited >= trade.filled:
            await self._finish(trade, trade.close_reason or leg)
            return
        if done and exit_rest_at_market(trade, order):
            log.info("exit_rest_at_market", extra=kv(trade=trade.id, left=trade.filled
                                                     - trade.exited))
            await self._submit(trade, "exit", self.next_seq(trade.id, "exit"), OrderType.MARKET,
                               trade.filled - trade.exited, reduce_only=True)
            return
        if (leg == "stop" and done and order.state != OrderLife.FILLED
                and trade.state in TRAILING and not self.working(trade.id, "stop")):
            # the stop went (expired, cancelled by hand): put it back, or learn why not
            level = trade.stop_price or Decimal(repr(trade.plan_stop))
            log.warning(
                "stop_lost", extra=kv(trade=trade.id, state=order.state, note="placing it again")
            )
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
        log.error(
            "position_gone", extra=kv(trade=trade.id, left=trade.filled - trade.exited, reason=why)
        )
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
        kind, trigger = target_kind(self.order_rules, market, trade.side)
        staged = [self._new_order(trade, leg, 0, kind, amount, price=price,
                                  stop_price=trigger(price), reduce_only=True)
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
        log.info(
            "closed",
            extra=kv(
                trade=trade.id,
                reason=trade.close_reason,
                pnl=trade.realised,
                fees=trade.fees,
                funding=trade.funding,
            ),
        )

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
                      reduce_only: bool = False, time_in_force: str = "GTC") -> Order | None:
        order, req = self._new_order(trade, leg, seq, type_, amount, price, stop_price,
                                     reduce_only, time_in_force)
        return await self._send(trade, order, req)

    def _new_order(self, trade: Trade, leg: str, seq: int, type_: OrderType, amount: Decimal,
                   price: float | Decimal | None = None, stop_price: Decimal | None = None,
                   reduce_only: bool = False, time_in_force: str = "GTC"
                   ) -> tuple[Order, OrderRequest]:
        """The order as it will be sent, rounded to the market, written as pending_create."""
        market = self.markets[trade.symbol]
        entering = leg == "entry"
        side = "buy" if (trade.side == "long") == entering else "sell"
        req = OrderRequest(client_id(trade.id, leg, seq), trade.symbol, side, type_,
                           market.amount_to_precision(amount),
                           None if price is None else market.price_to_precision(price),
                           stop_price, reduce_only, time_in_force)
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
            log.warning(
                "submit_unknown", extra=kv(trade=trade.id, order=req.client_id, error=repr(err))
            )
            return order  # still pending_create: not a rejection
        except (InvalidOrder, ExchangeError) as err:
            order.state, order.reason = OrderLife.REJECTED.value, str(err)
            self.store.record_order(order, self.clock.now(), str(err))
            log.info("rejected", extra=kv(trade=trade.id, order=req.client_id, reason=err))
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

