"""The one small interface every exchange sits behind, and its in-process implementation."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from bot.exchanges.sim.exchange import SimExchange
from bot.markets import Market
from bot.types import Balance, GatewayEvent, OrderRequest, OrderState, Position


class Gateway(Protocol):
    """Place, cancel and look up orders; read positions, balances, fills and funding."""

    name: str

    async def load_markets(self) -> dict[str, Market]: ...
    async def set_leverage(self, symbol: str, leverage: float) -> None: ...
    async def create_order(self, req: OrderRequest) -> OrderState: ...
    async def cancel_order(self, symbol: str, client_id: str) -> OrderState: ...
    async def fetch_order(self, symbol: str, client_id: str) -> OrderState: ...
    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderState]: ...
    async def fetch_positions(self) -> list[Position]: ...
    async def fetch_balance(self) -> Balance: ...
    async def poll_events(self) -> list[GatewayEvent]: ...
    async def close(self) -> None: ...


class SimGateway:
    """The SimExchange behind the Gateway interface (replay and paper on the simulator)."""

    name = "sim"

    def __init__(self, exchange: SimExchange) -> None:
        self.exchange = exchange

    async def load_markets(self) -> dict[str, Market]:
        return dict(self.exchange.markets)

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        self.exchange.set_leverage(symbol, leverage)

    async def create_order(self, req: OrderRequest) -> OrderState:
        return self.exchange.create_order(req)

    async def cancel_order(self, symbol: str, client_id: str) -> OrderState:
        return self.exchange.cancel_order(client_id)

    async def fetch_order(self, symbol: str, client_id: str) -> OrderState:
        return self.exchange.fetch_order(client_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderState]:
        return self.exchange.open_orders(symbol)

    async def fetch_positions(self) -> list[Position]:
        return self.exchange.fetch_positions()

    async def fetch_balance(self) -> Balance:
        return self.exchange.balance()

    async def poll_events(self) -> list[GatewayEvent]:
        return self.exchange.drain()

    async def transfer(self, asset: str, amount: Decimal, to_spot: bool) -> None:
        self.exchange.transfer(asset, amount, to_spot)

    async def close(self) -> None:
        return None
