"""The approval gate: in live mode (and in paper when asked) a new position becomes a stored
proposal; a person approves or rejects it; on approval the plan is checked again against the
current price and risk, and executes at most once, never after its expiry. Scale-outs, stop
moves, exits and `derivbot flatten` never wait for approval."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from bot.logs import kv
from bot.operator.metrics import Metrics
from bot.operator.status import cash
from risk.manager import Approved, Decision, Refused
from state import proposals
from state.models import Proposal
from state.store import Store
from strategies.types import Direction, Target, TradePlan

log = logging.getLogger("derivbot.approval")
HOUR_MS = 3_600_000


class ApprovalGate:
    def __init__(self, required: bool, store: Store, metrics: Metrics, tolerance: float = 0.005,
                 expiry_bars: int = 1, min_wait: float = 0.0) -> None:
        self.required, self.store, self.metrics = required, store, metrics
        self.tolerance, self.expiry_bars, self.min_wait = tolerance, expiry_bars, min_wait

    def _times(self, now: int) -> dict:
        """A proposal's life: its signal's candle in market time, and at least `min_wait`
        wall seconds for a person to read and answer it."""
        return {"created_at": now, "expires_at": now + self.expiry_bars * HOUR_MS,
                "waits_until": proposals.wall_ms() + int(self.min_wait * 1000)}

    def holding(self) -> bool:
        """A proposal is pending within the wall time promised to a person."""
        wall = proposals.wall_ms()
        return any(p.waits_until > wall for p in proposals.listing(self.store, "pending"))

    def propose(self, ap: Approved, now: int, weight: float) -> Proposal:
        plan = ap.plan
        p = Proposal(**self._times(now), status="pending", strategy=plan.strategy,
                     symbol=plan.symbol, side=plan.direction.side, size=ap.size,
                     entry=plan.entry, stop=plan.stop,
                     targets_json=json.dumps([[t.price, t.fraction] for t in plan.targets]),
                     risk_cash=ap.risk_cash, margin=ap.margin, liquidation=ap.liquidation,
                     fraction=ap.fraction, weight=weight, atr=plan.atr, regime=plan.regime,
                     reasons_json=json.dumps(plan.reasons, default=str),
                     cuts_json=json.dumps(list(ap.cuts)))
        self.store.save(p)
        log.warning(
            "proposal",
            extra=kv(
                id=p.id,
                symbol=p.symbol,
                side=p.side,
                size=p.size,
                entry=p.entry,
                stop=p.stop,
                expires=p.expires_at,
            ),
        )
        return p

    def propose_basis(self, perp: str, amount, price: float, avg: float, leverage: float,
                      now: int) -> Proposal:
        """A delta-neutral pair: buy `amount` spot and sell as much of the perp."""
        p = Proposal(**self._times(now), status="pending", strategy="basis", symbol=perp,
                     side="spot long + perp short", size=amount, entry=price, stop=0.0,
                     targets_json="[]", risk_cash=0.0,
                     margin=float(amount) * price / leverage, liquidation=0.0,
                     reasons_json=json.dumps({"avg_funding_8h": avg}))
        self.store.save(p)
        log.warning(
            "proposal",
            extra=kv(
                id=p.id,
                basis=perp,
                amount=amount,
                price=price,
                avg_funding=round(avg, 5),
                expires=p.expires_at,
            ),
        )
        return p

    def ready(self, now: int, price_of=None) -> list[Proposal]:
        """Approved proposals still in time; the rest of the stale ones expire now, and so
        does a pending one past its wait whose price left the tolerance (`price_of`)."""
        wall = proposals.wall_ms()
        proposals.expire(self.store, now, wall)
        pending = proposals.listing(self.store, "pending")
        if price_of is not None:
            for p in pending:
                price = price_of(p.symbol)
                if p.waits_until <= wall and abs(price / p.entry - 1) > self.tolerance:
                    proposals.drop(self.store, p.id, f"price left the {self.tolerance:.2%} "
                                   f"tolerance: {cash(p.entry)} then, {cash(price)} now")
            pending = [p for p in pending if p.status == "pending"]
        self.metrics.proposals_pending.set(len(pending))
        # how long a person has had it, in wall time (market time runs faster in paper)
        made = int(self.min_wait * 1000)
        self.metrics.proposal_age.set(max(((wall - (p.waits_until - made)) / 1000
                                           for p in pending), default=0))
        return proposals.listing(self.store, "approved")

    @staticmethod
    def plan_of(p: Proposal) -> TradePlan:
        return TradePlan(p.strategy, p.symbol, Direction.LONG if p.side == "long" else
                         Direction.SHORT, p.entry, p.stop,
                         tuple(Target(px, f) for px, f in json.loads(p.targets_json)),
                         p.regime, p.atr, p.created_at,
                         is_fade=p.strategy != "liquidation_magnet",
                         reasons=json.loads(p.reasons_json))

    def recheck(self, p: Proposal, price: float, fresh: Decision) -> Approved | str:
        """The approved plan against the market now: price within tolerance, risk still fits."""
        moved = abs(price / p.entry - 1)
        if moved > self.tolerance:
            return (f"price moved {moved:.2%} from {p.entry:.2f} to {price:.2f}, beyond the "
                    f"{self.tolerance:.2%} tolerance")
        if isinstance(fresh, Refused):
            return f"risk no longer fits: {fresh.rule}: {fresh.reason}"
        if fresh.size > p.size:  # never more than the person approved
            fresh = replace(fresh, size=p.size)
        return fresh
