"""Approved proposals carried out: each is claimed once, checked again against the market
and the risk rules of now, then executed — or refused with the reason a person reads."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace

from bot.execution.account import Account
from bot.execution.basis import BasisDesk
from bot.execution.orders import OrderManager
from bot.execution.riskdesk import RiskDesk
from bot.logs import kv
from bot.marketdata.history import History
from bot.markets import Market
from bot.operator.approval import ApprovalGate
from state import proposals
from state.store import Store
from strategies.basis import exit_reason

log = logging.getLogger("derivbot.approvals")


class ApprovedProposals:
    def __init__(self, gate: ApprovalGate, store: Store, history: History, om: OrderManager,
                 risk: RiskDesk, basis: BasisDesk | None, account: Account,
                 markets: dict[str, Market], basis_exit_rate: float) -> None:
        self.gate, self.store, self.history, self.om = gate, store, history, om
        self.risk, self.basis, self.account, self.markets = risk, basis, account, markets
        self.basis_exit_rate = basis_exit_rate

    async def execute(self, now: int) -> None:
        """Approved proposals: checked again, then executed once (or refused with why)."""
        for p in self.gate.ready(now, self._price):
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
            portfolio = await self.account.portfolio(now, self.om.open_risk())
            fresh = self.risk.decide(repriced, portfolio, self.markets[p.symbol].rules(),
                                     self.history, now, self.om, (), p.weight)
            out = self.gate.recheck(p, price, fresh)
            if isinstance(out, str):
                self.risk.record(repriced, fresh, now, None)
                proposals.finish(self.store, p.id, "refused", out)
                log.warning("proposal_refused", extra=kv(id=p.id, reason=out))
                continue
            trade = await self.om.open_trade(out)
            self.risk.record(repriced, fresh, now, trade.id)
            proposals.finish(self.store, p.id, "executed", trade_id=trade.id)
            log.info("proposal_executed", extra=kv(id=p.id, trade=trade.id))

    def _price(self, symbol: str) -> float:
        return self.history.last_close(symbol)

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
                         self.basis_exit_rate) is not None:
            why = "funding no longer pays"
        if why is None:
            equity = await self.account.equity()
            spot = next(s for q, s in self.basis.pairs() if q == p.symbol)
            reasons = json.loads(p.reasons_json)
            pair = await self.basis.open(p.symbol, spot, equity, price,
                                         reasons.get("avg_funding_8h", 0.0), cap=p.size)
            if pair is not None:
                proposals.finish(self.store, p.id, "executed", f"basis pair {pair.id}")
                log.info("proposal_executed", extra=kv(id=p.id, basis=pair.id))
                return
            why = "below the market's minimum size now"
        proposals.finish(self.store, p.id, "refused", why)
        log.warning("proposal_refused", extra=kv(id=p.id, reason=why))
