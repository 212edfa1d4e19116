"""The basis executor: spot long + perp short of equal size, funding collected (SPEC §5).

Each pair is one stored state machine — opening → open → closing → closed (or failed
when it never got both legs). Every step is derived from what is stored (legs filled,
orders working or refused), so the same `drive` finishes whatever a crash cut short.
Legs go out concurrently; a refused leg is retried up to `leg_retries` times, then the
other leg is unwound: the bot never sits with one leg.
"""

from __future__ import annotations

import asyncio
import logging
import math
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from functools import partial

from ccxt.base.errors import ExchangeError, InvalidOrder, NetworkError, OrderNotFound

from bot.config import BasisConfig
from bot.execution.failpoints import failpoint
from bot.execution.legs import LEGS, book_leg
from bot.execution.trade import FROM_STATUS, OrderLife, order_move_allowed
from bot.logs import kv
from bot.markets import Market, split_symbol
from bot.types import OrderRequest, OrderState, OrderType, basis_client_id, parse_basis_id
from risk.basis import basis_notional
from risk.sizing import mmr_for
from state import proposals
from state.models import BasisEvent, BasisTrade, Order, row
from state.store import Store
from strategies.basis import FundingWindows, exit_reason, margin_short
from strategies.types import HOUR_MS

log = logging.getLogger("derivbot.basis")
ZERO = Decimal(0)
WORKING = (OrderLife.PENDING_CREATE, OrderLife.OPEN)
SPOT_SLACK = Decimal("1.01")  # quote moved to spot above the leg's cost: fees and a tick


class BasisDesk:
    def __init__(self, gateway, store: Store, markets: dict[str, Market], clock, history,
                 cfg: BasisConfig, leverage: float, mmr_tiers: tuple[tuple[float, float], ...],
                 taker_fee: float = 0.0005, directional_leverage: float | None = None) -> None:
        """`leverage`: the basis short's; `directional_leverage`: the perp's otherwise, set
        back when a pair is done (a perp holds one or the other, never both)."""
        self.gw, self.store, self.markets, self.clock = gateway, store, markets, clock
        self.history = history  # last prices (spot trades at the perp's price ± basis)
        self.cfg, self.leverage, self.mmr_tiers = cfg, leverage, mmr_tiers
        self.directional = directional_leverage or leverage
        self.taker_fee = Decimal(repr(taker_fee))
        self.gate = None  # live (or paper with approval): new pairs wait for a person
        self.active: dict[int, BasisTrade] = {b.id: b for b in store.open_basis()}
        self.retry_at: dict[str, int] = {}  # perp -> when a pair may be tried again there
        self._pays = FundingWindows(cfg.average_days, cfg.entry_rate)  # should_open, kept
        self._pairs: tuple[int, list[tuple[str, str]]] | None = None
        for b in store.basis_trades():
            if b.state == "failed" and b.closed_at is not None:
                self._back_off(b)
        # each pair's orders, kept while the pair is under way: O(open pairs), never
        # O(orders ever sent)
        self.legs: dict[int, dict[str, Order]] = {
            b.id: {o.client_id: o for o in store.basis_orders(b.id)}
            for b in self.active.values()}

    @classmethod
    def from_config(cls, gateway, store: Store, markets: dict[str, Market], clock, history,
                    cfg) -> BasisDesk:
        """The desk a whole config describes (the runner's, and the kill switch's)."""
        return cls(gateway, store, markets, clock, history, cfg.basis, cfg.basis.leverage,
                   cfg.risk.mmr_tiers, cfg.sim.taker_fee, cfg.risk.leverage)

    # ---- what the runner asks ---------------------------------------------------------
    def pairs(self) -> list[tuple[str, str]]:
        """(perp, spot) for every perp whose spot market is also listed."""
        if self._pairs is None or self._pairs[0] != len(self.markets):
            self._pairs = (len(self.markets), self._find_pairs())
        return self._pairs[1]

    def _find_pairs(self) -> list[tuple[str, str]]:
        out = []
        for sym, m in self.markets.items():
            if not m.spot:
                base, quote, _ = split_symbol(sym)
                if f"{base}/{quote}" in self.markets:
                    out.append((sym, f"{base}/{quote}"))
        return out

    def on(self, perp: str) -> BasisTrade | None:
        return next((b for b in self.active.values() if b.perp == perp), None)

    def holder(self, perp: str, ts: int) -> BasisTrade | None:
        """The pair whose short held `perp` at `ts` (for booking a funding payment)."""
        b = self.on(perp)
        if b is not None and b.created_at <= ts:
            return b
        return self.store.basis_held_at(perp, ts)

    def owns(self, client_id: str) -> bool:
        return self._order(client_id) is not None

    def _order(self, client_id: str) -> Order | None:
        found = parse_basis_id(client_id)
        return None if found is None else self.legs.get(found[0], {}).get(client_id)

    def _orders(self, b: BasisTrade) -> dict[str, Order]:
        return self.legs.setdefault(b.id, {})

    def idle(self, now: int) -> bool:
        """No pair under way and none about to open: the tick needs no account data."""
        if self.active:
            return False
        return not any(self.may_open(perp, spot, now) and self._paying(perp, now)[0]
                       for perp, spot in self.pairs())

    def _paying(self, perp: str, now: int) -> tuple[bool, float | None]:
        """should_open for the perp's funding now (kept until its prints change)."""
        return self._pays.at(perp, self.history.funding_version(perp), now,
                             partial(self.history.funding_series, perp))

    def may_open(self, perp: str, spot: str, now: int) -> bool:
        """Both legs have a fresh price, and no pair failed on this perp too recently."""
        age = int(self.cfg.max_price_age_hours * HOUR_MS)
        return (now >= self.retry_at.get(perp, 0)
                and math.isfinite(self.history.quote(perp, now, age))
                and math.isfinite(self.history.quote(spot, now, age)))

    def _back_off(self, b: BasisTrade) -> None:
        """A pair that never held both legs: its perp waits `retry_after_hours`."""
        until = (b.closed_at or 0) + int(self.cfg.retry_after_hours * HOUR_MS)
        self.retry_at[b.perp] = max(self.retry_at.get(b.perp, 0), until)

    async def tick(self, now: int, equity: float, busy: set[str],
                   positions: dict | None = None, spot_held: dict | None = None,
                   allow_new: bool = True) -> None:
        """Drive open pairs; open a new one where funding pays and the perp is free (not
        when `allow_new` is False: a halt stops new pairs, open ones are still managed)."""
        for perp, spot in self.pairs():
            b = self.on(perp)
            view = self.history.funding_series(perp)
            if b is not None:
                if b.state in ("open", "closing") and spot_held is not None:
                    self._spot_taken(b, spot_held.get(self.markets[spot].base, ZERO))
                if b.state == "open":
                    why = exit_reason(view, self.cfg.exit_rate)
                    pos = (positions or {}).get(perp)
                    if why is None and pos is not None and self._margin_short(pos):
                        why = (f"less than {self.cfg.margin_buffer:.0%} of the margin cushion "
                               "above maintenance left")
                    if why is not None:
                        await self.close(b, why)
                        continue
                await self.drive(b)
            elif allow_new and perp not in busy and self.may_open(perp, spot, now):
                ok, avg = self._paying(perp, now)
                price = self.history.last_close(perp)
                # not while the exit rule holds: the average lags a collapse in funding
                if ok and exit_reason(view, self.cfg.exit_rate) is None and math.isfinite(price):
                    if self.gate is None:
                        await self.open(perp, spot, equity, price, avg)
                    else:
                        self.propose(perp, spot, equity, price, avg, now)

    def size(self, perp: str, spot: str, equity: float, price: float) -> Decimal | None:
        """Base amount per leg that `capital_fraction` of equity carries; None below the
        markets' minimums."""
        pm, sm = self.markets[perp], self.markets[spot]
        notional = basis_notional(equity * self.cfg.capital_fraction, self.leverage,
                                  self.cfg.buffer_fraction)
        step = max(pm.amount_step, sm.amount_step)
        amount = (Decimal(repr(notional / price)) / step).to_integral_value(ROUND_DOWN) * step
        if amount < max(pm.min_amount, sm.min_amount) or (
                amount * Decimal(repr(price)) < max(pm.min_notional, sm.min_notional)):
            return None
        return amount

    def propose(self, perp: str, spot: str, equity: float, price: float, avg: float,
                now: int) -> None:
        """One proposal per perp at a time: a person approves the pair before it opens."""
        if any(p.symbol == perp and p.strategy == "basis"
               for p in proposals.listing(self.store, "pending")
               + proposals.listing(self.store, "approved")):
            return
        amount = self.size(perp, spot, equity, price)
        if amount is not None:
            self.gate.propose_basis(perp, amount, price, avg, self.leverage, now)

    async def open(self, perp: str, spot: str, equity: float, price: float,
                   avg: float, cap: Decimal | None = None) -> BasisTrade | None:
        amount = self.size(perp, spot, equity, price)
        if amount is None:
            return None
        if cap is not None:  # never more than a person approved
            amount = min(amount, cap)
        b = BasisTrade(perp=perp, spot=spot, state="new", amount=amount, entry_rate=avg,
                       created_at=self.clock.now())
        if self.leverage != self.directional:
            await self.gw.set_leverage(perp, self.leverage)  # the short at its own leverage
        self.store.stage(b)
        self._move(b, "opening", f"average funding {avg:.5f} per 8 h")
        self.active[b.id] = b
        log.info("open", extra=kv(basis=b.id, perp=perp, amount=amount, avg_funding=round(avg, 5)))
        await self.drive(b)
        return b

    async def close(self, b: BasisTrade, reason: str) -> None:
        if b.state in ("opening", "open"):
            b.close_reason = reason
            self._move(b, "closing")
            log.info("closing", extra=kv(basis=b.id, reason=reason))
        await self.drive(b)

    # ---- the state machine ------------------------------------------------------------
    async def drive(self, b: BasisTrade) -> None:
        """One pass per step until nothing is left to do now (bounded)."""
        for _ in range(2 * self.cfg.leg_retries + 4):
            if not await self._step(b):
                return

    async def _step(self, b: BasisTrade) -> bool:
        """Take the next action for `b`; False when it must wait (or is done)."""
        if await self._resolve_working(b):
            return False  # an order is still out: its answer comes first
        if b.state == "opening":
            failed = [leg for leg in ("spot", "perp") if self._refusals(b, leg)
                      >= self.cfg.leg_retries]
            if failed:
                last = self._last_refusal(b, failed[0])
                b.close_reason = (
                    f"{failed[0]} leg failed after {self.cfg.leg_retries} tries: {last}"
                )
                self._move(b, "closing")
                log.warning("unwind", extra=kv(basis=b.id, reason=b.close_reason))
                return True
            need = {"spot": b.amount - b.spot_filled, "perp": b.amount - b.perp_filled}
            todo = {leg: left for leg, left in need.items() if left > 0}
            if not todo:
                b.opened_at = self.clock.now()
                self._move(b, "open", f"spot {b.spot_filled} and perp {b.perp_filled} filled")
                log.info("opened", extra=kv(basis=b.id, spot=b.spot_filled, perp=b.perp_filled))
                return False
            if "spot" in todo:
                await self._fund_spot(b, todo["spot"])
            await asyncio.gather(*(self._submit(b, leg, left) for leg, left in todo.items()))
            return True
        if b.state == "open":
            return await self._rehedge(b)
        if b.state == "closing":
            sm = self.markets[b.spot]
            todo = {}
            spot_left = sm.amount_to_precision(b.spot_filled)
            if spot_left >= sm.min_amount and spot_left * self._px(b) >= sm.min_notional:
                todo["spotx"] = spot_left
            if b.perp_filled > 0:
                todo["perpx"] = b.perp_filled
            if not todo:
                b.closed_at = self.clock.now()
                self._move(b, "closed" if b.opened_at is not None else "failed")
                self.active.pop(b.id, None)
                self.legs.pop(b.id, None)
                if b.state == "failed":
                    self._back_off(b)
                if self.leverage != self.directional:
                    await self.gw.set_leverage(b.perp, self.directional)
                await self._sweep_spot(b)
                log.info(b.state, extra=kv(basis=b.id, pnl=b.pnl, funding=b.funding, fees=b.fees))
                return False
            stuck = [leg for leg in todo if self._refusals(b, leg) >= 2 * self.cfg.leg_retries]
            now = self.clock.now()
            if stuck and any(o.leg in stuck and o.updated_at >= now
                             and o.state == OrderLife.REJECTED
                             for o in self._orders(b).values()):
                log.error("unwind_stuck", extra=kv(basis=b.id, legs=stuck))
                return False  # tried hard: one more try each tick until a leg goes through
            await asyncio.gather(*(self._submit(b, leg, left) for leg, left in todo.items()))
            return True
        return False

    def _spot_taken(self, b: BasisTrade, held: Decimal) -> None:
        """Spot sold or moved outside the bot: the record follows the account (and the
        re-hedge then shrinks the short to match)."""
        if held >= b.spot_filled:
            return
        log.warning("spot_short_of_record", extra=kv(basis=b.id, held=held, record=b.spot_filled))
        b.spot_cost = b.spot_cost * held / b.spot_filled if b.spot_filled else ZERO
        b.spot_filled = held
        self.store.save(b)

    async def _rehedge(self, b: BasisTrade) -> bool:
        """The short follows what spot is held when they drift apart by more than `drift`."""
        gap = b.spot_filled - b.perp_filled
        if b.amount <= 0 or abs(gap) <= b.amount * Decimal(repr(self.cfg.drift)):
            return False
        pm = self.markets[b.perp]
        size = pm.amount_to_precision(abs(gap))
        if size < pm.min_amount:
            return False
        log.info("rehedge", extra=kv(basis=b.id, spot=b.spot_filled, perp=b.perp_filled))
        await self._submit(b, "perp" if gap > 0 else "perpx", size)
        return True

    # ---- orders -----------------------------------------------------------------------
    async def _submit(self, b: BasisTrade, leg: str, amount: Decimal) -> None:
        which, side, reduce_only = LEGS[leg]
        symbol = b.spot if which == "spot" else b.perp
        market = self.markets[symbol]
        seq = 1 + max((parse_basis_id(c)[2] for c, o in self._orders(b).items()
                       if o.leg == leg), default=-1)
        req = OrderRequest(basis_client_id(b.id, leg, seq), symbol, side, OrderType.MARKET,
                           market.amount_to_precision(amount), reduce_only=reduce_only)
        order = row(Order, client_id=req.client_id, basis_id=b.id, leg=leg, symbol=symbol,
                    side=side, type=OrderType.MARKET.value, amount=req.amount,
                    reduce_only=reduce_only, state=OrderLife.PENDING_CREATE.value)
        self.store.record_order(order, self.clock.now())
        self._orders(b)[order.client_id] = order
        await self._send(b, order, req)

    async def _send(self, b: BasisTrade, order: Order, req: OrderRequest) -> None:
        self.store.commit()  # write-ahead: the order and all before it, then the exchange
        try:
            st = await self.gw.create_order(req)
        except NetworkError as err:  # maybe placed: looked up by client id before any resend
            order.reason = f"submit outcome unknown: {err}"
            self.store.record_order(order, self.clock.now(), order.reason)
            return
        except (InvalidOrder, ExchangeError) as err:
            order.state, order.reason = OrderLife.REJECTED.value, str(err)
            self.store.record_order(order, self.clock.now(), str(err))
            log.warning("rejected", extra=kv(basis=b.id, order=req.client_id, reason=err))
            failpoint("basis.leg")
            if order.leg == "perpx" and "-2022" in str(err):
                await self._perp_gone(b)
            return
        failpoint("basis.leg")  # one leg placed, its answer not yet booked
        self.on_state(st)

    def on_liquidation(self, b: BasisTrade, fill) -> None:
        """The exchange closed the short (isolated margin gone): book it as a buy-back whose
        fee is the clearing fee; the spot leg is then sold by the next drive."""
        b.perp_realised += ((b.perp_entry or fill.price) - fill.price) * fill.amount
        b.perp_fees += fill.fee
        b.perp_filled = max(b.perp_filled - fill.amount, ZERO)
        if b.state in ("opening", "open"):
            b.close_reason = "perp leg liquidated"
            self.store.session.add(BasisEvent(basis_id=b.id, at=fill.timestamp,
                                              from_state=b.state, to_state="closing",
                                              detail=b.close_reason))
            b.state = "closing"
        log.error("liquidated", extra=kv(basis=b.id, amount=fill.amount, price=fill.price))

    async def _perp_gone(self, b: BasisTrade) -> None:
        """A buy-back refused for want of a position: if the exchange holds no short, the
        leg is gone (liquidated or closed by hand) and is not bought again and again."""
        if any(p.symbol == b.perp and p.contracts < 0 for p in await self.gw.fetch_positions()):
            return
        log.error(
            "perp_gone",
            extra=kv(basis=b.id, contracts=b.perp_filled, note="the exchange holds no short"),
        )
        b.close_reason = (b.close_reason + "; " if b.close_reason else "") + "perp leg gone"
        b.perp_filled = ZERO
        self.store.save(b)

    async def _resolve_working(self, b: BasisTrade) -> bool:
        """Look up orders still out; True while any is unresolved."""
        waiting = False
        for o in [o for o in self._orders(b).values() if o.state in WORKING]:
            try:
                st = await self.gw.fetch_order(o.symbol, o.client_id)
            except OrderNotFound:
                if o.state == OrderLife.PENDING_CREATE:  # never arrived: send it again,
                    req = OrderRequest(o.client_id, o.symbol, o.side, OrderType.MARKET,  # same id
                                       o.amount, reduce_only=o.reduce_only)
                    await self._send(b, o, req)
                    waiting |= o.state in WORKING
                continue
            except NetworkError:
                waiting = True
                continue
            self.on_state(st)
            waiting |= o.state in WORKING
        return waiting

    def on_state(self, st: OrderState) -> None:
        """Book what an order report adds: fills into the legs, fees, the order's state."""
        order = self._order(st.client_id)
        if order is None:
            return
        b = self.active.get(order.basis_id)
        new = FROM_STATUS[st.status]
        delta = st.filled - order.filled
        if b is None or delta < 0 or not order_move_allowed(order.state, new):
            return
        if delta > 0:
            price = (st.average * st.filled - (order.average or ZERO) * order.filled) / delta
            book_leg(b, order.leg, delta, price, st.fee - order.fee)
            order.filled, order.average, order.fee = st.filled, st.average, st.fee
        order.state, order.exchange_id = new.value, st.exchange_id or order.exchange_id
        order.reason = st.reason or order.reason
        self.store.record_order(order, self.clock.now(), st.reason, b)

    # ---- money between the accounts ---------------------------------------------------
    async def _fund_spot(self, b: BasisTrade, amount: Decimal) -> None:
        """Move to spot only what the spot buy is short of (so a re-run moves nothing)."""
        quote = self.markets[b.spot].quote
        need = amount * self._px(b) * (1 + self.taker_fee) * SPOT_SLACK
        have = (await self.gw.fetch_balance()).spot.get(quote, ZERO)
        if need > have:
            try:
                await self.gw.transfer(quote, (need - have).quantize(Decimal("0.01"), ROUND_UP),
                                       True)
            except (InvalidOrder, ExchangeError) as err:  # the spot buy will say why too
                log.warning("transfer_refused", extra=kv(basis=b.id, error=err))

    async def _sweep_spot(self, b: BasisTrade) -> None:
        """With no pair left open, the spot account's quote goes back to futures."""
        if self.active:
            return
        quote = self.markets[b.spot].quote
        have = (await self.gw.fetch_balance()).spot.get(quote, ZERO)
        cents = have.quantize(Decimal("0.01"), ROUND_DOWN)
        if cents > 0:
            await self.gw.transfer(quote, cents, False)

    # ---- helpers ----------------------------------------------------------------------
    def _px(self, b: BasisTrade) -> Decimal:
        """The last close; without market data (the kill switch), the spot leg's cost."""
        px = self.history.last_close(b.perp)
        if math.isfinite(px):
            return Decimal(repr(px))
        return b.spot_cost / b.spot_filled if b.spot_filled else b.perp_entry or ZERO

    def _refusals(self, b: BasisTrade, leg: str) -> int:
        return sum(1 for o in self._orders(b).values() if o.leg == leg
                   and o.state == OrderLife.REJECTED and o.filled == 0)

    def _last_refusal(self, b: BasisTrade, leg: str) -> str:
        refused = [o for o in self._orders(b).values() if o.leg == leg
                   and o.state == OrderLife.REJECTED]
        return refused[-1].reason if refused else ""

    def _margin_short(self, pos) -> bool:
        mark = float(pos.entry_price) + float(pos.unrealised) / float(pos.contracts)
        notional = abs(float(pos.contracts)) * mark
        tiers = self.markets[pos.symbol].mmr_tiers or self.mmr_tiers  # the exchange's first
        return margin_short(float(pos.margin), float(pos.unrealised),
                            notional * mmr_for(notional, tiers), self.cfg.margin_buffer)

    def _move(self, b: BasisTrade, state: str, detail: str = "") -> None:
        self.store.add_basis_event(b, state, self.clock.now(), detail or b.close_reason)
