"""The gateway for a venue: Bybit's own where its API differs, the common one elsewhere."""

from __future__ import annotations

from bot.exchanges.ccxt.bybit import BybitGateway
from bot.exchanges.ccxt.gateway import CcxtGateway


def gateway_for(exchange_id: str, *args, **kw) -> CcxtGateway:
    cls = BybitGateway if exchange_id == "bybit" else CcxtGateway
    return cls(exchange_id, *args, **kw)
