"""Proposal transitions as single conditional UPDATEs, so two approvers (or two processes)
can never both win: each status change happens at most once."""

from __future__ import annotations

import time

from sqlalchemy import update
from sqlmodel import select

from state.models import Proposal
from state.store import Store

FINAL = ("rejected", "expired", "executed", "refused")


class ProposalError(ValueError):
    pass


def _move(store: Store, pid: int, from_: tuple[str, ...], to: str, **values) -> bool:
    with store.apart() as conn:
        res = conn.execute(update(Proposal).where(Proposal.id == pid)
                           .where(Proposal.status.in_(from_)).values(status=to, **values))
    return res.rowcount == 1


def get(store: Store, pid: int) -> Proposal | None:
    return store.session.get(Proposal, pid, populate_existing=True)


def parse_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise ProposalError(f"proposal id must be a positive whole number, got {text!r}")
    return int(text)


def wall_ms() -> int:
    return int(time.time() * 1000)


def in_time(p: Proposal, now: int, wall: int) -> bool:
    """A proposal lives through its signal's expiry (market time), and in any case until
    the wall time it promised a person (`waits_until`)."""
    return now <= p.expires_at or wall < p.waits_until


def decide(store: Store, pid: int, approve: bool, by: str, now: int, reason: str = "",
           wall: int | None = None) -> str:
    """A person's answer. Returns what happened; raises ProposalError with a clear reason."""
    p = get(store, pid)
    if p is None:
        raise ProposalError(f"no proposal {pid}")
    if p.status == "pending" and not in_time(p, now, wall_ms() if wall is None else wall):
        _move(store, pid, ("pending",), "expired", reason="expired before a decision")
        raise ProposalError(f"proposal {pid} expired at {p.expires_at}; nothing will execute")
    to = "approved" if approve else "rejected"
    if not _move(store, pid, ("pending",), to, decided_by=by, decided_at=now, reason=reason):
        p = get(store, pid)
        raise ProposalError(f"proposal {pid} is already {p.status}"
                            + (f" (by {p.decided_by})" if p.decided_by else ""))
    return f"proposal {pid} {to} by {by}"


def claim(store: Store, pid: int) -> bool:
    """The runner takes an approved proposal for execution: true for exactly one caller."""
    return _move(store, pid, ("approved",), "executing")


def finish(store: Store, pid: int, status: str, reason: str = "",
           trade_id: int | None = None) -> None:
    _move(store, pid, ("executing",), status, reason=reason, trade_id=trade_id)


def expire(store: Store, now: int, wall: int | None = None) -> int:
    """Proposals past their expiry (valid through the expiry instant itself) and past the
    wall time promised to a person expire."""
    wall = wall_ms() if wall is None else wall
    with store.apart() as conn:
        res = conn.execute(update(Proposal).where(Proposal.status.in_(("pending", "approved")))
                           .where(Proposal.expires_at < now)
                           .where(Proposal.waits_until <= wall)
                           .values(status="expired", reason="expired before execution"))
    return res.rowcount


def drop(store: Store, pid: int, reason: str) -> bool:
    """A pending proposal ends unanswered, with the reason a person reads."""
    return _move(store, pid, ("pending",), "expired", reason=reason)


def answered(store: Store, last: int) -> list[Proposal]:
    """The newest `last` proposals no longer pending, newest first."""
    q = (select(Proposal).where(Proposal.status != "pending").order_by(Proposal.id.desc())
         .limit(last).execution_options(populate_existing=True))
    return list(store.session.exec(q))


def listing(store: Store, status: str | None = None) -> list[Proposal]:
    q = select(Proposal).execution_options(populate_existing=True)
    if status:
        q = q.where(Proposal.status == status)
    return list(store.session.exec(q.order_by(Proposal.id)))
