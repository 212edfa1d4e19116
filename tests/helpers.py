"""Builders shared by the tests: markets, a simulated exchange, hand-made series."""

from __future__ import annotations

import asyncio
import os
import socket
from decimal import Decimal

import numpy as np
import pytest

from bot.clock import ReplayClock
from bot.exchanges.sim.exchange import SimExchange
from bot.exchanges.sim.gateway import SimGateway
from bot.execution.orders import OrderManager
from bot.markets import default_market
from risk.manager import Approved
from state.store import Store
from strategies.indicators import atr_adx
from strategies.types import Candles, Direction, MarketView, Series, Target, TradePlan

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
HOUR = 3_600_000
T0 = 1_735_689_600_000


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(coro):
    return asyncio.run(coro)


def replay_runner(folder, db, extra: dict | None = None, gateway=SimGateway):
    """The runner `derivbot replay` builds over `folder`'s market on the simulator (config
    `extra` merged in, the simulator behind `gateway`): (runner, the simulated exchange,
    the store, the market's ticks)."""
    # imported here: bot.app.modes brings ccxt (~1.7 s) to tests that only want a SimExchange
    from bot.app.modes import build_markets, build_sim
    from bot.config import parse_config
    from bot.exchanges.sim.gateway import SimMarketSink
    from bot.marketdata import layout as marketdata
    from bot.runner import Runner, batches

    cfg = parse_config({"data": {"dir": str(folder)}} | (extra or {}))
    data = marketdata.load(folder, symbols=cfg.data.symbols)
    engine = build_sim(cfg, build_markets(data, cfg.data.symbols))
    store = Store(db)
    traded = {s: m for s, m in engine.markets.items() if not m.spot or cfg.basis.enabled}
    runner = Runner(cfg, gateway(engine), store, traded, ReplayClock(),
                    sinks=(SimMarketSink(engine, cfg.exchange.venue),))
    return runner, engine, store, iter(batches(data.events()))


def sim(price: float = 50_000.0, symbol: str = BTC, balance: float = 100_000.0,
        maker: float = 0.0002, taker: float = 0.0005, slippage: float = 0.0) -> SimExchange:
    markets = {symbol: default_market(symbol, price),
               "BTC/USDT": default_market("BTC/USDT", price)}
    ex = SimExchange(markets, balance, maker, taker, slippage)
    ex.on_candle(symbol, T0, price, price, price, price)
    return ex


class Desk:
    """An order manager on a simulated exchange with an in-memory database."""

    def __init__(self, ex: SimExchange, db: str = ":memory:") -> None:
        self.ex = ex
        self.clock = ReplayClock(T0)
        self.store = Store(db)
        self.om = OrderManager(SimGateway(ex), self.store, ex.markets, self.clock)
        self.t = T0

    def candle(self, symbol: str, o: float, h: float, lo: float, c: float) -> None:
        self.t += HOUR
        self.clock.t = self.t
        self.ex.on_candle(symbol, self.t, o, h, lo, c)
        run(self.om.sync())

    @staticmethod
    def approved(plan: TradePlan, size: str) -> Approved:
        return Approved(plan, Decimal(size), 0.015, float(Decimal(size)) * plan.stop_distance,
                        0.0, 5.0, 0.0)

    def open(self, plan: TradePlan, size: str):
        return run(self.om.open_trade(self.approved(plan, size)))

    def legs(self, trade_id: int) -> list[tuple[str, str]]:
        return [(o.client_id.split("-", 2)[2], o.state) for o in self.store.orders(trade_id)]


def plan(direction: int, entry: float, stop: float, targets: tuple[float, ...],
         symbol: str = BTC, regime: str = "ranging") -> TradePlan:
    fr = (0.4, 0.3, 0.3)
    return TradePlan("funding_fade", symbol, Direction(direction), entry, stop,
                     tuple(Target(p, f) for p, f in zip(targets, fr)), regime, 500.0, T0)


def candles(close: list[float] | np.ndarray, spread: float = 0.002,
            high: list[float] | None = None, low: list[float] | None = None) -> Candles:
    close = np.asarray(close, dtype=float)
    open_ = np.concatenate([[close[0]], close[:-1]])
    hi = np.asarray(high, dtype=float) if high is not None else np.maximum(open_, close) * (
        1 + spread)
    lo = np.asarray(low, dtype=float) if low is not None else np.minimum(open_, close) * (
        1 - spread)
    atr, adx = atr_adx(hi, lo, close)
    ts = T0 + np.arange(len(close), dtype=np.int64) * HOUR
    return Candles(ts, open_, hi, lo, close, np.ones(len(close)), atr, adx)


def funding_series(rates: list[float], end: int) -> Series:
    ts = end - (len(rates) - 1 - np.arange(len(rates), dtype=np.int64)) * 8 * HOUR
    return Series(ts, np.asarray(rates, dtype=float))


def view(funding: dict[str, list[float]] | None = None, c: Candles | None = None,
         oi: dict[str, Series] | None = None, venue: str = "binanceusdm") -> MarketView:
    c = c if c is not None else candles(np.linspace(100, 101, 60))
    now = int(c.ts[-1]) + HOUR
    fs = {ex: funding_series(r, now) for ex, r in (funding or {}).items()}
    return MarketView(BTC, venue, now, c, fs, oi or {})


def needs(present: bool, what: str):
    """Skip a test whose real component (a browser, Prometheus ...) is missing — except in
    CI (CI=true), where the component must be there: the test runs and fails instead of
    letting CI stay green without it."""
    return pytest.mark.skipif(not present and os.environ.get("CI") != "true",
                              reason=f"{what} not installed (.ci/run installs it)")
