"""The runner's side of risk: gathers the record, buckets, liquidation map and halt, then
asks the pure risk manager, and stores what it decided."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import numpy as np

from bot.history import History
from bot.metrics import Metrics
from bot.report import r_multiples
from risk.buckets import bucket_of, correlated_groups
from risk.halt import Halt
from risk.kelly import kelly_fraction
from risk.limits import RiskLimits
from risk.manager import Approved, Context, Decision, MarketRules, Portfolio, assess, halt_reason
from state.models import RiskDecision
from state.store import Store
from strategies.liquidation import Cluster
from strategies.types import TradePlan

log = logging.getLogger("derivbot.risk")
HALT_KEY = "halt"


class RiskDesk:
    def __init__(self, limits: RiskLimits, store: Store, metrics: Metrics) -> None:
        self.limits, self.store, self.metrics = limits, store, metrics
        self._r: tuple[int, list[float]] = (-1, [])

    # ---- the record --------------------------------------------------------------------
    def r_multiples(self, closed: int) -> list[float]:
        """Closed trades' net PnL in R; re-read only when `closed` (their count) changed."""
        if self._r[0] != closed:
            self._r = (closed, r_multiples(self.store.trades()))
        return self._r[1]

    def fraction(self, closed: int) -> float:
        if not self.limits.kelly:
            return self.limits.fraction
        return kelly_fraction(self.r_multiples(closed), self.limits.fraction,
                              min_trades=self.limits.kelly_min_trades).fraction

    # ---- the halt ----------------------------------------------------------------------
    def halt(self, now: int) -> Halt | None:
        raw = self.store.get_meta(HALT_KEY)
        if raw is None:
            return None
        halt = Halt(**raw)
        if not halt.active(now):
            self.lift(now, "next day")
            return None
        return halt

    def check_halt(self, p: Portfolio, now: int) -> Halt | None:
        """The active halt, starting one when a limit is breached now."""
        halt = self.halt(now)
        if halt is None and (why := halt_reason(p, self.limits)) is not None:
            halt = Halt(why, now, self.limits.halt_release)
            self.store.set_meta(HALT_KEY, {"reason": halt.reason, "since": halt.since,
                                           "release": halt.release})
            log.info("event=halt reason=%r release=%s", why, halt.release)
        self.metrics.halted.set(1 if halt else 0)
        return halt

    def lift(self, now: int, by: str) -> bool:
        if self.store.get_meta(HALT_KEY) is None:
            return False
        self.store.delete_meta(HALT_KEY)
        self.store.set_meta("halt_lifted", {"at": now, "by": by})
        self.metrics.halted.set(0)
        log.info("event=halt_lifted by=%s", by)
        return True

    # ---- deciding ----------------------------------------------------------------------
    def context(self, plan: TradePlan, history: History, now: int, p: Portfolio,
                closed: int, clusters: Sequence[Cluster] = (), weight: float = 1.0) -> Context:
        halt = self.check_halt(p, now)
        returns = {}
        for sym in history.symbols:
            close = history.closes(sym, self.limits.correlation_bars + 1)
            if len(close) > 24:
                returns[sym] = np.diff(np.log(close))
        groups = correlated_groups(returns, self.limits.correlation)
        bucket = bucket_of(plan.symbol, self.limits.buckets, groups)
        return Context(self.fraction(closed), bucket, tuple(clusters),
                       halt.reason if halt else None, weight)

    def decide(self, plan: TradePlan, p: Portfolio, market: MarketRules, history: History,
               now: int, closed: int, clusters: Sequence[Cluster] = (),
               weight: float = 1.0) -> tuple[Decision, RiskDecision]:
        ctx = self.context(plan, history, now, p, closed, clusters, weight)
        decision = assess(plan, p, market, self.limits, ctx)
        row = RiskDecision(ts=now, symbol=plan.symbol, strategy=plan.strategy,
                           approved=decision.approved)
        if isinstance(decision, Approved):
            row.size, row.risk_cash, row.fraction = (decision.size, decision.risk_cash,
                                                     decision.fraction)
            row.cuts_json = json.dumps(list(decision.cuts))
            result = "cut" if decision.cuts else "approved"
            self.metrics.decisions.labels(result, "").inc()
        else:
            row.rule, row.reason = decision.rule, decision.reason
            self.metrics.decisions.labels("refused", decision.rule).inc()
        return decision, row

    def record(self, row: RiskDecision, trade_id: int | None) -> None:
        """Store a decision, linked to the trade it opened."""
        row.trade_id = trade_id
        self.store.record_decision(row)
