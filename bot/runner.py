"""The event loop: one tick per market instant, the same for replay, paper and live.

Per tick: market data → (simulated exchange) → history → order manager sync → approved
proposals → basis step → each symbol's decision (signals → plan → risk → orders) → the
record of the decisions → telemetry (signal rows, alerts, equity, gauges) → commit.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from bot.clock import ReplayClock
from bot.config import Config
from bot.exchanges.gateway import ExchangeError, Gateway, NetworkError
from bot.execution.account import Account
from bot.execution.approvals import ApprovedProposals
from bot.execution.basis import BasisDesk
from bot.execution.decisions import Decisions
from bot.execution.orders import OrderManager
from bot.execution.reconcile import reconcile
from bot.execution.riskdesk import RiskDesk
from bot.logs import kv
from bot.marketdata.history import History
from bot.marketdata.layout import FUNDING, Event
from bot.markets import Market
from bot.operator.approval import ApprovalGate
from bot.operator.metrics import Metrics
from bot.operator.notices import Notice, Notices
from bot.operator.telemetry import Telemetry
from state.store import Store

HOLD_POLL_S = 0.25  # how often a held clock looks for a person's answer
log = logging.getLogger("derivbot.runner")


def batches(events: Iterable[Event]) -> Iterator[tuple[int, list[Event]]]:
    """Group events that become known at the same instant."""
    batch: list[Event] = []
    t = None
    for e in events:
        if e.seen != t and batch:
            yield t, batch
            batch = []
        t = e.seen
        batch.append(e)
    if batch:
        yield t, batch


@dataclass
class TickStats:
    ticks: int = 0
    events: int = 0
    plans: int = 0
    # lists: each deciding tick's latency is kept — update in to its first order handed to
    # the gateway (or, sending none, to its decisions made); and to every decision made,
    # the orders that follow a fill within the tick (stop, targets) too
    decision_s: list[float] | None = None
    decided_s: list[float] | None = None


class Runner:
    def __init__(self, cfg: Config, gateway: Gateway, store: Store, markets: dict[str, Market],
                 clock=None, metrics: Metrics | None = None,
                 sinks: tuple[Callable[[list[Event]], None], ...] = (),
                 telemetry: bool = True, venue: str | None = None) -> None:
        """`telemetry` False (a replay that asks for it): every module is read only when a
        decision needs it, and no signal rows, signal gauges or alerts are made of the rest —
        the decisions, and so the trades, orders and fills, are the same; the book's gauges
        are not set (the equity rows are written). `venue`: whose
        candles the strategies decide on (default: the trading venue's)."""
        self.cfg = cfg
        self.show_readings = telemetry
        self.gw, self.store, self.markets = gateway, store, markets
        self.clock = clock or ReplayClock()
        self.metrics = metrics or Metrics()
        self.sinks = sinks
        self.history = History(venue or cfg.exchange.venue,
                               timeframes=cfg.strategies.timeframes())
        self.om = OrderManager(gateway, store, markets, self.clock, cfg.orders)
        self.risk = RiskDesk(cfg.risk, store, self.metrics)
        self.basis = None
        if cfg.basis.enabled:
            self.basis = BasisDesk.from_config(gateway, store, markets, self.clock, self.history,
                                               cfg)
            self.om.basis = self.basis
        a = cfg.approval
        self.gate = ApprovalGate(cfg.mode == "live" or a.paper, store, self.metrics,
                                 a.tolerance, a.expiry_bars, a.min_wait)
        self.hold = False  # paper: hold the paced clock while a proposal waits for a person
        if self.basis is not None and self.gate.required:
            self.basis.gate = self.gate  # a new pair is a new position: a person approves it
        self.account = Account(gateway, store, self.history, self.clock)
        self.decisions = Decisions(cfg, self.history, self.om, self.risk, self.gate,
                                   self.basis, self.account, markets, self.metrics)
        self.approvals = ApprovedProposals(self.gate, store, self.history, self.om, self.risk,
                                           self.basis, self.account, markets,
                                           cfg.basis.exit_rate)
        self.telemetry = Telemetry(cfg, store, self.metrics)
        self.stats = TickStats()
        self.trading = True
        self.stop_requested = False
        self.notices: Notices | None = None  # what a person is told, and to whom (tell_to)
        self.tellers: tuple[Callable[[Notice], None], ...] = ()
        self._asks: list[tuple[str, tuple, asyncio.Future]] = []  # a person's requests

    def tell_to(self, *tellers: Callable[[Notice], None]) -> None:
        """Every notice (proposals and answers, fills, stop moves, exits, halts, errors)
        from now on goes to each teller, which queues it."""
        self.notices = Notices(self.store, self.clock.now,
                               {s: m.price_tick for s, m in self.markets.items()})
        self.tellers = tellers

    def _tell(self) -> None:
        if self.notices is not None:
            for notice in self.notices.look():
                for tell in self.tellers:
                    tell(notice)

    def ask(self, action: str, *args) -> asyncio.Future:
        """A person's request (close, tighten, lift, flatten), carried out between ticks —
        never inside one; the future gets the line that says what came of it."""
        fut = asyncio.get_running_loop().create_future()
        self._asks.append((action, args, fut))
        return fut

    async def _asked(self, t: int) -> None:
        """What a person asked for since the last tick (from the page or a phone). A
        flatten closes every bot position at market and halts new entries until a person
        lifts it."""
        asks, self._asks = self._asks, []
        for action, args, fut in asks:
            try:
                result = await self._do(action, args, t)
            except (ExchangeError, NetworkError) as err:
                result = f"failed: {err}"
            if not fut.done():
                fut.set_result(result)

    async def _flatten(self, t: int, by: str) -> str:
        log.warning("flatten", extra=kv(by=by))
        self.risk.halt_now(t, f"flattened by {by}")
        n = len(self.om.active)
        await self.close_all(f"flatten by {by}")
        return f"flattened by {by}: {n} trade(s) closed at market, new entries halted"

    async def _do(self, action: str, args: tuple, t: int) -> str:
        if action == "close":
            trade_id, by = args
            if trade_id not in self.om.active:
                return f"refused: trade {trade_id} is not open"
            await self.om.close_trade(trade_id, f"closed by {by}")
            return f"trade {trade_id} closed at market by {by}"
        if action == "tighten":
            trade_id, level = args
            trade = self.om.active.get(trade_id)
            last = self.history.last_close(trade.symbol) if trade else float("nan")
            return await self.om.tighten_stop(trade_id, level, last)
        if action == "lift":
            (by,) = args
            return f"halt lifted by {by}" if self.risk.lift(t, by) else "no halt to lift"
        if action == "flatten":
            return await self._flatten(t, args[0])
        return f"unknown request {action!r}"

    async def start(self) -> None:
        self.telemetry.start()
        for symbol, market in self.markets.items():
            if not market.spot:
                held = self.basis is not None and self.basis.on(symbol) is not None
                await self.gw.set_leverage(symbol, self.basis.leverage if held
                                           else self.cfg.risk.leverage)
        report = await reconcile(self.om)
        self.metrics.reconcile_seconds.set(report.seconds)
        self.reconciled = report
        # what exists now (libraries, markets, the loaded history) lives as long as the
        # bot: out of the collector's full scans, which otherwise paused ticks ~100 ms
        gc.collect()
        gc.freeze()

    def warm(self, events: Iterable[Event]) -> None:
        """Read history without trading (indicators and windows fill up)."""
        for e in events:
            self.history.ingest(e)

    async def run(self, events: Iterable[Event], max_ticks: int | None = None,
                  on_tick: Callable[[int, int], None] | None = None) -> TickStats:
        for t, batch in batches(events):
            if self.stop_requested or (max_ticks is not None and self.stats.ticks >= max_ticks):
                break
            await self._held()
            await self.clock.sleep_until(t)
            await self.tick(t, batch)
            if on_tick is not None:
                on_tick(t, len(batch))
        self.store.flush()
        return self.stats

    async def _held(self) -> None:
        """While a proposal waits within its minimum wait, market time stands still: the
        person answers at human speed, and what they approve executes at the instant they
        saw. Pacing then resumes from here (no burst to catch up)."""
        if not (self.hold and self.gate.required and self.trading):
            return
        held = False
        while not self.stop_requested and self.gate.holding():
            if not held:
                log.info("clock_held", extra=kv(note="a proposal waits for a person"))
            held = True
            await asyncio.sleep(HOLD_POLL_S)
            await self._asked(self.clock.now())
            await self.om.sync()
            await self.approvals.execute(self.clock.now())
            self.store.commit()
            self._tell()
        if held and hasattr(self.clock, "pace"):
            self.clock.pace(True)

    def venue_status(self, venue: str, why: str | None) -> None:
        """A market-data venue went stale (`why`) or is back (None): its data leaves the
        views meanwhile, and the status shows which venues are stale and why."""
        self.history.mark(venue, why)
        self.store.set_meta("stale_venues", dict(sorted(self.history.stale.items())))

    async def run_stream(self, stream: AsyncIterator[list[Event]],
                         max_ticks: int | None = None, late_ms: int | None = None
                         ) -> TickStats:
        """A live feed: each delivery is cut into instants and ticked in order. With
        `late_ms`, what became known more than that long before now (a gap filled after a
        venue came back) is read into history without a decision on a bar long gone."""
        async for events in stream:
            if self.stop_requested:
                break
            if late_ms is not None and events:
                cutoff = self.clock.now() - late_ms
                late = [e for e in events if e.seen < cutoff]
                if late:
                    self.warm(late)
                    events = [e for e in events if e.seen >= cutoff]
                    log.info("late_data_read", extra=kv(events=len(late),
                                                        oldest=late[0].seen))
            if not events and self._asks:
                await self._asked(self.clock.now())
            if not events and self.gate.required and self.trading:
                await self.om.sync()
                await self.approvals.execute(self.clock.now())
            for t, batch in batches(events):
                if self.stop_requested or (max_ticks is not None
                                           and self.stats.ticks >= max_ticks):
                    return self.stats
                await self.tick(t, batch)
            self.store.flush()
        return self.stats

    async def tick(self, t: int, batch: list[Event]) -> None:
        started = time.perf_counter()
        self.om.first_sent = None
        for sink in self.sinks:
            done = sink(batch)
            if inspect.isawaitable(done):
                await done
        decide = {e.symbol for e in batch if self.history.ingest(e)}
        if self._asks:
            await self._asked(t)
        if hasattr(self.gw, "expect_funding") and any(
                e.kind == FUNDING and e.exchange == self.cfg.exchange.venue for e in batch):
            self.gw.expect_funding()
        try:
            await self.om.sync()
        except NetworkError as err:  # the exchange is out of reach: no decision on old state
            log.warning(
                "sync_failed", extra=kv(error=repr(err), note="skipping decisions this tick")
            )
            decide = set()
        if self.gate.required:
            self.store.set_meta("market_now", t)
            if self.trading:
                await self.approvals.execute(t)
        if decide and self.trading:
            await self.decisions.basis_step(t)
            read = [(symbol, await self.decisions.decide(symbol, t))
                    for symbol in sorted(decide) if symbol in self.markets]
            self._latency(started)
            self.stats.plans = self.decisions.plans
            self.decisions.record()  # the record of each decision, after its orders
            if self.show_readings:  # telemetry after every order of the tick is out
                for symbol, readings in read:
                    if readings is not None:
                        self.telemetry.readings(t, symbol, readings)
        if decide:
            await self.snapshot(t)
            if self.show_readings:
                self.telemetry.data_age(t, self.history.quotes)
        self.store.commit()  # whatever the tick wrote and did not commit on its way
        self._tell()
        self.stats.ticks += 1
        self.stats.events += len(batch)
        self.metrics.tick_latency.observe(time.perf_counter() - started)
        self.metrics.market_time.set(t / 1000)

    def _latency(self, started: float) -> None:
        """Update in → the tick's first order handed over (or its decisions made)."""
        done = time.perf_counter()
        took = (self.om.first_sent or done) - started
        self.metrics.decision_latency.observe(took)
        if self.stats.decision_s is not None:
            self.stats.decision_s.append(took)
        if self.stats.decided_s is not None:
            self.stats.decided_s.append(done - started)

    async def snapshot(self, t: int) -> None:
        """The equity row and the book's gauges as of now."""
        bal = await self.gw.fetch_balance()
        total = self.account.total_equity(bal)
        self.account.mark(float(total))
        self.telemetry.book(t, total, bal.wallet, self.om, self.basis, self.show_readings)

    async def save_positions(self) -> None:
        await self.account.save_positions()

    async def shutdown(self) -> None:
        """Write what is buffered, say in one line where the book stands, and give the
        webhook a moment to deliver."""
        self.store.flush()
        closed = [t for t in self.store.trades() if t.state == "closed"]
        net = sum((t.realised - t.fees + t.funding for t in closed), Decimal(0))
        equity = self.store.last_equity()
        log.info("summary", extra=kv(
            trades_closed=len(closed), net_pnl=f"{net:.2f}",
            basis_pnl=f"{sum((b.pnl for b in self.store.basis_trades()), Decimal(0)):.2f}",
            open_positions=len(self.om.active) + (len(self.basis.active) if self.basis else 0),
            equity=None if equity is None else f"{equity:.2f}"))
        self._tell()  # the last of it, before the channels close
        if self.notices is not None:
            self.notices.close()
        await self.telemetry.close()

    async def close_all(self, reason: str) -> None:
        for trade_id in list(self.om.active):
            await self.om.close_trade(trade_id, reason)
        if self.basis is not None:
            for pair in list(self.basis.active.values()):
                await self.basis.close(pair, reason)
        await self.om.sync()
