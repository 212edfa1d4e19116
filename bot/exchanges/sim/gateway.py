"""The simulated exchange behind the Gateway interface, and the sink that feeds it the
venue's candles and funding tick by tick (replay and paper on the simulator)."""

from __future__ import annotations

from decimal import Decimal

from bot.exchanges.sim.exchange import SimExchange
from bot.marketdata.layout import CANDLE, FUNDING, SPOT, Event
from bot.markets import Market
from bot.types import Balance, GatewayEvent, OrderRequest, OrderState, Position


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


class SimMarketSink:
    """Feeds the venue's prices and funding into the simulated exchange."""

    def __init__(self, sim: SimExchange, venue: str) -> None:
        self.sim, self.venue = sim, venue

    def __call__(self, batch: list[Event]) -> None:
        for e in batch:
            if e.exchange != self.venue:
                continue
            if e.kind == CANDLE or e.kind == SPOT:
                self.sim.on_candle(e.symbol, e.seen, e.open, e.high, e.low, e.close,
                                   e.volume)
            elif e.kind == FUNDING:
                self.sim.on_funding(e.symbol, e.ts, e.rate)
