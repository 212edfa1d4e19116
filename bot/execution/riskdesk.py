"""The runner's side of risk: gathers the record, buckets, liquidation map and halt, then
asks the pure risk manager, and stores what it decided."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from bot.logs import kv
from bot.marketdata.history import History
from bot.operator.analysis import net
from bot.operator.metrics import Metrics
from risk.buckets import bucket_of, correlated_groups
from risk.halt import Halt
from risk.kelly import kelly_fraction
from risk.limits import RiskLimits
from risk.manager import (
    Approved,
    Context,
    Decision,
    MarketRules,
    Portfolio,
    assess,
    first_refusal,
    halt_reason,
)
from state.models import RiskDecision, Trade, row
from state.store import Store
from strategies.liquidation_map import Cluster
from strategies.types import TradePlan

log = logging.getLogger("derivbot.risk")
HALT_KEY = "halt"


class Record(Protocol):
    """The closed trades a Kelly estimate reads, kept by the order manager: `changed`
    lists a trade's id each time its net PnL was set (closed) or moved (late funding)."""

    finished: Mapping[int, Trade]
    changed: list[int]


class RiskDesk:
    def __init__(self, limits: RiskLimits, store: Store, metrics: Metrics) -> None:
        self.limits, self.store, self.metrics = limits, store, metrics
        self._lifted_seen: int | None = None  # when this desk last lifted a halt
        self._record: tuple[int, int] = (0, 0)  # which record, how many changes applied
        self._r: dict[int, float] = {}  # trade id -> net PnL in R
        self._fraction = limits.fraction
        self._groups: tuple[int, list[frozenset[str]]] = (-1, [])

    # ---- the record --------------------------------------------------------------------
    def fraction(self, record: Record) -> float:
        """Half-Kelly from the closed trades' R multiples (in id order); only the trades
        changed since the last call are recomputed."""
        if not self.limits.kelly:
            return self.limits.fraction
        seen_id, seen = self._record
        if seen_id != id(record) or seen > len(record.changed):
            self._r, seen = {}, 0
        if seen != len(record.changed):
            for trade_id in record.changed[seen:]:
                t = record.finished[trade_id]
                if t.risk_cash > 0:
                    self._r[trade_id] = float(net(t)) / t.risk_cash
            rs = [self._r[i] for i in sorted(self._r)]
            self._fraction = kelly_fraction(rs, self.limits.fraction,
                                            min_trades=self.limits.kelly_min_trades).fraction
            self._record = (id(record), len(record.changed))
        return self._fraction

    # ---- the halt ----------------------------------------------------------------------
    def halt(self, now: int, equity: float | None = None) -> Halt | None:
        """The halt on now, lifting one whose release time has come (`equity`: the equity at
        that moment, where the drawdown is measured from after it)."""
        raw = self.store.get_meta(HALT_KEY)
        if raw is None:
            return None
        halt = Halt(**raw)
        if not halt.active(now):  # lifted at the day's end, seen now
            self.lift(halt.lifts_at() or now, "next day", equity, seen=now)
            return None
        return halt

    def check_halt(self, p: Portfolio, now: int) -> Halt | None:
        """The active halt, starting one when a limit is breached now. A halt that lifts
        here restarts the drawdown from the equity of now: the peak it was measured from
        would otherwise halt again at once."""
        halt = self.halt(now, p.equity)
        if halt is None and self.just_lifted(now):
            p = replace(p, peak_equity=p.equity)
        if halt is None and (why := halt_reason(p, self.limits)) is not None:
            halt = Halt(why, now, self.limits.halt_release)
            self.store.set_meta(HALT_KEY, {"reason": halt.reason, "since": halt.since,
                                           "release": halt.release})
            self.store.add_halt(now, why, halt.release)
            log.info("halt", extra=kv(reason=why, release=halt.release))
        self.metrics.halted.set(1 if halt else 0)
        return halt

    def halt_now(self, now: int, reason: str) -> None:
        """A person halts new entries: it lifts only by a person."""
        self.store.set_meta(HALT_KEY, {"reason": reason, "since": now, "release": "manual"})
        self.store.add_halt(now, reason, "manual")
        self.metrics.halted.set(1)
        log.info("halt", extra=kv(reason=reason, release="manual"))

    def just_lifted(self, now: int) -> bool:
        """This desk lifted a halt at `now` (a lift from elsewhere reaches the account's
        peak through the stored record instead)."""
        return self._lifted_seen == now

    def lift(self, now: int, by: str, equity: float | None = None,
             seen: int | None = None) -> bool:
        """Lift the halt as of `now` (`seen`: when the bot noticed, if later); the peak
        restarts from `equity` (or from the next equity read)."""
        if self.store.get_meta(HALT_KEY) is None:
            return False
        self.store.delete_meta(HALT_KEY)
        self._lifted_seen = now if seen is None else seen
        self.store.set_meta("halt_lifted", {"at": now, "by": by, "equity": equity,
                                            "seen": self._lifted_seen})
        self.store.lift_halts(now, by)
        self.metrics.halted.set(0)
        log.info("halt_lifted", extra=kv(by=by))
        return True

    # ---- deciding ----------------------------------------------------------------------
    def context(self, plan: TradePlan, history: History, now: int, record: Record,
                clusters: Sequence[Cluster] = (), weight: float = 1.0) -> Context:
        """What assess needs beyond the portfolio, for a plan no halt stops (decide has
        checked)."""
        return Context(self.fraction(record), self.bucket(plan.symbol, history, now),
                       tuple(clusters), weight=weight)

    def bucket(self, symbol: str, history: History, now: int) -> frozenset[str]:
        """The symbols sharing `symbol`'s risk budget: its configured buckets, and whoever
        its returns move with. When the configured ones already hold every symbol the bot
        follows, correlation can join nobody else, and the window is not read."""
        configured = bucket_of(symbol, self.limits.buckets)
        if configured >= history.symbols.keys():
            return configured
        return bucket_of(symbol, self.limits.buckets, self.groups(history, now))

    def groups(self, history: History, now: int) -> list[frozenset[str]]:
        """Symbols moving together over the correlation window, once per market instant."""
        if self._groups[0] != now:
            returns = {}
            for sym in history.symbols:
                close = history.closes(sym, self.limits.correlation_bars + 1)
                if len(close) > 24:
                    returns[sym] = np.diff(np.log(close))
            self._groups = (now, correlated_groups(returns, self.limits.correlation))
        return self._groups[1]

    def decide(self, plan: TradePlan, p: Portfolio, market: MarketRules, history: History,
               now: int, record: Record, clusters: Sequence[Cluster] = (),
               weight: float = 1.0) -> Decision:
        halt = self.check_halt(p, now)
        refused = first_refusal(plan, p, market, self.limits, halt.reason if halt else None)
        if refused is not None:  # the record, the correlations and the map cannot change it
            return refused
        ctx = self.context(plan, history, now, record, clusters, weight)
        return assess(plan, p, market, self.limits, ctx)

    def record(self, plan: TradePlan, decision: Decision, now: int,
               trade_id: int | None) -> None:
        """Count and store a decision, linked to the trade it opened (after the order is
        out: the row is not on the way from market update to order)."""
        values = {"ts": now, "symbol": plan.symbol, "strategy": plan.strategy,
                  "approved": decision.approved, "trade_id": trade_id}
        if isinstance(decision, Approved):
            values |= {"size": decision.size, "risk_cash": decision.risk_cash,
                       "fraction": decision.fraction,
                       "cuts_json": json.dumps(list(decision.cuts))}
            result = "cut" if decision.cuts else "approved"
            self.metrics.decisions.labels(result, "").inc()
        else:
            values |= {"rule": decision.rule, "reason": decision.reason}
            self.metrics.decisions.labels("refused", decision.rule).inc()
        self.store.record_decision(row(RiskDecision, **values))
