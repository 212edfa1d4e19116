"""Trade and order states and their legal transitions."""

from __future__ import annotations

from enum import StrEnum

from bot.types import OrderStatus


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
