"""One symbol's decision on a closed bar: manage its open trades, read the signal modules,
take the heaviest enabled strategy's plan, size it, and send it — or, when a person approves
new positions, propose it. The basis executor's step is decided here too."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from ccxt.base.errors import ExchangeError, NetworkError

from bot.config import Config
from bot.execution.account import Account
from bot.execution.basis import BasisDesk
from bot.execution.entries import EntryRules
from bot.execution.orders import OrderManager
from bot.execution.riskdesk import RiskDesk
from bot.logs import kv
from bot.marketdata.columns import Precomputed
from bot.marketdata.history import TIMEFRAMES, History
from bot.markets import Market
from bot.operator.approval import ApprovalGate
from bot.operator.metrics import Metrics
from risk.manager import Approved
from strategies.liquidation import cascade_climax
from strategies.playbook import STRATEGIES, Readings, Row, read_all
from strategies.types import MarketView, TradePlan

log = logging.getLogger("derivbot.decisions")


def asked_order(cfg: Config) -> list[tuple[str, float, str]]:
    """The enabled strategies with their weights and timeframes, heaviest first (config
    order on ties)."""
    enabled = [(name, toggle.weight, toggle.timeframe) for name in STRATEGIES
               if (toggle := getattr(cfg.strategies, name)).enabled]
    return sorted(enabled, key=lambda nw: -nw[1])  # stable


class Decisions:
    def __init__(self, cfg: Config, history: History, om: OrderManager, risk: RiskDesk,
                 gate: ApprovalGate, basis: BasisDesk | None, account: Account,
                 markets: dict[str, Market], metrics: Metrics) -> None:
        self.cfg, self.history, self.om, self.risk = cfg, history, om, risk
        self.gate, self.basis, self.account = gate, basis, account
        self.markets, self.metrics = markets, metrics
        self.plans = 0
        self._memo: dict[str, dict] = {}  # per symbol: readings reused until funding moves
        self._decided: list[tuple] = []  # this tick's risk decisions, recorded after it
        self._asked = asked_order(cfg)
        self._frames = cfg.strategies.timeframes()
        self.entries = EntryRules(cfg.strategies, risk.store)
        # (symbol, timeframe) -> its whole history read by the modules at once (a replay's);
        # a view with no row there is read alone
        self.columns: dict[tuple[str, str], Precomputed] = {}

    async def decide(self, symbol: str, now: int) -> Readings | None:
        """Signals → plan → risk → order for one symbol; returns what the modules read."""
        if self.basis is not None and self.basis.on(symbol) is not None:
            return None  # the basis short holds this perp: a directional trade would net
        view: MarketView | Callable[[], MarketView] = partial(self.history.view, symbol, now)
        m = self.cfg.management
        if m.trailing_atr or m.time_stop_hours or self.om.timed(symbol):
            view = view()
            if len(view.candles.close):
                await self.om.manage(symbol, now, float(view.candles.close[-1]),
                                     float(view.candles.atr[-1]), m)
        readings = read_all(view, self.cfg.signals, self._memo.setdefault(symbol, {}),
                            row=self._row(symbol, "1h", now))
        await self._climax_exits(readings)
        frames = {"1h": readings}
        for tf in self._frames:  # a coarser bar that closes now: its own readings
            if now % TIMEFRAMES[tf] == 0:
                frames[tf] = read_all(partial(self.history.view, symbol, now, tf),
                                      self.cfg.signals,
                                      self._memo.setdefault(f"{symbol}|{tf}", {}), readings,
                                      self._row(symbol, tf, now))
        self.entries.observe(symbol, frames)
        picked = self._pick(frames, now)
        if picked is None:
            return readings
        plan, weight, chosen = picked
        self.plans += 1
        portfolio = await self.account.portfolio(now, self.om.open_risk())
        decision = self.risk.decide(plan, portfolio, self.markets[symbol].rules(),
                                    self.history, now, self.om, chosen.clusters, weight)
        trade_id = None
        if isinstance(decision, Approved):
            self.entries.entered(plan, now)  # the episode is taken, whatever follows
            self.metrics.risk_fraction.set(decision.fraction)
            if self.gate.required:
                self.gate.propose(decision, now, weight)
            else:
                trade_id = (await self.om.open_trade(decision)).id
        self._decided.append((plan, decision, now, trade_id))
        return readings

    def _row(self, symbol: str, tf: str, now: int):
        """The modules' readings of the decision's row of the whole history, where there is
        one (and no venue is stale)."""
        pre = self.columns.get((symbol, tf))
        if pre is None or self.history.stale:
            return None
        last_open = self.history.last_open(symbol, tf)
        i = None if last_open is None else pre.row(now, last_open)
        return None if i is None else Row(pre.frame, i, partial(pre.signal, i=i))

    def record(self) -> None:
        """The record of each of the tick's decisions, written after its orders are out."""
        for args in self._decided:
            self.risk.record(*args)
        self._decided.clear()

    async def basis_step(self, t: int) -> None:
        """The basis executor's step: open pairs driven, a new one opened where funding pays
        — unless new entries are halted (open pairs are still managed and closed)."""
        if self.basis is None or self.basis.idle(t):
            return  # no account reads (two REST calls on a real exchange) for nothing
        allow_new = self.risk.halt(t) is None
        if not allow_new and not self.basis.active:
            return  # halted, and no pair to manage
        try:
            positions = {p.symbol: p for p in await self.account.gw.fetch_positions()}
            bal = await self.account.gw.fetch_balance()
            busy = {tr.symbol for tr in self.om.active.values()}
            await self.basis.tick(t, float(self.account.total_equity(bal)), busy, positions,
                                  bal.spot, allow_new)
        except NetworkError as err:
            log.warning("basis_skipped", extra=kv(error=repr(err)))
        except ExchangeError as err:  # a refusal outside the legs: the next tick tries again
            log.error("basis_error", extra=kv(error=repr(err)))

    def _pick(self, frames: dict[str, Readings], now: int
              ) -> tuple[TradePlan, float, Readings] | None:
        """The plan of the heaviest enabled strategy that has one its entry rules allow
        (config order breaks ties), each read on its timeframe's bar when one closes now.
        Strategies are asked heaviest first and the first such plan ends the search: a
        lighter one's could not win, and building it cost a plan's levels for nothing."""
        for name, weight, tf in self._asked:
            readings = frames.get(tf)
            if readings is None:
                continue
            plan = STRATEGIES[name](readings, self.cfg.signals)
            if plan is not None and self.entries.allows(plan, now):
                return plan, weight, readings
        return None

    async def _climax_exits(self, readings: Readings) -> None:
        """Liquidation-magnet trades leave at the cascade's climax."""
        for trade in list(self.om.active.values()):
            if (trade.strategy == "liquidation_magnet" and trade.symbol == readings.view.symbol
                    and trade.state not in ("pending_entry",)):
                d = 1 if trade.side == "long" else -1
                if cascade_climax(readings.view, d, self.cfg.signals.cascade_climax):
                    await self.om.close_trade(trade.id, "cascade climax")
