"""Wiring: data folder, markets, simulated exchange and runner for `replay` and `run`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pandas as pd
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bot.clock import PacedClock, ReplayClock
from bot.config import Config
from bot.exchanges.sim import state as sim_state
from bot.exchanges.sim.exchange import SimExchange
from bot.exchanges.sim.gateway import SimGateway, SimMarketSink
from bot.logs import kv, use_market_clock
from bot.marketdata import layout as marketdata
from bot.marketdata.columns import precompute
from bot.marketdata.layout import Event, MarketData
from bot.marketdata.synth import SynthSpec, generate
from bot.markets import Market, default_market, split_symbol
from bot.operator.chart import write_trades_html
from bot.operator.metrics import Metrics
from bot.operator.report import build_report, plot_equity, write_trades_csv
from bot.runner import Runner
from state.store import Store
from strategies.playbook import COLUMNS

log = logging.getLogger("derivbot.app")
HOUR_MS = 3_600_000


def resolve_data(cfg: Config, override: str | None = None, cache: Path = Path("var")) -> Path:
    """The data folder: given, configured, or the embedded synthetic market (made once)."""
    if override:
        return Path(override)
    if cfg.data.dir:
        return Path(cfg.data.dir)
    folder = cache / f"synth-{cfg.data.synth_seed}-{cfg.data.synth_days}d"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(SynthSpec(symbols=cfg.data.symbols, days=cfg.data.synth_days,
                           seed=cfg.data.synth_seed), folder)
        (folder / ".complete").write_text("ok")
    return folder


def build_markets(data: MarketData, symbols: tuple[str, ...],
                  taker_fee: float = 0.0005) -> dict[str, Market]:
    """Each perp and its spot market, with the simulated exchange's taker fee."""
    markets = {}
    for symbol in symbols:
        price = data.first_price(symbol)
        base, quote, _ = split_symbol(symbol)
        for sym in (symbol, f"{base}/{quote}"):
            markets[sym] = replace(default_market(sym, price), taker_fee=taker_fee)
    return markets


def build_sim(cfg: Config, markets: dict[str, Market]) -> SimExchange:
    s = cfg.sim
    return SimExchange(markets, s.start_equity, s.maker_fee, s.taker_fee, s.slippage_bps,
                       cfg.risk.mmr_tiers, cfg.risk.leverage, s.volume_share)


def load_data(cfg: Config, folder: Path) -> MarketData:
    return marketdata.load(folder, symbols=cfg.data.symbols)


def window(events: Iterable[Event], warm: Callable[[Event], object], since: int | None,
           until: int | None) -> Iterator[Event]:
    """The events seen in [since, until); those before `since` go to `warm` (read, not
    traded: indicators and windows fill up as they would have)."""
    for e in events:
        if since is not None and e.seen < since:
            warm(e)
        elif until is not None and e.seen >= until:
            return
        else:
            yield e


def replay_closes(data: MarketData, cfg: Config, since: int | None, until: int | None
                  ) -> dict[str, pd.DataFrame]:
    """Each perp's candles seen in [since, until) on the traded venue."""
    out = {}
    for sym in cfg.data.symbols:
        df = data.tables.get((cfg.exchange.venue, sym, "candles_1h.csv"))
        if df is None:
            continue
        seen = df["timestamp"] + HOUR_MS
        keep = df[(seen >= (since or 0)) & (seen < (until or 2**62))]
        if len(keep):
            out[sym] = keep[["timestamp", "close"]]
    return out


def first_last_closes(data: MarketData, cfg: Config, since: int | None, until: int | None
                      ) -> dict[str, tuple[float, float]]:
    """Each perp's first and last close seen in [since, until): its buy and hold."""
    return {sym: (float(df["close"].iloc[0]), float(df["close"].iloc[-1]))
            for sym, df in replay_closes(data, cfg, since, until).items()}


async def replay(cfg: Config, data_dir: Path, out: Path, progress: bool = True,
                 telemetry: bool = True, since: int | None = None,
                 until: int | None = None, data: MarketData | None = None,
                 files: bool = True) -> dict:
    """Run the whole bot over history as fast as it goes; write the report files to `out`.
    `telemetry` False: no per-bar signal rows, signal gauges or alerts (Runner). `since`,
    `until` (ms): trade only that span, the history before it read as warm-up. `data`: the
    folder already loaded (a study's worker loads it once); `files` False: report.json and
    the database only (no trades.csv, equity.png, trades.html)."""
    data = data if data is not None else load_data(cfg, data_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "derivbot.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    markets = build_markets(data, cfg.data.symbols, cfg.sim.taker_fee)
    sim = build_sim(cfg, markets)
    store = Store(db, durable=False)  # a report: a crashed replay is simply run again
    runner = Runner(cfg, SimGateway(sim), store, markets, ReplayClock(),
                    sinks=(SimMarketSink(sim, cfg.exchange.venue),), telemetry=telemetry)
    use_market_clock(runner.clock.now)
    runner.decisions.columns = precompute(
        data, cfg.exchange.venue, cfg.strategies.timeframes(),
        {m: partial(make, s=cfg.signals) for m, make in COLUMNS.items()})
    total = data.count()  # events stream from the files: memory does not grow with history
    await runner.start()
    if progress:
        with Progress(TextColumn("replay"), BarColumn(), TextColumn("{task.completed}/"
                      "{task.total} events"), TimeRemainingColumn()) as bar:
            task = bar.add_task("replay", total=total)
            step = max(total // 200, 1)
            seen = [0]

            def on_tick(_t: int, n: int) -> None:
                seen[0] += n
                if seen[0] % step < n:
                    bar.update(task, completed=seen[0])

            await runner.run(window(data.events(), runner.history.ingest, since, until),
                             on_tick=on_tick)
            bar.update(task, completed=total)
    else:
        await runner.run(window(data.events(), runner.history.ingest, since, until))
    await runner.close_all("end of replay")
    await runner.snapshot(runner.clock.now())
    await runner.save_positions()
    await runner.shutdown()
    enabled = tuple(name for name, toggle in cfg.strategies if toggle.enabled)
    report = build_report(store, cfg.sim.start_equity, enabled,
                          first_last_closes(data, cfg, since, until))
    report["events"] = runner.stats.events
    report["data"] = str(data_dir)
    report["telemetry"] = telemetry
    report["abstentions"] = (runner.telemetry.abstentions() if telemetry
                             else "not counted: --no-telemetry reads modules only for decisions")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if files:
        write_trades_csv(store, out / "trades.csv",
                         {sym: m.price_tick for sym, m in markets.items()})
        plot_equity(store, out / "equity.png")
        write_trades_html(store, replay_closes(data, cfg, since, until), out / "trades.html")
    store.close()
    return report


async def run_paper(cfg: Config, data_dir: Path, max_ticks: int | None = None,
                    serve_metrics: bool = True) -> Runner:
    """Paper trading on the simulated exchange, paced faster than real time; resumable."""
    data = load_data(cfg, data_dir)
    markets = build_markets(data, cfg.data.symbols, cfg.sim.taker_fee)
    sim = build_sim(cfg, markets)
    store = Store(cfg.state.db)
    last_seen = store.get_meta("last_seen")
    resumed = last_seen is not None and _restore(store, sim, cfg)
    clock = PacedClock(cfg.paper.time_scale)
    use_market_clock(clock.now)
    metrics = Metrics()
    if serve_metrics and cfg.metrics.enabled:
        metrics.serve(cfg.metrics.host, cfg.metrics.port,
                      os.environ.get(cfg.metrics.token_env) or None)
        log.info("metrics_serving",
                 extra=kv(url=f"http://{cfg.metrics.host}:{cfg.metrics.port}/metrics"))
    runner = Runner(cfg, SimGateway(sim), store, markets, clock, metrics,
                    sinks=(SimMarketSink(sim, cfg.exchange.venue),))
    runner.hold = cfg.approval.hold_clock
    from bot.app.desk import actions, start_desk

    page = (await start_operator(cfg, store, clock.now, actions(runner, cfg))
            if serve_metrics else None)
    desk = await start_desk(cfg, runner)
    events = list(data.events())
    if resumed:
        done = [e for e in events if e.seen <= last_seen]
        runner.warm(done)
        events = events[len(done):]
        clock.t = last_seen
        log.info("resumed", extra=kv(after=last_seen, open_trades=len(runner.om.active)))
    keep_copy(cfg)
    await runner.start()
    _on_signals(runner)

    if not resumed and cfg.paper.warmup_bars:
        first = events[0].seen if events else 0
        cut = first + cfg.paper.warmup_bars * HOUR_MS
        warm = [e for e in events if e.seen < cut]
        runner.trading = False
        clock.pace(False)
        await runner.run(warm)
        runner.trading = True
        clock.pace(True)
        events = events[len(warm):]
    # from here every transaction that writes (a tick's end, an order's write-ahead) holds
    # the exchange's state and the market time it is at: whenever the process dies, the
    # database and the simulated exchange agree
    store.on_commit = lambda: _keep(store, sim, runner.clock.now())
    try:
        await runner.run(events, max_ticks=max_ticks)
    finally:
        runner.store.flush()
        store.on_commit = None
        _keep(store, sim, max(runner.clock.now(), sim.now))
        store.commit()
        await runner.save_positions()
        await runner.shutdown()
        if desk is not None:
            await desk.stop()
        if page is not None:
            await page.cleanup()
        store.close()
    return runner


def keep_copy(cfg: Config) -> None:
    """An online copy of the database before this start's reconciliation changes it."""
    from state.backup import backup

    copy = backup(Path(cfg.state.db), cfg.state.backups)
    if copy is not None:
        log.info("backup", extra=kv(copy=str(copy), kept=cfg.state.backups))


async def start_operator(cfg: Config, store: Store, now, actions=None):
    """The operator page on its port (refuses beyond loopback without a token)."""
    from bot.operator.page import TOKEN_ENV, OperatorConfigError, OperatorPage, serve, token_for

    if not cfg.operator.enabled:
        return None
    op = cfg.operator
    token = token_for(op.host, op.allow_unauthenticated_loopback)
    try:
        runner = await serve(OperatorPage(store, token, now, actions=actions,
                                          hosts=op.allowed_hosts), op.host, op.port)
    except OSError as err:
        raise OperatorConfigError(f"operator.port {op.port} on {op.host}: {err.strerror}"
                                  ) from None
    url = f"http://{op.host}:{runner.addresses[0][1]}/"
    log.info("operator_page", extra=kv(url=url))
    if token is not None and not os.environ.get(TOKEN_ENV):  # made now: shown once, here
        print(f"derivbot: operator page {url}?token={token} (set {TOKEN_ENV} to choose it)",
              flush=True)
    return runner


def _keep(store: Store, sim: SimExchange, t: int) -> None:
    """The simulated exchange's state and the market time it is at, into the open
    transaction (committed with the tick that made them)."""
    store.put_meta("sim_state", sim_state.dump(sim))
    store.put_meta("last_seen", t)


def _restore(store: Store, sim: SimExchange, cfg: Config) -> bool:
    """The simulated exchange as the database last committed it (an older session's
    `<db>.sim.json` when the database holds none)."""
    saved = store.get_meta("sim_state")
    if saved is not None:
        sim_state.restore(sim, saved)
        return True
    return sim_state.load(sim, Path(f"{cfg.state.db}.sim.json"))


def _on_signals(runner: Runner) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _request_stop, runner)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass


def _request_stop(runner: Runner) -> None:
    log.info("stop_requested", extra=kv(note="finishing the tick and saving state"))
    runner.stop_requested = True


async def flatten_paper(cfg: Config, data_dir: Path):
    """The kill switch against a paper session on the simulator (its saved state)."""
    from bot.clock import ReplayClock
    from bot.execution.flatten import flatten, with_basis
    from bot.execution.orders import OrderManager

    data = load_data(cfg, data_dir)
    sim = build_sim(cfg, build_markets(data, cfg.data.symbols, cfg.sim.taker_fee))
    store = Store(cfg.state.db)
    try:
        if not _restore(store, sim, cfg):
            raise FileNotFoundError(f"{cfg.state.db}: no saved simulator state to flatten")
        om = OrderManager(SimGateway(sim), store, sim.markets, ReplayClock(sim.now))
        report = await flatten(with_basis(om, cfg))
        store.flush()
        store.put_meta("sim_state", sim_state.dump(sim))
        store.commit()
        return report
    finally:
        store.close()
