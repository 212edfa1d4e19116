"""An in-process exchange: perp and spot orders, fees, funding, isolated margin, liquidation.

It rejects what a real exchange rejects (with Binance's codes in the message) and
raises ccxt's own exception classes, so code above the gateway sees one error tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from ccxt.base.errors import (
    BadSymbol,
    DuplicateOrderId,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFillable,
    OrderNotFound,
)

from bot.exchanges.sim.checks import validate
from bot.exchanges.sim.conditional import (
    LIMIT_AFTER,
    TRAILING,
    fires_below,
    follow,
    marketable,
    reduces,
    trail_trigger,
)
from bot.exchanges.sim.matching import candle_path, segments, touch
from bot.markets import Market
from bot.types import (
    CONDITIONAL,
    Balance,
    Fill,
    FundingPayment,
    GatewayEvent,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
)
from risk.sizing import mmr_for

ZERO = Decimal(0)
CENT_MILLIONTH = Decimal("0.00000001")  # USDT's smallest booked amount


def booked(x: Decimal) -> Decimal:
    """A fee or funding amount as the venues book it: to the eighth decimal. The rounding is
    named, not the thread's: ccxt sets the decimal context to ROUND_HALF_UP as it formats
    numbers, and a simulated exchange in the same process must book what one alone would."""
    return x.quantize(CENT_MILLIONTH, rounding=ROUND_HALF_EVEN)


@dataclass(slots=True)
class _Pos:
    contracts: Decimal = ZERO
    entry: Decimal = ZERO
    margin: Decimal = ZERO
    leverage: float = 5.0


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


class SimExchange:
    def __init__(self, markets: dict[str, Market], start_balance: Decimal | float,
                 maker_fee: float = 0.0002, taker_fee: float = 0.0005,
                 slippage_bps: float = 0.0,
                 mmr_tiers: tuple[tuple[float, float], ...] = ((float("inf"), 0.004),),
                 default_leverage: float = 5.0, volume_share: float = 0.0):
        self.markets = markets
        # a resting limit takes at most this share of a candle's volume (0: all it needs)
        self.volume_share = Decimal(repr(volume_share))
        self._room: dict[str, Decimal] = {}  # this candle's volume left per resting limit
        self._volume: Decimal | None = None  # this candle's, when the share applies
        self.wallet = Decimal(str(start_balance))
        self.spot: dict[str, Decimal] = {}
        self.transferred = ZERO  # net quote moved from the futures wallet to spot
        self.maker_fee, self.taker_fee = Decimal(str(maker_fee)), Decimal(str(taker_fee))
        self.slippage = Decimal(str(slippage_bps)) / Decimal(10_000)
        self.mmr_tiers = mmr_tiers
        self.default_leverage = default_leverage
        self.leverage: dict[str, float] = {}
        self.triggered: set[str] = set()  # limit-after-trigger orders now resting as limits
        self.trail: dict[str, Decimal] = {}  # trailing stop -> the best price since active
        self.positions: dict[str, _Pos] = {}
        self.orders: dict[str, OrderState] = {}
        self.open: dict[str, OrderState] = {}
        self.last: dict[str, float] = {}
        self.now = 0
        self.seq = 0
        self.events: list[GatewayEvent] = []
        self.fees_paid = ZERO  # every fill's fee (a liquidation's clearing fee too)
        self.funding_paid = ZERO  # every funding payment, signed as the wallet takes it

    # ---- market data in -------------------------------------------------------------
    def on_candle(self, symbol: str, close_time: int, o: float, h: float, lo: float,
                  c: float, volume: float | None = None) -> None:
        self.now = max(self.now, close_time)
        if symbol in self.markets and (symbol in self.positions or self._has_open(symbol)):
            self._room = {}
            self._volume = None if volume is None or not self.volume_share else _dec(volume)
            self._walk(symbol, o, h, lo, c)
        self.last[symbol] = c

    def on_funding(self, symbol: str, timestamp: int, rate: float) -> None:
        self.now = max(self.now, timestamp)
        pos = self.positions.get(symbol)
        if pos is None or pos.contracts == 0 or symbol not in self.last:
            return
        notional = abs(pos.contracts) * _dec(self.last[symbol])
        sign = 1 if pos.contracts > 0 else -1
        # longs pay a positive rate; booked in the venues' eighth decimal of USDT
        amount = booked(-sign * notional * Decimal(repr(rate)))
        self.wallet += amount
        self.funding_paid += amount
        self.events.append(FundingPayment(symbol, timestamp, rate, notional, amount))

    # ---- trading ----------------------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: float) -> None:
        market = self._market(symbol)
        if not 0 < leverage <= market.max_leverage:
            raise InvalidOrder(f"-4028 Leverage {leverage} is not valid for {symbol}")
        self.leverage[symbol] = leverage

    def create_order(self, req: OrderRequest) -> OrderState:
        market = self._market(req.symbol)
        if req.client_id in self.orders:
            raise DuplicateOrderId(f"-4116 ClientOrderId is duplicated: {req.client_id}")
        validate(self, req, market)
        last = _dec(self.last[req.symbol])
        crosses = req.type is OrderType.LIMIT and marketable(req, last)
        tif = req.time_in_force if req.type is OrderType.LIMIT else "GTC"
        if tif == "GTX" and crosses:  # post-only: it would take, so it is refused
            raise OrderNotFillable("-5022 Due to the order could not be executed as maker, "
                                   "the Post Only order will be rejected.")
        if tif == "FOK" and not crosses:
            raise OrderNotFillable("-5021 Due to the order could not be filled immediately, "
                                   "the FOK order has been rejected.")
        self.seq += 1
        state = OrderState(req.client_id, str(self.seq), req.symbol, req.side, req.type,
                           req.amount, req.price, req.stop_price, req.reduce_only,
                           OrderStatus.OPEN, timestamp=self.now, time_in_force=tif,
                           close_position=req.close_position, callback_rate=req.callback_rate)
        self.orders[req.client_id] = state
        if req.type is OrderType.MARKET:
            self._fill(state, last, taker=True)
        elif crosses:
            self._fill(state, min(last, req.price) if req.side == "buy" else max(last, req.price),
                       taker=True)
        elif tif == "IOC":  # nothing to take now: it expires instead of resting
            self._finish(state, OrderStatus.EXPIRED, "IOC: nothing to fill at its price")
        else:
            self.open[req.client_id] = state
            self.events.append(state)
            if req.type is TRAILING:
                self._follow(state, last)
        return self.orders[req.client_id]

    def cancel_order(self, client_id: str) -> OrderState:
        state = self.open.pop(client_id, None)
        if state is None:
            known = self.orders.get(client_id)
            why = "is already " + known.status.value if known else "does not exist"
            raise OrderNotFound(f"-2011 Unknown order sent: {client_id} {why}")
        return self._finish(state, OrderStatus.CANCELED)

    def fetch_order(self, client_id: str) -> OrderState:
        try:
            return self.orders[client_id]
        except KeyError:
            raise OrderNotFound(f"-2013 Order does not exist: {client_id}") from None

    def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        return [o for o in self.open.values() if symbol is None or o.symbol == symbol]

    def fetch_positions(self) -> list[Position]:
        out = []
        for sym, p in self.positions.items():
            mark = _dec(self.last.get(sym, float(p.entry)))
            out.append(Position(sym, p.contracts, p.entry, p.margin, p.leverage,
                                self._liq_price(p), (mark - p.entry) * p.contracts))
        return out

    def balance(self) -> Balance:
        unrealised = sum(((_dec(self.last.get(sym, float(p.entry))) - p.entry) * p.contracts
                          for sym, p in self.positions.items()), ZERO)  # fetch_positions' own
        used = sum((p.margin for p in self.positions.values()), ZERO)
        return Balance(self.wallet, self.wallet + unrealised,
                       self.wallet - used - self._order_margin(), dict(self.spot))

    def transfer(self, asset: str, amount: Decimal, to_spot: bool) -> None:
        """Move quote between the futures wallet and the spot account."""
        if amount <= 0:
            raise InvalidOrder(f"transfer amount must be positive, got {amount}")
        if to_spot:
            if amount > self.balance().available:
                raise InsufficientFunds(f"-5013 futures balance {self.balance().available} "
                                        f"is below transfer {amount}")
            self.wallet -= amount
            self.transferred += amount
            self.spot[asset] = self.spot.get(asset, ZERO) + amount
        else:
            if amount > self.spot.get(asset, ZERO):
                raise InsufficientFunds(f"-5013 spot {asset} is below transfer {amount}")
            self.spot[asset] -= amount
            self.wallet += amount
            self.transferred -= amount

    def fill_partially(self, client_id: str, amount: Decimal, price: Decimal) -> OrderState:
        """Part of a resting order trades (thin liquidity): the order stays open."""
        state = self.open[client_id]
        if self.markets[state.symbol].spot:
            raise InvalidOrder(f"partial fills are for perp orders, not {state.symbol}")
        if not 0 < amount < state.amount - state.filled:
            raise InvalidOrder(f"partial fill {amount} must be below what is left of "
                               f"{client_id} ({state.amount - state.filled})")
        fee = booked(amount * price * self.maker_fee)
        self.wallet += self._apply(state.symbol, state.side, amount, price) - fee
        filled = state.filled + amount
        avg = ((state.average or ZERO) * state.filled + price * amount) / filled
        self.fees_paid += fee
        self.events.append(Fill(client_id, state.exchange_id, state.symbol, state.side, amount,
                                price, fee, self.now))
        state = state.evolve(filled=filled, average=avg, fee=state.fee + fee,
                             timestamp=self.now)
        self.open[client_id] = self.orders[client_id] = state
        self.events.append(state)
        return state

    def drain(self) -> list[GatewayEvent]:
        out, self.events = self.events, []
        return out

    # ---- internals ----------------------------------------------------------------------
    def _market(self, symbol: str) -> Market:
        try:
            return self.markets[symbol]
        except KeyError:
            raise BadSymbol(f"-1121 Invalid symbol {symbol}") from None

    def _has_open(self, symbol: str) -> bool:
        return any(o.symbol == symbol for o in self.open.values())

    def leverage_of(self, symbol: str) -> float:
        return self.leverage.get(symbol, self.default_leverage)

    def _order_margin(self) -> Decimal:
        total = ZERO
        for o in self.open.values():
            if not o.reduce_only and not self.markets[o.symbol].spot:
                px = o.price or o.stop_price or ZERO
                total += (o.amount - o.filled) * px / Decimal(repr(self.leverage_of(o.symbol)))
        return total

    def _liq_price(self, p: _Pos) -> Decimal | None:
        if p.contracts == 0:
            return None
        inv = Decimal(1) / Decimal(repr(p.leverage))
        mmr = Decimal(repr(mmr_for(float(abs(p.contracts) * p.entry), self.mmr_tiers)))
        if p.contracts > 0:
            return p.entry * (1 - inv + mmr)
        return p.entry * (1 + inv - mmr)

    def _walk(self, symbol: str, o: float, h: float, lo: float, c: float) -> None:
        pos = self.positions.get(symbol)
        sign = 0 if pos is None or pos.contracts == 0 else (1 if pos.contracts > 0 else -1)
        for a, b, at_open in segments(candle_path(o, h, lo, c, sign)):
            self._trail(symbol, _dec(a))  # a leg's start is its best for the trail
            while (hit := self._first_touch(symbol, a, b, at_open)) is not None:
                _, _, price, state = hit
                if state is None:
                    self._liquidate(symbol, price)
                elif state.type in LIMIT_AFTER and state.client_id not in self.triggered:
                    self.triggered.add(state.client_id)  # a limit from here: taken if it can
                    if marketable(state, _dec(price)):
                        self._fill(state, _dec(price), taker=True)
                elif state.type in CONDITIONAL and state.type not in LIMIT_AFTER:
                    self._fill(state, _dec(price), taker=True)
                else:
                    self._fill_resting(state, _dec(price))
                a = price  # the walk goes on from where it filled
                at_open = False
            self._trail(symbol, _dec(b))

    def _first_touch(self, symbol: str, a: float, b: float, at_open: bool):
        best = None
        pos = self.positions.get(symbol)
        if pos is not None and pos.contracts != 0:
            liq = float(self._liq_price(pos))
            px = touch(liq, pos.contracts > 0, a, b, at_open)
            if px is not None:
                best = (abs(px - a), 0, px, None)
        for state in self.open.values():
            if state.symbol != symbol or self._room.get(state.client_id) == 0:
                continue  # (a limit that took this candle's share of the volume waits)
            if state.type is TRAILING:
                top = self.trail.get(state.client_id)
                tick = self.markets[symbol].price_tick
                px = None if top is None else touch(float(trail_trigger(state, top, tick)),
                                                    fires_below(state), a, b, at_open)
                rank = 1
            elif state.type in CONDITIONAL and state.client_id not in self.triggered:
                px = touch(float(state.stop_price), fires_below(state), a, b, at_open)
                rank = 1
            else:
                px = touch(float(state.price), state.side == "buy", a, b, at_open)
                rank = 2
            if px is not None and (best is None or (abs(px - a), rank) < best[:2]):
                best = (abs(px - a), rank, px, state)
        return best

    def _trail(self, symbol: str, price: Decimal) -> None:
        for state in [o for o in self.open.values() if o.type is TRAILING
                      and o.symbol == symbol]:
            self._follow(state, price)

    def _follow(self, state: OrderState, price: Decimal) -> None:
        best = follow(state, self.trail.get(state.client_id), price)
        if best is not None:
            self.trail[state.client_id] = best

    def _fill_resting(self, state: OrderState, price: Decimal) -> None:
        """A resting limit the price reached fills as a maker: whole, or, with a volume
        share set and the candle's volume known, as much as that share of it allows."""
        left = state.amount - state.filled
        if self._volume is None or state.close_position:
            return self._fill(state, price, taker=False)
        step = self.markets[state.symbol].amount_step
        room = self._room.get(state.client_id)
        if room is None:
            room = (self._volume * self.volume_share / step).to_integral_value(ROUND_FLOOR) * step
        if room >= left:
            return self._fill(state, price, taker=False)
        self._room[state.client_id] = ZERO
        if room > 0:
            self.fill_partially(state.client_id, room, price)
        return None

    def _finish(self, state: OrderState, status: OrderStatus, reason: str = "") -> OrderState:
        self.open.pop(state.client_id, None)
        self.triggered.discard(state.client_id)
        self.trail.pop(state.client_id, None)
        done = state.evolve(status=status, timestamp=self.now, reason=reason)
        self.orders[state.client_id] = done
        self.events.append(done)
        return done

    def _fill(self, state: OrderState, price: Decimal, taker: bool) -> None:
        m = self.markets[state.symbol]
        amount = state.amount - state.filled
        pos = self.positions.get(state.symbol)
        if state.close_position:  # for whatever is held as it fires
            amount = abs(pos.contracts) if pos is not None else ZERO
            state = state.evolve(amount=amount, reduce_only=True)
        if state.reduce_only and not m.spot:
            if not reduces(pos, state.side):
                self._finish(state, OrderStatus.EXPIRED, "reduce-only: no position to reduce")
                return
            amount = min(amount, abs(pos.contracts))
        if taker:
            price = self._slip(price, state.side, m)
        fee = booked(amount * price * (self.taker_fee if taker else self.maker_fee))
        if m.spot:
            self._settle_spot(m, state.side, amount, price, fee)
        else:
            self.wallet += self._apply(state.symbol, state.side, amount, price) - fee
        filled = state.filled + amount
        avg = ((state.average or ZERO) * state.filled + price * amount) / filled
        status = OrderStatus.CLOSED if filled == state.amount else OrderStatus.EXPIRED
        self.fees_paid += fee
        self.events.append(Fill(state.client_id, state.exchange_id, state.symbol, state.side,
                                amount, price, fee, self.now))
        state = state.evolve(filled=filled, average=avg, fee=state.fee + fee)
        reason = "" if status is OrderStatus.CLOSED else "reduce-only remainder expired"
        self._finish(state, status, reason)
        if not m.spot:
            self._expire_stale_reduce_only(state.symbol)

    def _slip(self, price: Decimal, side: str, m: Market) -> Decimal:
        if not self.slippage:
            return price
        if side == "buy":
            raw = price * (1 + self.slippage)
            return (raw / m.price_tick).to_integral_value(ROUND_CEILING) * m.price_tick
        raw = price * (1 - self.slippage)
        return (raw / m.price_tick).to_integral_value(ROUND_FLOOR) * m.price_tick

    def _settle_spot(self, m: Market, side: str, amount: Decimal, price: Decimal,
                     fee: Decimal) -> None:
        sign = 1 if side == "buy" else -1
        self.spot[m.base] = self.spot.get(m.base, ZERO) + sign * amount
        self.spot[m.quote] = self.spot.get(m.quote, ZERO) - sign * amount * price - fee

    def _apply(self, symbol: str, side: str, amount: Decimal, price: Decimal) -> Decimal:
        """Book a perp fill into the position; return the realised price PnL."""
        pos = self.positions.setdefault(symbol, _Pos(leverage=self.leverage_of(symbol)))
        sign = 1 if side == "buy" else -1
        lev = Decimal(repr(pos.leverage))
        if pos.contracts == 0 or (pos.contracts > 0) == (sign > 0):
            size = abs(pos.contracts)
            pos.entry = (pos.entry * size + price * amount) / (size + amount)
            pos.contracts += sign * amount
            pos.margin += amount * price / lev
            return ZERO
        size = abs(pos.contracts)
        closing = min(amount, size)
        realised = (price - pos.entry) * closing * (1 if pos.contracts > 0 else -1)
        pos.margin -= pos.margin * closing / size
        pos.contracts += sign * closing
        if pos.contracts == 0:
            del self.positions[symbol]
        if amount > closing:  # flip: the rest opens the other side
            realised += self._apply(symbol, side, amount - closing, price)
        return realised

    def _liquidate(self, symbol: str, price: float) -> None:
        pos = self.positions.pop(symbol)
        px = _dec(price)
        sign = 1 if pos.contracts > 0 else -1
        price_pnl = (px - pos.entry) * abs(pos.contracts) * sign
        clearing_fee = pos.margin + price_pnl  # isolated: the whole margin is lost
        self.wallet -= pos.margin
        side = "sell" if sign > 0 else "buy"
        self.fees_paid += clearing_fee
        self.events.append(Fill("", f"liq-{self.now}", symbol, side, abs(pos.contracts), px,
                                clearing_fee, self.now, liquidation=True,
                                fill_id=f"liq-{symbol}-{self.now}"))
        self._expire_stale_reduce_only(symbol)

    def _expire_stale_reduce_only(self, symbol: str) -> None:
        """As Binance: reduce-only orders go when the position they reduce closed or turned
        (an order that would now add to it)."""
        pos = self.positions.get(symbol)
        for state in [o for o in self.open.values() if o.symbol == symbol and o.reduce_only
                      and not reduces(pos, o.side)]:
            self._finish(state, OrderStatus.EXPIRED, "reduce-only: position closed")
