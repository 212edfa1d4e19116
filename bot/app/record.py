"""`derivbot record`: the market-data plane alone, no trading — a long-running collector that
appends what the venues give to a data folder `derivbot replay` reads, and serves local
venues for `derivbot exchange serve --dialect bybit|okx`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

from bot.clock import when
from bot.config import Config
from bot.exchanges.ccxt.plane import MarketPlane
from bot.exchanges.localex import start as serve
from bot.exchanges.localex.bybit import BybitVenue
from bot.exchanges.localex.okx import OkxVenue
from bot.marketdata.layout import MarketData
from bot.marketdata.recorder import Recorder
from bot.markets import Market
from bot.operator.metrics import Metrics

log = logging.getLogger("derivbot.record")
DIALECTS = {"bybit": BybitVenue, "okx": OkxVenue}


def health(plane: MarketPlane, recorder: Recorder) -> str:
    """One line: market time, rows written, and each venue's state."""
    parts = [f"market {when(plane.clock.now())}", f"{recorder.written:,} rows".replace(",", " ")]
    for name, st in plane.status().items():
        parts.append(f"{name} {'ok' if st['stale'] is None else 'stale: ' + st['stale']}")
    return " · ".join(parts)


async def record(cfg: Config, venues: tuple[str, ...], symbols: tuple[str, ...], out: Path,
                 polls: int | None = None) -> Recorder:
    md = cfg.market_data.model_copy(update={"venues": venues} if venues else {})
    recorder = Recorder(out)
    metrics = Metrics()
    served = None
    if cfg.metrics.enabled:
        served = metrics.serve(cfg.metrics.host, cfg.metrics.port,
                               os.environ.get(cfg.metrics.token_env) or None)
    plane = MarketPlane.from_config(md, symbols, metrics=metrics, record=recorder)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"recording {', '.join(symbols)} from {', '.join(md.venues)} into {out} every "
          f"{md.poll_s:g} s; Ctrl-C stops", flush=True)
    done = 0
    try:
        while not stop.is_set() and (polls is None or done < polls):
            await plane.poll()
            done += 1
            print(health(plane, recorder), flush=True)
            try:
                await asyncio.wait_for(stop.wait(), md.poll_s)
            except TimeoutError:
                pass
    finally:
        await plane.close()
        if served is not None:
            served[0].shutdown()
    return recorder


async def serve_venue(dialect: str, data: MarketData, markets: dict[str, Market], port: int,
                      start: int) -> None:
    """A venue's public market data in its own dialect on 127.0.0.1 until stopped."""
    runner, base = await serve(DIALECTS[dialect](data, markets, start), port=port)
    print(f"local {dialect} market data on {base}; market time advances by "
          f"POST {base}/sim/advance", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
