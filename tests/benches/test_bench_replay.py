"""Replay throughput (events/s, and as a ratio of a bare event loop), linear growth with
symbols, decision latency, peak memory as history grows, SQLite order-path writes."""

import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

import numpy as np

from bot.app.modes import build_markets, build_sim
from bot.clock import ReplayClock
from bot.config import parse_config
from bot.exchanges.sim.gateway import SimGateway, SimMarketSink
from bot.marketdata import layout as marketdata
from bot.marketdata.columns import precompute
from bot.marketdata.synth import SynthSpec, generate
from bot.runner import Runner, batches
from state.models import Order
from state.store import Store
from strategies.playbook import COLUMNS

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


class Undecided(Runner):
    """The runner with no module read and no decision: events in, the simulated exchange,
    the order manager's sync, the equity row and gauges, the commit — the floor under any
    tick this design makes (replay, paper and live share the tick path)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)

        async def nothing(symbol: str, now: int) -> None:
            return None

        self.decisions.decide = nothing


def _replay(folder: Path, symbols: tuple[str, ...], db: Path, cfg_extra: dict | None = None,
            runner_cls: type[Runner] = Runner, telemetry: bool = True, rows: bool = True):
    """The runner over the folder as `derivbot replay` runs it (the modules read from the
    whole history's rows); `rows` False: each module read on the view, as live reads it."""
    cfg = parse_config({"data": {"dir": str(folder), "symbols": list(symbols)}}
                       | (cfg_extra or {}))
    data = marketdata.load(folder, symbols=symbols)
    n_events = data.count()
    markets = {s: m for s, m in build_markets(data, symbols).items() if not m.spot}
    engine = build_sim(cfg, build_markets(data, symbols))
    store = TimedStore(db, durable=False)  # as `derivbot replay` writes its report database
    gateway = HandoffClock(engine)
    runner = runner_cls(cfg, gateway, store, markets, ReplayClock(),
                        sinks=(SimMarketSink(engine, cfg.exchange.venue),), telemetry=telemetry)
    if rows:
        runner.decisions.columns = precompute(
            data, cfg.exchange.venue, cfg.strategies.timeframes(),
            {m: partial(make, s=cfg.signals) for m, make in COLUMNS.items()})
    runner.stats.decision_s, runner.stats.decided_s = [], []
    latencies: list[float] = []
    kinds: list[tuple[float, str]] = []  # each deciding tick: time reading its events, kind
    orig, ingest = runner.tick, runner.history.ingest
    reading = [0.0]

    def timed_ingest(e):
        t0 = time.perf_counter()
        try:
            return ingest(e)
        finally:
            reading[0] += time.perf_counter() - t0

    runner.history.ingest = timed_ingest

    async def timed(t, batch):
        decided, plans, entries = (len(runner.stats.decision_s), runner.stats.plans,
                                   len(gateway.handoffs))
        reading[0] = 0.0
        t0 = gateway.tick_started = time.perf_counter()
        await orig(t, batch)
        latencies.append(time.perf_counter() - t0)
        if len(runner.stats.decision_s) > decided:
            kind = ("entry" if len(gateway.handoffs) > entries
                    else "plan" if runner.stats.plans > plans else "other")
            kinds.append((reading[0], kind))

    runner.tick = timed

    async def go():
        await runner.start()
        t0 = time.perf_counter()
        await runner.run(data.events())  # streamed, as `derivbot replay` does
        return time.perf_counter() - t0

    took = asyncio.run(go())
    store.close()
    runner.stats.handoffs = gateway.handoffs
    runner.stats.store_s = store.spent
    runner.stats.commits = store.commits
    runner.stats.kinds = kinds
    return n_events, took, np.array(latencies), runner.stats


def _above(dec_ms: np.ndarray, kinds: list[tuple[float, str]], limit: float = 2.0) -> str:
    """Which ticks passed `limit` ms: those whose reading of their own events took ≥ 4× the
    median (the host stalled the whole tick), then entries, plans and the rest."""
    reading = np.array([r for r, _ in kinds])
    stalled = reading >= 4 * np.median(reading)
    over = dec_ms > limit
    parts = [f"{int((over & stalled).sum())} in host stalls"]
    for kind in ("entry", "plan", "other"):
        mine = np.array([k == kind for _, k in kinds])
        parts.append(f"{int((over & ~stalled & mine).sum())} {kind}")
    return ", ".join(parts) + f" (stalled ticks: {int(stalled.sum())} of {len(kinds)})"


class TimedStore(Store):
    """A Store that adds up the time spent in its methods (reads, writes, commits)."""

    def __init__(self, *a, **kw) -> None:
        self.spent, self._depth = 0.0, 0
        super().__init__(*a, **kw)


def _timed(fn):
    def wrapper(self, *a, **kw):
        self._depth += 1
        t0 = time.perf_counter()
        try:
            return fn(self, *a, **kw)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.spent += time.perf_counter() - t0
    return wrapper


for _name, _fn in vars(Store).items():
    if callable(_fn) and not _name.startswith("__"):
        setattr(TimedStore, _name, _timed(_fn))


class HandoffClock(SimGateway):
    """Times market update in → entry order handed to the gateway, per tick."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.tick_started = 0.0
        self.handoffs: list[float] = []

    async def create_order(self, req):
        if req.client_id.endswith("-entry-0"):
            self.handoffs.append(time.perf_counter() - self.tick_started)
        return await super().create_order(req)


def _bare(folder: Path, symbols) -> tuple[int, float]:
    data = marketdata.load(folder, symbols=symbols)
    t0 = time.perf_counter()
    n = sum(len(b) for _, b in batches(data.events()))  # reading the stream, nothing else
    return n, time.perf_counter() - t0


def _untold(folder: Path, syms, db: Path, extra: dict | None, n: int, took: float) -> str:
    """The same replay without telemetry (`derivbot replay --no-telemetry`), as a ratio."""
    n2, took2, _, _ = _replay(folder, syms, db, extra, telemetry=False)
    assert n2 == n
    return (f"  without telemetry (--no-telemetry: no signal rows, signal gauges or alerts; "
            f"the same trades): {n / took2:,.0f} events/s ({took2:.1f} s), "
            f"{took / took2:.2f}x the whole replay's rate")


def test_replay_throughput_synthetic_two_symbols(tmp_path, figures):
    folder = generate(SynthSpec(days=730, seed=7), tmp_path / "syn")
    syms = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    n, took, _, whole = _replay(folder, syms, tmp_path / "a.db")
    bn, btook = _bare(folder, syms)
    rate, ceiling = n / took, bn / btook
    figures.append(f"replay synthetic 2 symbols x 730 d on 3 exchanges: {n} events in "
                   f"{took:.1f} s = {rate:,.0f} events/s; bare loop {ceiling:,.0f} events/s; "
                   f"bot/bare = {rate / ceiling:.4f}")
    figures.append(_untold(folder, syms, tmp_path / "quiet.db", None, n, took))
    # the live path: every module read on the view of its tick
    _, _, lat, stats = _replay(folder, syms, tmp_path / "views.db", rows=False)
    figures.append("on views, as live and paper read the modules:")
    p50, p99 = np.percentile(lat, [50, 99]) * 1000
    figures.append(f"tick latency over {len(lat)} ticks: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                   f"max {lat.max() * 1000:.2f} ms ({stats.plans} plans)")
    dec = np.array(stats.decision_s) * 1000
    figures.append(f"decision latency, market update in -> its first order request handed to "
                   f"the gateway (no order: its decisions made), over {len(dec)} ticks: p50 "
                   f"{np.percentile(dec, 50):.2f} ms, p99 {np.percentile(dec, 99):.2f} ms, "
                   f"max {dec.max():.2f} ms; above 2 ms: {(dec > 2).sum()} ticks: "
                   f"{_above(dec, stats.kinds)}")
    done = np.array(stats.decided_s) * 1000
    figures.append(f"market update in -> every decision of the tick made and every order "
                   f"handed over (an entry's fill, stop and targets too), over {len(done)} "
                   f"ticks: p50 {np.percentile(done, 50):.2f} ms, p99 "
                   f"{np.percentile(done, 99):.2f} ms, max {done.max():.2f} ms; above 2 ms: "
                   f"{(done > 2).sum()} ticks")
    hand = np.array(stats.handoffs) * 1000
    figures.append(f"decision latency, market update in -> entry handed to the gateway, over "
                   f"{len(hand)} entries: p50 {np.percentile(hand, 50):.2f} ms, p99 "
                   f"{np.percentile(hand, 99):.2f} ms, max {hand.max():.2f} ms")
    figures.append(f"SQLite share of the replay: {whole.store_s:.1f} s of {took:.1f} s "
                   f"({whole.store_s / took:.1%}) in the store (orders, fills, trades, "
                   f"telemetry batches)")
    figures.append(f"SQLite commits: {whole.commits} over {whole.ticks} ticks and "
                   f"{whole.plans} plans")
    assert len(dec) >= 10_000 and stats.ticks > 0


def test_replay_fifty_symbols_three_years(tmp_path, figures):
    """A large market: 50 symbols x 3 years of 1 h bars on one exchange
    (DERIVBOT_BENCH_SYMBOLS / DERIVBOT_BENCH_DAYS scale it down for a quick look)."""
    k = int(os.environ.get("DERIVBOT_BENCH_SYMBOLS", "50"))
    days = int(os.environ.get("DERIVBOT_BENCH_DAYS", str(3 * 365)))
    syms = tuple(f"S{i:02d}/USDT:USDT" for i in range(k))
    t0 = time.perf_counter()
    folder = generate(SynthSpec(symbols=syms, days=days, seed=11, exchanges=("binanceusdm",)),
                      tmp_path / "big")
    made = time.perf_counter() - t0
    n, took, _, stats = _replay(folder, syms, tmp_path / "big.db")
    bn, btook = _bare(folder, syms)
    figures.append(f"replay synthetic {k} symbols x {days} d (1 h, one exchange; data made in "
                   f"{made:.0f} s): {n} events, {stats.ticks} ticks, {stats.plans} plans in "
                   f"{took:.0f} s = {n / took:,.0f} events/s; bot/bare = "
                   f"{(n / took) / (bn / btook):.4f}")


def test_replay_grows_linearly_with_symbols(tmp_path, figures):
    rates = {}
    for k in (2, 4, 8):
        syms = tuple(f"S{i}/USDT:USDT" for i in range(k))
        folder = generate(SynthSpec(symbols=syms, days=60, seed=3, exchanges=("binanceusdm",)),
                          tmp_path / f"s{k}")
        n, took, _, _ = _replay(folder, syms, tmp_path / f"s{k}.db")
        rates[k] = (n, took)
    base = rates[2][1] / rates[2][0]
    parts = [f"{k} symbols: {n} events {t:.1f} s (time/event vs 2 symbols "
             f"{(t / n) / base:.2f})" for k, (n, t) in rates.items()]
    figures.append("scaling, 60 d on one exchange: " + "; ".join(parts))


def test_real_history_replay(tmp_path, figures):
    import pytest

    from bot.marketdata.importer import import_symbol
    btc = SHARED / "binance_usdm_BTCUSDT_perp_ohlcv_1h_2019-2026.feather"
    if not btc.exists():
        pytest.skip(f"real history not found in {SHARED}")
    out = tmp_path / "real"
    for sym, base in (("BTC/USDT:USDT", "BTCUSDT"), ("ETH/USDT:USDT", "ETHUSDT")):
        import_symbol(out, "binanceusdm", sym,
                      SHARED / f"binance_usdm_{base}_perp_ohlcv_1h_2019-2026.feather",
                      SHARED / f"binance_usdm_{base}_funding_8h_2019-2026.feather")
    syms = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    extra = {"signals": {"funding_extreme": {"min_exchanges": 1}}}
    n, took, _, stats = _replay(out, syms, tmp_path / "real.db", extra)
    untold = _untold(out, syms, tmp_path / "quiet.db", extra, n, took)
    fn, ftook, _, _ = _replay(out, syms, tmp_path / "floor.db", extra, Undecided)
    bn, btook = _bare(out, syms)
    per_tick = 1e6 / stats.ticks
    budget = (n / 200_000 - btook) * per_tick  # what 200 000 events/s leaves beyond reading
    figures.append(f"replay real BTC+ETH 2019-2026: {n} events, {stats.ticks} ticks in "
                   f"{took:.1f} s = {n / took:,.0f} events/s; bot/bare = "
                   f"{(n / took) / (bn / btook):.4f}; {took * per_tick:.0f} us a tick")
    figures.append(untold)
    figures.append(f"  the runner alone (events, simulated exchange, sync, equity row, commit; "
                   f"no module read, no decision): {fn / ftook:,.0f} events/s, "
                   f"{ftook * per_tick:.0f} us a tick; "
                   f"200 000 events/s leaves {budget:.1f} us a tick beyond reading the events "
                   f"({btook * per_tick:.1f} us)")


def test_peak_memory_stays_bounded_as_history_grows(tmp_path, figures):
    rss = {}
    for mult in (1, 4):
        folder = generate(SynthSpec(days=90 * mult, seed=5), tmp_path / f"m{mult}")
        # VmHWM: this process's own peak (ru_maxrss would carry the forking parent's)
        code = ("from pathlib import Path;"
                "from tests.benches.test_bench_replay import _replay;"
                f"_replay(Path('{folder}'), ('BTC/USDT:USDT','ETH/USDT:USDT'), "
                f"Path('{tmp_path}/m{mult}.db'), rows=False);"
                "print(next(line.split()[1] for line in open('/proc/self/status') "
                "if line.startswith('VmHWM')))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[2], check=True,
                             env=os.environ.copy())
        rss[mult] = int(out.stdout.strip().splitlines()[-1]) / 1024
    figures.append(f"peak RSS of the runner on views (as live runs): 1x (90 d) "
                   f"{rss[1]:.0f} MB, 4x (360 d) {rss[4]:.0f} MB, ratio {rss[4] / rss[1]:.2f} "
                   f"(events stream from the files; the bot's windows are bounded by "
                   f"lookback; a replay also holds the whole history's frames)")
    assert rss[1] > 0


def test_sqlite_order_path_writes(tmp_path, figures):
    store = Store(tmp_path / "w.db")
    n = 2000
    t0 = time.perf_counter()
    for i in range(n):
        o = Order(client_id=f"dbot-{i:06d}-entry-0", trade_id=i, leg="entry",
                  symbol="BTC/USDT:USDT", side="buy", type="market", amount=Decimal("0.01"),
                  state="pending_create")
        store.record_order(o, i)
    took = time.perf_counter() - t0
    store.close()
    figures.append(f"SQLite order-state writes (WAL, synchronous=FULL, one commit each): "
                   f"{n / took:,.0f}/s ({took / n * 1e3:.2f} ms each)")
    assert json.dumps(figures)
