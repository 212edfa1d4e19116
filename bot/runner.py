"""The event loop: one tick per market instant, the same for replay, paper and live.

Per tick: market data → (simulated exchange) → history → order manager sync →
signal modules → structure trigger → TradePlan → risk → order manager → gateway.
"""

from __future__ import annotations

import gc
import inspect
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

from ccxt.base.errors import ExchangeError, NetworkError

from bot.clock import ReplayClock
from bot.config import Config
from bot.exchanges.gateway import Gateway
from bot.exchanges.sim.exchange import SimExchange
from bot.execution.basis import BasisDesk
from bot.execution.orders import OrderManager
from bot.execution.reconcile import reconcile
from bot.execution.riskdesk import RiskDesk
from bot.marketdata.history import History
from bot.marketdata.layout import CANDLE, FUNDING, SPOT, Event
from bot.markets import QUOTES, Market
from bot.operator.alerts import AlertBook, Webhook
from bot.operator.approval import ApprovalGate
from bot.operator.metrics import Metrics
from risk.manager import Approved, Portfolio
from state import proposals
from state.models import PositionRow
from state.store import Store
from strategies.alerts import conditions
from strategies.basis import exit_reason
from strategies.liquidation import cascade_climax
from strategies.playbook import STRATEGIES, Readings, read_all
from strategies.types import Signal, TradePlan

log = logging.getLogger("derivbot.runner")
DAY_MS = 86_400_000


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


class SimMarketSink:
    """Feeds the venue's prices and funding into the simulated exchange."""

    def __init__(self, sim: SimExchange, venue: str) -> None:
        self.sim, self.venue = sim, venue

    def __call__(self, batch: list[Event]) -> None:
        for e in batch:
            if e.exchange != self.venue:
                continue
            if e.kind == CANDLE or e.kind == SPOT:
                self.sim.on_candle(e.symbol, e.seen, e.open, e.high, e.low, e.close)
            elif e.kind == FUNDING:
                self.sim.on_funding(e.symbol, e.ts, e.rate)


class RemoteSimSink:
    """Advances a local exchange's market to each tick's time (POST /sim/advance)."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/sim/advance"
        self._session = None

    async def __call__(self, batch: list[Event]) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.url, json={"until": batch[-1].seen}) as resp:
            resp.raise_for_status()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


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


def asked_order(cfg: Config) -> list[tuple[str, float]]:
    """The enabled strategies and their weights, heaviest first (config order on ties)."""
    enabled = [(name, toggle.weight) for name in STRATEGIES
               if (toggle := getattr(cfg.strategies, name)).enabled]
    return sorted(enabled, key=lambda nw: -nw[1])  # stable


class Runner:
    def __init__(self, cfg: Config, gateway: Gateway, store: Store, markets: dict[str, Market],
                 clock=None, metrics: Metrics | None = None,
                 sinks: tuple[Callable[[list[Event]], None], ...] = (),
                 telemetry: bool = True) -> None:
        """`telemetry` False (a replay that asks for it): every module is read only when a
        decision needs it, and no signal rows, signal gauges or alerts are made of the rest —
        the decisions, and so the trades, orders and fills, are the same."""
        self.cfg = cfg
        self.telemetry = telemetry
        self.gw, self.store, self.markets = gateway, store, markets
        self.clock = clock or ReplayClock()
        self.metrics = metrics or Metrics()
        self.sinks = sinks
        self.history = History(cfg.exchange.venue)
        self.om = OrderManager(gateway, store, markets, self.clock)
        self.risk = RiskDesk(cfg.risk, store, self.metrics)
        self.basis = None
        if cfg.basis.enabled:
            self.basis = BasisDesk.from_config(gateway, store, markets, self.clock, self.history,
                                               cfg)
            self.om.basis = self.basis
        hook = cfg.alerts.webhook_url
        self.webhook = (Webhook(hook, self.metrics, cfg.alerts.retries, cfg.alerts.timeout_s)
                        if hook else None)
        self.alerts = AlertBook(store, self.metrics, self.webhook)
        a = cfg.approval
        self.gate = ApprovalGate(cfg.mode == "live" or a.paper, store, self.metrics,
                                 a.tolerance, a.expiry_bars)
        if self.basis is not None and self.gate.required:
            self.basis.gate = self.gate  # a new pair is a new position: a person approves it
        self.stats = TickStats()
        self._shown: dict[tuple, list] = {}  # (metric, labels) -> [gauge, value shown]
        self._memo: dict[str, dict] = {}  # per symbol: readings reused until funding moves
        self._decided: list[tuple] = []  # this tick's risk decisions, recorded after it
        self._asked = asked_order(cfg)
        self.trading = True
        self.stop_requested = False
        self._day = store.get_meta("day", [0, None])
        self._peak = store.get_meta("peak_equity")

    async def start(self) -> None:
        if self.webhook is not None:
            self.webhook.start()
        for symbol, market in self.markets.items():
            if not market.spot:
                await self.gw.set_leverage(symbol, self.cfg.risk.leverage)
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
            await self.clock.sleep_until(t)
            await self.tick(t, batch)
            if on_tick is not None:
                on_tick(t, len(batch))
        self.store.flush()
        return self.stats

    async def run_stream(self, stream: AsyncIterator[list[Event]],
                         max_ticks: int | None = None) -> TickStats:
        """A live feed: each delivery is cut into instants and ticked in order."""
        async for events in stream:
            if not events and self.gate.required and self.trading:
                await self.om.sync()
                await self.execute_approved(self.clock.now())
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
        if hasattr(self.gw, "expect_funding") and any(
                e.kind == FUNDING and e.exchange == self.cfg.exchange.venue for e in batch):
            self.gw.expect_funding()
        try:
            await self.om.sync()
        except NetworkError as err:  # the exchange is out of reach: no decision on old state
            log.warning("event=sync_failed error=%r: skipping decisions this tick", err)
            decide = set()
        if self.gate.required:
            self.store.set_meta("market_now", t)
            if self.trading:
                await self.execute_approved(t)
        if decide and self.trading and self.basis is not None:
            await self._basis_tick(t)
        if decide and self.trading:
            read = [(symbol, await self.decide(symbol, t)) for symbol in sorted(decide)
                    if symbol in self.markets]
            done = time.perf_counter()
            took = (self.om.first_sent or done) - started
            self.metrics.decision_latency.observe(took)
            if self.stats.decision_s is not None:
                self.stats.decision_s.append(took)
            if self.stats.decided_s is not None:
                self.stats.decided_s.append(done - started)
            for args in self._decided:  # the record of each decision, after its orders
                self.risk.record(*args)
            self._decided.clear()
            for symbol, readings in read:  # telemetry after every order of the tick is out
                if readings is not None and self.telemetry:
                    self.report_readings(t, symbol, readings)
        if decide:
            await self.snapshot(t)
        self.store.commit()  # whatever the tick wrote and did not commit on its way
        self.stats.ticks += 1
        self.stats.events += len(batch)
        self.metrics.tick_latency.observe(time.perf_counter() - started)
        self.metrics.market_time.set(t / 1000)

    async def _basis_tick(self, t: int) -> None:
        if self.basis.idle(t):
            return  # no account reads (two REST calls on a real exchange) for nothing
        try:
            positions = {p.symbol: p for p in await self.gw.fetch_positions()}
            bal = await self.gw.fetch_balance()
            busy = {tr.symbol for tr in self.om.active.values()}
            await self.basis.tick(t, float(self.total_equity(bal)), busy, positions, bal.spot)
        except NetworkError as err:
            log.warning("event=basis_skipped error=%r", err)
        except ExchangeError as err:  # a refusal outside the legs: the next tick tries again
            log.error("event=basis_error error=%r", err)

    def total_equity(self, bal) -> Decimal:
        """Futures equity plus what the spot account holds, at last prices."""
        total = bal.equity
        for asset, amount in bal.spot.items():
            if amount == 0:
                continue
            if asset in QUOTES:
                total += amount
            else:
                px = self.history.last_close(f"{asset}/USDT:USDT")
                total += amount * Decimal(repr(px if math.isfinite(px) else 0.0))
        return total

    async def decide(self, symbol: str, now: int) -> Readings | None:
        """Signals → plan → risk → order for one symbol; returns what the modules read."""
        if self.basis is not None and self.basis.on(symbol) is not None:
            return None  # the basis short holds this perp: a directional trade would net
        view = self.history.view(symbol, now)
        m = self.cfg.management
        if (m.trailing_atr or m.time_stop_hours) and len(view.candles.close):
            await self.om.manage(symbol, now, float(view.candles.close[-1]),
                                 float(view.candles.atr[-1]), m)
        readings = read_all(view, self.cfg.signals, self._memo.setdefault(symbol, {}))
        await self._climax_exits(readings)
        picked = self._pick(readings)
        if picked is None:
            return readings
        plan, weight = picked
        self.stats.plans += 1
        portfolio = await self._portfolio(now)
        decision = self.risk.decide(plan, portfolio, self.markets[symbol].rules(),
                                    self.history, now, self.om, readings.clusters, weight)
        trade_id = None
        if isinstance(decision, Approved):
            self.metrics.risk_fraction.set(decision.fraction)
            if self.gate.required:
                self.gate.propose(decision, now, weight)
            else:
                trade_id = (await self.om.open_trade(decision)).id
        self._decided.append((plan, decision, now, trade_id))
        return readings

    def report_readings(self, now: int, symbol: str, readings: Readings) -> None:
        """Signal gauges and rows, and the alert conditions, of one symbol's readings."""
        signals = readings.signals
        for sig in signals.values():
            self._record_signal(now, symbol, sig)
        self.alerts.update(now, symbol, conditions(readings.view, signals, readings.clusters,
                                                   self.cfg.signals.alerts))

    async def _portfolio(self, now: int) -> Portfolio:
        bal = await self.gw.fetch_balance()
        equity = float(self.total_equity(bal))
        return Portfolio(equity, float(bal.available), tuple(self.om.open_risk()),
                         self._day_start(now, equity), self._peak)

    async def execute_approved(self, now: int) -> None:
        """Approved proposals: checked again, then executed once (or refused with why)."""
        for p in self.gate.ready(now):
            if not proposals.claim(self.store, p.id):
                continue  # someone else took it
            if p.strategy == "basis":
                await self._execute_basis(p)
                continue
            plan = self.gate.plan_of(p)
            price = self.history.last_close(p.symbol)
            if not math.isfinite(price):
                price = plan.entry
            repriced = replace(plan, entry=price)
            fresh = self.risk.decide(repriced, await self._portfolio(now),
                                     self.markets[p.symbol].rules(), self.history, now,
                                     self.om, (), p.weight)
            out = self.gate.recheck(p, price, fresh)
            if isinstance(out, str):
                self.risk.record(repriced, fresh, now, None)
                proposals.finish(self.store, p.id, "refused", out)
                log.warning("event=proposal_refused id=%s reason=%r", p.id, out)
                continue
            trade = await self.om.open_trade(out)
            self.risk.record(repriced, fresh, now, trade.id)
            proposals.finish(self.store, p.id, "executed", trade_id=trade.id)
            log.info("event=proposal_executed id=%s trade=%s", p.id, trade.id)

    async def _execute_basis(self, p) -> None:
        """An approved basis pair: price still within tolerance and funding still paying."""
        price = self.history.last_close(p.symbol)
        why = None
        if self.basis is None:
            why = "the basis executor is off"
        elif not math.isfinite(price) or abs(price / p.entry - 1) > self.gate.tolerance:
            why = (f"price moved from {p.entry:.2f} to {price:.2f}, beyond the "
                   f"{self.gate.tolerance:.2%} tolerance")
        elif self.basis.on(p.symbol) is not None or any(
                t.symbol == p.symbol for t in self.om.active.values()):
            why = f"{p.symbol} is already held"
        elif exit_reason(self.history.funding_series(p.symbol),
                         self.cfg.basis.exit_rate) is not None:
            why = "funding no longer pays"
        if why is None:
            bal = await self.gw.fetch_balance()
            spot = next(s for q, s in self.basis.pairs() if q == p.symbol)
            reasons = json.loads(p.reasons_json)
            pair = await self.basis.open(p.symbol, spot, float(self.total_equity(bal)), price,
                                         reasons.get("avg_funding_8h", 0.0), cap=p.size)
            if pair is not None:
                proposals.finish(self.store, p.id, "executed", f"basis pair {pair.id}")
                log.info("event=proposal_executed id=%s basis=%s", p.id, pair.id)
                return
            why = "below the market's minimum size now"
        proposals.finish(self.store, p.id, "refused", why)
        log.warning("event=proposal_refused id=%s reason=%r", p.id, why)

    def _pick(self, readings: Readings) -> tuple[TradePlan, float] | None:
        """The plan of the heaviest enabled strategy that has one (config order breaks ties).
        Strategies are asked heaviest first and the first plan ends the search: a lighter
        one's plan could not win, and building it cost a plan's levels for nothing."""
        for name, weight in self._asked:
            plan = STRATEGIES[name](readings, self.cfg.signals)
            if plan is not None:
                return plan, weight
        return None

    async def _climax_exits(self, readings: Readings) -> None:
        """Liquidation-magnet trades leave at the cascade's climax."""
        for trade in list(self.om.active.values()):
            if (trade.strategy == "liquidation_magnet" and trade.symbol == readings.view.symbol
                    and trade.state not in ("pending_entry",)):
                d = 1 if trade.side == "long" else -1
                if cascade_climax(readings.view, d, self.cfg.signals.cascade_climax):
                    await self.om.close_trade(trade.id, "cascade climax")

    def _record_signal(self, now: int, symbol: str, sig: Signal) -> None:
        self._show(self.metrics.signal, int(sig.direction) * sig.strength, symbol, sig.module)
        if sig.direction != 0:
            self.store.add_signal(now, symbol, sig.module, int(sig.direction), sig.strength,
                                  dict(sig.reasons))

    def _day_start(self, now: int, equity: float) -> float:
        day = now // DAY_MS
        if self._day[0] != day or self._day[1] is None:
            self._day = [day, equity]
            self.store.set_meta("day", self._day)
        return self._day[1]

    async def snapshot(self, t: int) -> None:
        bal = await self.gw.fetch_balance()
        open_n = len(self.om.active) + (len(self.basis.active) if self.basis else 0)
        total = self.total_equity(bal)
        self.store.add_equity(t, total, bal.wallet, open_n)
        equity = float(total)
        if self._peak is None or equity > self._peak:
            self._peak = equity
        m, show = self.metrics, self._show
        show(m.equity, equity)
        show(m.wallet, float(bal.wallet))
        show(m.open_positions, open_n)
        risks = self.om.open_risk()
        show(m.open_risk, sum(r.risk_cash for r in risks))
        for part, value in self.om.pnl.items():
            show(m.pnl, float(value), part)
        if self.basis is not None:
            show(m.basis_pairs, len(self.basis.active))
            show(m.basis_funding, sum(float(b.funding) for b in self.basis.active.values()))
        for group in self.cfg.risk.buckets:
            name = "/".join(s.split("/")[0] for s in group)
            show(m.bucket_risk, sum(r.risk_cash for r in risks if r.symbol in group), name)
        counts: dict[str, int] = {}
        for o in self.om.orders.values():
            counts[o.state] = counts.get(o.state, 0) + 1
        for state in ("pending_create", "open", "filled", "canceled", "expired", "rejected"):
            show(m.orders, counts.get(state, 0), state)

    def _show(self, metric, value: float, *labels: str) -> None:
        """Set a gauge (a labelled one's child, looked up once: labels() costs more than
        set()) when its value changed: the runner is the only writer of its gauges, and most
        ticks repeat the last values (a flat book, a flat signal)."""
        key = (id(metric), labels)
        known = self._shown.get(key)
        if known is None:
            child = metric.labels(*labels) if labels else metric
            child.set(value)
            self._shown[key] = [child, value]
        elif known[1] != value:
            known[0].set(value)
            known[1] = value

    async def save_positions(self) -> None:
        rows = [PositionRow(symbol=p.symbol, contracts=p.contracts, entry_price=p.entry_price,
                            margin=p.margin, liquidation_price=p.liquidation_price,
                            unrealised=p.unrealised, updated_at=self.clock.now())
                for p in await self.gw.fetch_positions()]
        self.store.replace_positions(rows)
        self.store.set_meta("peak_equity", self._peak)

    async def shutdown(self) -> None:
        """Write what is buffered and give the webhook a moment to deliver."""
        self.store.flush()
        if self.webhook is not None:
            await self.webhook.close()

    async def close_all(self, reason: str) -> None:
        for trade_id in list(self.om.active):
            await self.om.close_trade(trade_id, reason)
        if self.basis is not None:
            for pair in list(self.basis.active.values()):
                await self.basis.close(pair, reason)
        await self.om.sync()


