"""Wiring for real ccxt gateways: the local exchange server, a paper session driven through
it, and paper/live sessions on a real exchange (testnet/demo unless live)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from bot.app.desk import actions, start_desk
from bot.app.modes import (
    _on_signals,
    build_markets,
    build_sim,
    keep_copy,
    load_data,
    start_operator,
)
from bot.clock import PacedClock, VenueClock, WallClock
from bot.config import Config
from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.exchanges.ccxt.gateways import gateway_for
from bot.exchanges.ccxt.plane import MarketPlane
from bot.exchanges.localex import exchange_class, start, venue_urls
from bot.exchanges.localex.client import RemoteSimSink
from bot.exchanges.localex.guard import Limits
from bot.logs import use_market_clock
from bot.marketdata.recorder import Recorder
from bot.operator.metrics import Metrics
from bot.runner import Runner
from state.store import Store

log = logging.getLogger("derivbot.app")
LOCAL_KEY_ENV, LOCAL_SECRET_ENV = "DERIVBOT_LOCAL_KEY", "DERIVBOT_LOCAL_SECRET"


def local_credentials() -> tuple[str, str]:
    return (os.environ.get(LOCAL_KEY_ENV, "local-key"),
            os.environ.get(LOCAL_SECRET_ENV, "local-secret"))


async def serve_exchange(cfg: Config, data_dir: Path, port: int,
                         ready: asyncio.Event | None = None, unlimited: bool = False) -> None:
    """`derivbot exchange serve`: the trading venue's dialect (Binance USD-M's, Bybit v5's)
    on 127.0.0.1 until stopped."""
    data = load_data(cfg, data_dir)
    engine = build_sim(cfg, build_markets(data, cfg.data.symbols, cfg.sim.taker_fee))
    key, secret = local_credentials()
    limits = Limits(10**9, 10**9, 10**9) if unlimited else Limits()
    local = exchange_class(cfg.exchange.venue)(engine, data, cfg.exchange.venue, key, secret,
                                               limits)
    runner, base = await start(local, port=port)
    print(f"local exchange ({cfg.exchange.venue} dialect) on {base}; market time advances by "
          f"POST {base}/sim/advance", flush=True)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _gateway(cfg: Config, live: bool) -> CcxtGateway:
    if cfg.exchange.local_url:
        key, secret = local_credentials()
        return gateway_for(cfg.exchange.venue, key, secret,
                           urls=venue_urls(cfg.exchange.venue, cfg.exchange.local_url),
                           symbols=_symbols(cfg), rate_limit_ms=cfg.exchange.rate_limit_ms,
                           throttle=cfg.exchange.throttle, spot=cfg.basis.enabled)
    creds = cfg.api_credentials()
    if creds is None:
        raise PermissionError(f"no API keys: set {cfg.exchange.api_key_env} and "
                              f"{cfg.exchange.api_secret_env}")
    return gateway_for(cfg.exchange.venue, *creds, testnet=not live, symbols=_symbols(cfg),
                       rate_limit_ms=cfg.exchange.rate_limit_ms, spot=cfg.basis.enabled)


def _symbols(cfg: Config) -> tuple[str, ...]:
    """The perps traded, and their spot markets when the basis executor runs."""
    if not cfg.basis.enabled:
        return cfg.data.symbols
    return cfg.data.symbols + tuple(s.split(":")[0] for s in cfg.data.symbols)


async def run_ccxt(cfg: Config, live: bool, data_dir: Path | None = None,
                   max_ticks: int | None = None) -> Runner:
    """Paper through the local exchange (data-driven, paced) or on a real exchange."""
    gw = _gateway(cfg, live)
    store = Store(cfg.state.db)
    metrics = Metrics()
    if cfg.metrics.enabled:
        metrics.serve(cfg.metrics.host, cfg.metrics.port,
                      os.environ.get(cfg.metrics.token_env) or None)
    gw.metrics = metrics
    try:
        markets = {s: m for s, m in (await gw.load_markets()).items()
                   if not m.spot or cfg.basis.enabled}
        bal = await gw.fetch_balance()
        print(f"derivbot: {'LIVE' if live else 'testnet/demo' if not cfg.exchange.local_url else 'local'} "
              f"{cfg.exchange.venue}; equity {bal.equity} available {bal.available}; risk "
              f"{cfg.risk.fraction:.2%}/trade, leverage {cfg.risk.leverage}x, max positions "
              f"{cfg.risk.max_positions}, daily loss limit {cfg.risk.daily_loss_limit:.0%}",
              flush=True)
        if cfg.exchange.local_url and not cfg.market_data.local_urls:
            runner = await _run_local(cfg, gw, store, markets, metrics, data_dir, max_ticks)
        else:
            runner = await _run_live(cfg, gw, store, markets, metrics, live, max_ticks)
        return runner
    finally:
        await gw.close()
        store.close()


async def _desk(cfg: Config, store: Store, runner: Runner):
    """The page and the phone, and the copy of the database kept before a start."""
    use_market_clock(runner.clock.now)
    page = await start_operator(cfg, store, runner.clock.now, actions(runner, cfg))
    desk = await start_desk(cfg, runner)
    keep_copy(cfg)
    await runner.start()
    _on_signals(runner)
    return page, desk


async def _closed(page, desk) -> None:
    if desk is not None:
        await desk.stop()
    if page is not None:
        await page.cleanup()


async def _run_local(cfg: Config, gw: CcxtGateway, store: Store, markets, metrics,
                     data_dir: Path | None, max_ticks: int | None) -> Runner:
    """Paper through a local exchange driven by the bot's own data, paced."""
    sink = RemoteSimSink(cfg.exchange.local_url)
    runner = Runner(cfg, gw, store, markets, PacedClock(cfg.paper.time_scale), metrics,
                    sinks=(sink,))
    runner.hold = cfg.approval.hold_clock
    page, desk = await _desk(cfg, store, runner)
    try:
        data = load_data(cfg, data_dir)
        last = store.get_meta("last_seen")
        events = list(data.events())
        if last is None and events:  # a first start reads a warm-up window untraded
            last = events[0].seen + cfg.paper.warmup_bars * 3_600_000
        if last is not None:
            done = [e for e in events if e.seen <= last]
            runner.warm(done)
            events = events[len(done):]
        await runner.run(events, max_ticks=max_ticks,
                         on_tick=lambda t, _n: store.set_meta("last_seen", t))
        await runner.save_positions()
        await runner.shutdown()
    finally:
        await sink.close()
        await _closed(page, desk)
    return runner


def _same_endpoints(cfg: Config, live: bool) -> bool:
    """The trading gateway reaches the very endpoints the plane reads for its venue (a live
    account on mainnet, or one local exchange for both): one client, one rate limiter."""
    md = cfg.market_data
    if cfg.exchange.venue not in md.venues:
        return False
    local = md.local_urls.get(cfg.exchange.venue, "")
    return (local == cfg.exchange.local_url) if local or cfg.exchange.local_url else live


async def _run_live(cfg: Config, gw: CcxtGateway, store: Store, markets, metrics, live: bool,
                    max_ticks: int | None) -> Runner:
    """Decisions on the market-data plane's venues (real market prices and funding), orders
    on the trading venue (testnet/demo, live, or a local exchange moved to market time)."""
    md = cfg.market_data
    clock = VenueClock()
    sinks = (RemoteSimSink(cfg.exchange.local_url),) if cfg.exchange.local_url else ()
    runner = Runner(cfg, gw, store, markets, clock, metrics, sinks=sinks,
                    venue=md.decision_venue(cfg.exchange.venue))
    plane = MarketPlane.from_config(
        md, cfg.data.symbols, shared=gw if _same_endpoints(cfg, live) else None, clock=clock,
        metrics=metrics, record=Recorder(md.record_dir) if md.record_dir else None,
        on_status=runner.venue_status, on_options=runner.history.options.__setitem__)
    page = desk = None
    try:
        runner.warm(await plane.poll())  # the history window, read untraded
        page, desk = await _desk(cfg, store, runner)
        late = int(max(2 * md.poll_s, 300) * 1000)
        await runner.run_stream(plane.stream(), max_ticks=max_ticks, late_ms=late)
        await runner.save_positions()
        await runner.shutdown()
    finally:
        await plane.close()
        for sink in sinks:
            await sink.close()
        await _closed(page, desk)
    return runner


async def flatten_ccxt(cfg: Config, live: bool):
    """The kill switch on a real or local exchange: no approval, reduce-only."""
    from bot.execution.flatten import flatten, with_basis
    from bot.execution.orders import OrderManager

    gw = _gateway(cfg, live)
    store = Store(cfg.state.db)
    try:
        markets = {s: m for s, m in (await gw.load_markets()).items()
                   if not m.spot or cfg.basis.enabled}
        return await flatten(with_basis(OrderManager(gw, store, markets, WallClock()), cfg))
    finally:
        await gw.close()
        store.close()
