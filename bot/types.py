"""What crosses the gateway: order requests and states, fills, funding payments, positions,
and the client order ids that name the bot's orders."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_MARKET = "take_profit_market"
    STOP_LIMIT = "stop_limit"  # Binance's STOP: a limit at `price` once `stop_price` trades
    TAKE_PROFIT_LIMIT = "take_profit_limit"  # Binance's TAKE_PROFIT
    TRAILING_STOP_MARKET = "trailing_stop_market"  # trails the best price by callback_rate %


# orders that wait for a trigger price (Binance's algo orders)
CONDITIONAL = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET,
                         OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT,
                         OrderType.TRAILING_STOP_MARKET})
# orders with a limit price (the conditional ones once triggered)
LIMIT_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
# Binance's names of the conditional kinds (its orderType / origType), for the client that
# reads them and the local exchange that answers with them
VENUE_NAMES = {"STOP_MARKET": OrderType.STOP_MARKET, "STOP": OrderType.STOP_LIMIT,
               "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
               "TAKE_PROFIT": OrderType.TAKE_PROFIT_LIMIT,
               "TRAILING_STOP_MARKET": OrderType.TRAILING_STOP_MARKET}


def fires_on_rise(kind: OrderType, side: str) -> bool:
    """Whether a conditional order fires when the price rises to its trigger: a buy stop
    and a sell take-profit do; a sell stop and a buy take-profit fire on a fall."""
    return (kind in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)) == (side == "buy")


def conditional_kind(side: str, rises: bool, limit: bool) -> OrderType:
    """fires_on_rise turned around: the kind of a `side` order that fires on a rise (or a
    fall), a limit once triggered or a market order — for a venue that names only the
    direction (Bybit's triggerDirection)."""
    stop = rises == (side == "buy")
    if limit:
        return OrderType.STOP_LIMIT if stop else OrderType.TAKE_PROFIT_LIMIT
    return OrderType.STOP_MARKET if stop else OrderType.TAKE_PROFIT_MARKET


class OrderStatus(StrEnum):
    """Exchange-side order status, as ccxt names them."""

    OPEN = "open"
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def done(self) -> bool:
        return self is not OrderStatus.OPEN


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A command: submit this order. Amount and prices are already at market precision."""

    client_id: str
    symbol: str
    side: str  # buy | sell
    type: OrderType
    amount: Decimal
    price: Decimal | None = None  # limit price
    stop_price: Decimal | None = None  # trigger; a trailing stop's activation price (or none)
    reduce_only: bool = False
    time_in_force: str = "GTC"  # a limit's: GTC, IOC, FOK, or GTX (post-only)
    close_position: bool = False  # a conditional market order closing all held (no amount)
    callback_rate: Decimal | None = None  # a trailing stop's distance from the best, in %


@dataclass(frozen=True, slots=True)
class OrderState:
    """An event: the exchange's view of one order."""

    client_id: str
    exchange_id: str
    symbol: str
    side: str
    type: OrderType
    amount: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    status: OrderStatus
    filled: Decimal = Decimal(0)
    average: Decimal | None = None
    fee: Decimal = Decimal(0)
    timestamp: int = 0
    reason: str = ""
    time_in_force: str = "GTC"
    close_position: bool = False
    callback_rate: Decimal | None = None

    def evolve(self, **changes) -> OrderState:
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Fill:
    client_id: str
    exchange_id: str
    symbol: str
    side: str
    amount: Decimal
    price: Decimal
    fee: Decimal
    timestamp: int
    liquidation: bool = False
    fill_id: str = ""  # the exchange's own id of this fill (its trade id), when it has one


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Cash, not a rate: positive is received, negative is paid."""

    symbol: str
    timestamp: int
    rate: float
    notional: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    contracts: Decimal  # signed: + long, − short
    entry_price: Decimal
    margin: Decimal
    leverage: float
    liquidation_price: Decimal | None
    unrealised: Decimal = Decimal(0)
    margin_mode: str = "isolated"  # or "cross"


@dataclass(frozen=True, slots=True)
class Balance:
    wallet: Decimal  # futures wallet, realised
    equity: Decimal  # wallet + unrealised
    available: Decimal  # wallet − used margin
    spot: dict[str, Decimal] = field(default_factory=dict)


GatewayEvent = OrderState | Fill | FundingPayment


# Deterministic client order ids: a retry or a restart can never double an order.
CLIENT_PREFIX = "dbot"
_CLIENT_RE = re.compile(rf"^{CLIENT_PREFIX}-(\d+)-(entry|stop|t1|t2|t3|exit)-(\d+)$")
_BASIS_RE = re.compile(rf"^{CLIENT_PREFIX}-b(\d+)-(spot|perp|spotx|perpx)-(\d+)$")


def client_id(trade_id: int, leg: str, seq: int) -> str:
    return f"{CLIENT_PREFIX}-{trade_id:06d}-{leg}-{seq}"


def parse_client_id(cid: str) -> tuple[int, str, int] | None:
    m = _CLIENT_RE.match(cid)
    return (int(m.group(1)), m.group(2), int(m.group(3))) if m else None


def basis_client_id(basis_id: int, leg: str, seq: int) -> str:
    return f"{CLIENT_PREFIX}-b{basis_id:06d}-{leg}-{seq}"


def parse_basis_id(cid: str) -> tuple[int, str, int] | None:
    m = _BASIS_RE.match(cid)
    return (int(m.group(1)), m.group(2), int(m.group(3))) if m else None


def parse_any_client_id(cid: str) -> tuple[str, int, str, int] | None:
    """("trade" | "basis", id, leg, seq) for any client id the bot makes."""
    if (t := parse_client_id(cid)) is not None:
        return ("trade", *t)
    if (b := parse_basis_id(cid)) is not None:
        return ("basis", *b)
    return None
