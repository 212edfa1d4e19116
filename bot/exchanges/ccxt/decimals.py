"""Exact numbers from what ccxt hands back (its unified fields are floats; the venues'
raw fields are strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


def dec(x: Any) -> Decimal | None:
    """A number ccxt returned, exactly as written (None when absent or empty)."""
    return None if x is None or x == "" else Decimal(str(x))
