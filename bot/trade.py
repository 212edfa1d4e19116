"""Trade and order states, their legal transitions, and deterministic client order ids."""

from __future__ import annotations

import re
from enum import StrEnum

from bot.types import OrderStatus

CLIENT_PREFIX = "dbot"
_CLIENT_RE = re.compile(rf"^{CLIENT_PREFIX}-(\d+)-(entry|stop|t1|t2|t3|exit)-(\d+)$")
_BASIS_RE = re.compile(rf"^{CLIENT_PREFIX}-b(\d+)-(spot|perp|spotx|perpx)-(\d+)$")


class TradeState(StrEnum):
    PENDING_ENTRY = "pending_entry"
    OPEN = "open"
    T1_FILLED = "t1_filled"
    T2_FILLED = "t2_filled"
    CLOSED = "closed"
    FAILED = "failed"


TRADE_MOVES = {
    # a part-filled resting entry is stopped out (or closed by hand) before it completes
    TradeState.PENDING_ENTRY: {TradeState.OPEN, TradeState.FAILED, TradeState.CLOSED},
    TradeState.OPEN: {TradeState.T1_FILLED, TradeState.CLOSED},
    TradeState.T1_FILLED: {TradeState.T2_FILLED, TradeState.CLOSED},
    TradeState.T2_FILLED: {TradeState.CLOSED},
    TradeState.CLOSED: set(),
    TradeState.FAILED: set(),
}


class OrderLife(StrEnum):
    PENDING_CREATE = "pending_create"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


ORDER_MOVES = {
    OrderLife.PENDING_CREATE: {OrderLife.OPEN, OrderLife.FILLED, OrderLife.REJECTED,
                               OrderLife.CANCELED, OrderLife.EXPIRED},
    OrderLife.OPEN: {OrderLife.FILLED, OrderLife.CANCELED, OrderLife.EXPIRED},
}

FROM_STATUS = {
    OrderStatus.OPEN: OrderLife.OPEN,
    OrderStatus.CLOSED: OrderLife.FILLED,
    OrderStatus.CANCELED: OrderLife.CANCELED,
    OrderStatus.EXPIRED: OrderLife.EXPIRED,
    OrderStatus.REJECTED: OrderLife.REJECTED,
}


class IllegalTransition(RuntimeError):
    pass


def check_trade_move(trade_id: int, old: str, new: TradeState) -> None:
    if new not in TRADE_MOVES[TradeState(old)]:
        raise IllegalTransition(f"trade {trade_id}: {old} -> {new.value} is not allowed")


def order_move_allowed(old: str, new: OrderLife) -> bool:
    """Same-state updates are no-ops; terminal states never change."""
    return old == new.value or new in ORDER_MOVES.get(OrderLife(old), set())


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
