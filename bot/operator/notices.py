"""What a person is told, as it happens: every new proposal and its answer (approved,
rejected, refused, expired, executed), every entry fill, stop move and exit, every halt and
every error the bot logs. Read from the store since the last look — so an answer given
from the command line or another process is told too — and handed to the sinks (the
webhook, Telegram), which queue and never block the loop."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import select

from bot.operator.status import price
from state.models import Alert, HaltRow, Proposal, TradeEvent
from state.store import Store

KEY = "notices"
# a trade's move -> what a person is told
MOVES = {"open": "fill", "t1_filled": "stop moved", "t2_filled": "stop moved",
         "closed": "exit", "failed": "error"}
ANSWERS = ("approved", "rejected", "refused", "expired", "executed")
FINAL = ("rejected", "refused", "expired", "executed")


@dataclass(frozen=True)
class Notice:
    kind: str  # proposal | approved | rejected | refused | expired | executed | fill |
    #            stop moved | exit | halt | error
    at: int  # market time, ms
    text: str  # one line a person reads
    data: dict = field(default_factory=dict)

    def payload(self) -> dict:
        return {"kind": self.kind, "ts": self.at, "text": self.text, **self.data}


class ErrorLog(logging.Handler):
    """The bot's ERROR log records, kept (bounded) until the next look."""

    def __init__(self, keep: int = 100) -> None:
        super().__init__(logging.ERROR)
        self.held: deque[logging.LogRecord] = deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        self.held.append(record)


class Notices:
    def __init__(self, store: Store, now: Callable[[], int],
                 ticks: Mapping[str, Decimal] | None = None) -> None:
        """`ticks`: each market's price tick, for the prices a person reads."""
        self.store, self.now, self.ticks = store, now, ticks or {}
        saved = store.get_meta(KEY, {})
        self.event_id: int = saved.get("event", self._last(TradeEvent))
        self.halt_id: int = saved.get("halt", self._last(HaltRow))
        self.proposal_id: int = saved.get("proposal", self._last(Proposal))
        self.alert_id: int = saved.get("alert", self._last(Alert))
        self.watched: dict[str, str] = saved.get("watched", {})  # proposal id -> status told
        self.errors = ErrorLog()
        logging.getLogger("derivbot").addHandler(self.errors)

    def close(self) -> None:
        logging.getLogger("derivbot").removeHandler(self.errors)

    def _last(self, model) -> int:
        row = self.store.session.exec(select(model.id).order_by(model.id.desc())).first()
        return row or 0

    def look(self) -> list[Notice]:
        """Everything new since the last look, oldest first within each kind."""
        out = (self._proposals() + self._trades() + self._halts() + self._routed()
               + self._errors())
        if out:
            self.store.set_meta(KEY, {"event": self.event_id, "halt": self.halt_id,
                                      "proposal": self.proposal_id, "alert": self.alert_id,
                                      "watched": self.watched})
        return out

    def _proposals(self) -> list[Notice]:
        q = select(Proposal).where((Proposal.id > self.proposal_id)
                                   | Proposal.id.in_([int(i) for i in self.watched]))
        out = []
        for p in self.store.session.exec(q.order_by(Proposal.id).execution_options(
                populate_existing=True)):
            self.proposal_id = max(self.proposal_id, p.id)
            told = self.watched.get(str(p.id))
            if told is None:  # first seen
                out.append(self._proposal(p, "proposal"))
                told = "pending"
            if told == "pending" and p.status in ("executing", "executed", "refused"):
                out.append(self._proposal(p, "approved"))  # answered and carried out since
            if p.status != told and p.status in ANSWERS:
                out.append(self._proposal(p, p.status))
            if p.status in FINAL:
                self.watched.pop(str(p.id), None)
            else:
                self.watched[str(p.id)] = p.status
        return out

    def _proposal(self, p: Proposal, kind: str) -> Notice:
        tick = self.ticks.get(p.symbol)
        what = (f"proposal #{p.id}: {p.strategy} {p.side} {p.size} {p.symbol} at "
                f"{price(p.entry, tick)}, stop {price(p.stop, tick)}")
        text = what if kind == "proposal" else f"proposal #{p.id} {kind}" + (
            f" by {p.decided_by}" if kind in ("approved", "rejected") and p.decided_by else "")
        if p.reason and kind in ("rejected", "refused", "expired"):
            text += f": {p.reason}"
        return Notice(kind, self.now(), text, {"proposal": p.id, "symbol": p.symbol})

    def _trades(self) -> list[Notice]:
        q = select(TradeEvent).where(TradeEvent.id > self.event_id).order_by(TradeEvent.id)
        out = []
        for e in self.store.session.exec(q):
            self.event_id = e.id
            kind = MOVES.get(e.to_state)
            if kind is not None:
                out.append(Notice(kind, e.at, f"trade #{e.trade_id} {kind}: {e.detail}",
                                  {"trade": e.trade_id, "state": e.to_state}))
        return out

    def _halts(self) -> list[Notice]:
        q = select(HaltRow).where(HaltRow.id > self.halt_id).order_by(HaltRow.id)
        out = []
        for h in self.store.session.exec(q):
            self.halt_id = h.id
            out.append(Notice("halt", h.since, f"new entries halted: {h.reason} "
                              f"(lifts: {h.release})", {"release": h.release}))
        return out

    def _routed(self) -> list[Notice]:
        """Alerts Alertmanager routed to the bot (its own alerts go out as they happen)."""
        top = self._last(Alert)
        if top <= self.alert_id:
            return []
        q = (select(Alert).where(Alert.id > self.alert_id).where(Alert.id <= top)
             .where(Alert.kind.startswith("alertmanager:")).order_by(Alert.id))
        out = [Notice("alert", a.ts, a.message, {"alert": a.kind.split(":", 1)[1]})
               for a in self.store.session.exec(q)]
        self.alert_id = top
        return out

    def _errors(self) -> list[Notice]:
        out = []
        while self.errors.held:
            r = self.errors.held.popleft()
            out.append(Notice("error", self.now(), f"{r.name}: {r.getMessage()}",
                              {"logger": r.name}))
        return out
