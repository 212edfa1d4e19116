"""The store: every write and read of the bot's SQLite database.

Orders, fills and trades are written as they happen and committed (synchronous=FULL, WAL)
before the exchange hears of anything that depends on them: the order manager commits
right before each order it sends or cancels, and at the end of every sync, so a crash
loses at most what the exchange itself still knows (reconciliation reads it back). Other
rows are committed at once; telemetry (signals, equity) is buffered and written in batches.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, event, insert
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, SQLModel, create_engine, select

from state.models import (
    Alert,
    AuditRow,
    BasisEvent,
    BasisTrade,
    EquityRow,
    FillRow,
    FundingRow,
    HaltRow,
    Order,
    PositionRow,
    RiskDecision,
    SignalRow,
    Trade,
)
from state.sqlite import StoreError, add_new_columns, pragmas, pragmas_fast, usable
from state.upsert import upsert_plan

OPEN_TRADE_STATES = ("pending_entry", "open", "t1_filled", "t2_filled")
OPEN_BASIS_STATES = ("opening", "open", "closing")


class Store:
    def __init__(self, path: str | Path, telemetry_batch: int = 500, durable: bool = True
                 ) -> None:
        """durable=False (a replay's report database, re-made by running it again) skips
        the fsync of every commit; trading sessions are always durable."""
        self.path = Path(path)
        if str(path) != ":memory:":
            usable(self.path)
        self.engine = create_engine(f"sqlite:///{path}")
        event.listen(self.engine, "connect", pragmas if durable else pragmas_fast)
        try:
            SQLModel.metadata.create_all(self.engine)
            add_new_columns(self.engine)
            with self.engine.begin() as conn:  # old databases get it too
                conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_funding_payment_symbol_ts "
                                     "ON funding_payment (symbol, ts)")
        except (DatabaseError, sqlite3.DatabaseError) as err:
            self.engine.dispose()
            raise StoreError(f"{path}: not a usable derivbot database "
                             f"({getattr(err, 'orig', err)}); nothing was changed — move it "
                             "aside, or restore a good copy") from None
        self.session = Session(self.engine, expire_on_commit=False)
        self._conn: sqlite3.Connection | None = None  # the session's, while its transaction lasts
        event.listen(self.session, "after_transaction_end", self._forget_connection)
        self.batch = telemetry_batch
        self._open = False  # written, not yet committed
        self.commits = 0  # transactions this store has committed (the benchmarks count them)
        # called before each commit that writes: what must share every transaction (a paper
        # session's simulated exchange, whose state must agree with the book after a crash)
        self.on_commit: Callable[[], None] | None = None
        self._signals: list[dict] = []
        self._equity: list[dict] = []
        self._alerts: list[dict] = []

    def close(self) -> None:
        self.flush()  # commits what was written, too
        self.session.close()
        self.engine.dispose()

    # ---- writes ---------------------------------------------------------------------------
    def save(self, *rows: Any) -> None:
        """Rows written and committed now, with everything written before them."""
        self.add(*rows)
        self.commit()

    def commit(self) -> None:
        """Everything written since the last commit, in one transaction (nothing: no-op).
        Only plain statements written: the sqlite3 connection commits them itself (the
        session's commit costs ≈ 10× that, for rows it does not hold)."""
        session = self.session
        held = bool(session.new or session.dirty or session.deleted)  # rows the session holds
        if self.on_commit is not None and (held or self._open):
            self.on_commit()  # what must land in the same transaction as any write
            held = bool(session.new or session.dirty or session.deleted)
        if held:
            session.commit()
            self.commits += 1
        elif self._open and self._conn is not None:
            self._conn.commit()
            self.commits += 1
        self._open = False

    def add(self, *rows: Any) -> None:
        """Rows written in the open transaction, durable at the next commit (see above).
        Orders, trades, fills, funding and risk decisions — the rows of the way to the
        exchange — go as one plain upsert each and are never tracked by the session (its
        unit of work cost ~10× the statement)."""
        for row in rows:
            if isinstance(row, WRITTEN_THROUGH):
                self._put(row)
            else:
                self.session.add(row)

    def stage(self, *rows: Any) -> None:
        """Rows given their ids now and committed with the next commit (one fsync, and a
        crash leaves both or neither)."""
        self.add(*rows)
        self.session.flush()

    def _put(self, row: Any) -> None:
        plan = upsert_plan(type(row))
        done = self._exec(plan.sql, plan.values(row))
        if plan.auto is not None and getattr(row, plan.auto) is None:
            setattr(row, plan.auto, done.lastrowid)

    def _detached(self, query) -> list:
        """Orders and trades as read now, not tracked by the session (written by _put)."""
        rows = list(self.session.exec(query.execution_options(populate_existing=True)))
        for row in rows:
            self.session.expunge(row)
        return rows

    def add_basis_event(self, pair: BasisTrade, to_state: str, at: int, detail: str = ""
                        ) -> None:
        self.session.add(BasisEvent(basis_id=pair.id, at=at, from_state=pair.state,
                                    to_state=to_state, detail=detail))
        pair.state = to_state
        self.save(pair)

    def basis_events(self, basis_id: int) -> list[BasisEvent]:
        q = select(BasisEvent).where(BasisEvent.basis_id == basis_id)
        return list(self.session.exec(q.order_by(BasisEvent.id)))

    def add_trade_event(self, trade: Trade, to_state: str, at: int, detail: str = "") -> None:
        """The trade's move and its event, written (committed with the next commit)."""
        self._exec("INSERT INTO tradeevent (trade_id, at, from_state, to_state, detail) "
                  "VALUES (?, ?, ?, ?, ?)", (trade.id, at, trade.state, to_state, detail))
        trade.state = to_state
        self.add(trade)

    def record_order(self, order: Order, at: int, detail: str = "", *also: Any) -> None:
        """The order's new state, its event, and any rows it changed (its trade), written
        in one transaction: a crash leaves all of them or none. The caller commits before
        the order goes to the exchange."""
        order.updated_at = at
        self._exec("INSERT INTO orderevent (client_id, at, state, filled, detail) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (order.client_id, at, order.state, str(Decimal(order.filled)), detail))
        self.add(order, *also)

    def new_trade_id(self) -> int:
        """The id the next trade gets: known before anything is written, so a trade and its
        entry order go to the database in one flush (the bot is the trade table's writer)."""
        return self._value("SELECT COALESCE(MAX(id), 0) + 1 FROM trade")

    def _sql(self, statement: str, params: tuple = ()) -> sqlite3.Cursor:
        """A plain statement in the session's transaction (append-only audit rows and meta:
        no object to track; 10× cheaper than the ORM's unit of work), given straight to
        the session's sqlite3 connection (7× cheaper than through SQLAlchemy's Core)."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self.session.connection().connection.driver_connection
        return conn.execute(statement, params)

    def _forget_connection(self, _session: Session, _transaction: Any) -> None:
        self._conn = None  # the session may take another one from the pool next time

    def _exec(self, statement: str, params: tuple = ()) -> sqlite3.Cursor:
        """_sql for a statement that writes: committed with the next commit."""
        self._open = True
        return self._sql(statement, params)

    def _value(self, statement: str, params: tuple = ()) -> Any:
        """The first column of the first row, or None."""
        row = self._sql(statement, params).fetchone()
        return None if row is None else row[0]

    def record_decision(self, row: RiskDecision) -> None:
        """Written now, committed with the tick (or the next order sent, whichever first)."""
        self.add(row)

    # meta rows are read and written with plain statements, never through the session's
    # identity map (another process may change them; the ORM's merge took 1.7 ms)
    def set_meta(self, key: str, value: Any) -> None:
        self.put_meta(key, value)
        self.commit()

    def put_meta(self, key: str, value: Any) -> None:
        """Set a meta key inside the open transaction: it lands with the next commit."""
        self._exec("INSERT INTO meta (key, value) VALUES (?, ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   (key, json.dumps(value)))

    def delete_meta(self, key: str) -> None:
        self._exec("DELETE FROM meta WHERE key = ?", (key,))
        self.commit()

    def get_meta(self, key: str, default: Any = None) -> Any:
        value = self._value("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    def replace_positions(self, rows: Iterable[PositionRow]) -> None:
        for old in self.session.exec(select(PositionRow)).all():
            self.session.delete(old)
        self.session.flush()
        self.save(*rows)

    # ---- buffered telemetry ---------------------------------------------------------------
    def add_signal(self, ts: int, symbol: str, module: str, direction: int, strength: float,
                   reasons: dict) -> None:
        self._signals.append({"ts": ts, "symbol": symbol, "module": module,
                              "direction": direction, "strength": strength,
                              "reasons_json": json.dumps(reasons, default=_jsonable)})
        if len(self._signals) >= self.batch:
            self.flush()

    def add_equity(self, ts: int, equity: Decimal, wallet: Decimal, open_positions: int) -> None:
        self._equity.append({"ts": ts, "equity": str(equity), "wallet": str(wallet),
                             "open_positions": open_positions})
        if len(self._equity) >= self.batch:
            self.flush()

    def add_alert(self, ts: int, symbol: str, kind: str, message: str, details: dict) -> None:
        self._alerts.append({"ts": ts, "symbol": symbol, "kind": kind, "message": message,
                             "details_json": json.dumps(details, default=_jsonable)})
        if len(self._alerts) >= self.batch:
            self.flush()

    @contextmanager
    def apart(self) -> Iterator[Connection]:
        """A transaction on a connection of its own (telemetry batches, the conditional
        updates another process may race), begun once everything written so far is
        committed: a write left open on the session's connection would lock it out."""
        self.commit()
        with self.engine.begin() as conn:
            yield conn
        self.commits += 1

    def flush(self) -> None:
        with self.apart() as conn:
            if self._alerts:
                conn.execute(insert(Alert), self._alerts)
            if self._signals:
                conn.execute(insert(SignalRow), self._signals)
            if self._equity:
                conn.execute(insert(EquityRow).prefix_with("OR REPLACE"), self._equity)
        self._signals, self._equity, self._alerts = [], [], []

    # ---- reads ----------------------------------------------------------------------------
    def open_trades(self) -> list[Trade]:
        return self._detached(select(Trade).where(Trade.state.in_(OPEN_TRADE_STATES)))

    def trades(self) -> list[Trade]:
        return self._detached(select(Trade).order_by(Trade.id))

    def orders(self, trade_id: int | None = None, working: bool = False) -> list[Order]:
        q = select(Order)
        if trade_id is not None:
            q = q.where(Order.trade_id == trade_id)
        if working:
            q = q.where(Order.state.in_(("pending_create", "open")))
        return self._detached(q.order_by(Order.updated_at, Order.client_id))

    def open_basis(self) -> list[BasisTrade]:
        q = select(BasisTrade).where(BasisTrade.state.in_(OPEN_BASIS_STATES))
        return list(self.session.exec(q.order_by(BasisTrade.id)))

    def basis_trades(self) -> list[BasisTrade]:
        return list(self.session.exec(select(BasisTrade).order_by(BasisTrade.id)))

    def basis_orders(self, basis_id: int) -> list[Order]:
        q = select(Order).where(Order.basis_id == basis_id)
        return self._detached(q.order_by(Order.updated_at, Order.client_id))

    def basis_held_at(self, perp: str, ts: int) -> BasisTrade | None:
        """The basis pair on `perp` that was under way at `ts`."""
        q = (select(BasisTrade).where(BasisTrade.perp == perp, BasisTrade.created_at <= ts,
                                      (BasisTrade.closed_at.is_(None))
                                      | (BasisTrade.closed_at >= ts))
             .order_by(BasisTrade.created_at.desc()))
        return self.session.exec(q).first()

    def fills(self, trade_id: int | None = None) -> list[FillRow]:
        q = select(FillRow) if trade_id is None else select(FillRow).where(
            FillRow.trade_id == trade_id)
        return list(self.session.exec(q.order_by(FillRow.id)))

    def funding(self, trade_id: int | None = None) -> list[FundingRow]:
        q = select(FundingRow) if trade_id is None else select(FundingRow).where(
            FundingRow.trade_id == trade_id)
        return list(self.session.exec(q.order_by(FundingRow.id)))

    # the dedup checks read the rows written so far, committed or not (fills and funding
    # are written as they come, in the transaction these statements share)
    def has_fill(self, symbol: str, fill_id: str) -> bool:
        return self._sql("SELECT 1 FROM fill WHERE fill_id = ? AND symbol = ? LIMIT 1",
                         (fill_id, symbol)).fetchone() is not None

    def has_funding(self, symbol: str, ts: int) -> bool:
        return self._sql("SELECT 1 FROM funding_payment WHERE symbol = ? AND ts = ? LIMIT 1",
                         (symbol, ts)).fetchone() is not None

    def trade_open_at(self, symbol: str, ts: int) -> Trade | None:
        """The latest trade on `symbol` that had opened by `ts`."""
        q = (select(Trade).where(Trade.symbol == symbol, Trade.opened_at.is_not(None),
                                 Trade.opened_at <= ts).order_by(Trade.opened_at.desc()))
        return next(iter(self._detached(q.limit(1))), None)

    def latest_equity(self) -> EquityRow | None:
        """The newest equity row (those still buffered included)."""
        self.flush()
        return self.session.exec(select(EquityRow).order_by(EquityRow.ts.desc()).limit(1)
                                 ).first()

    def last_equity(self) -> float | None:
        row = self.latest_equity()
        return None if row is None else float(row.equity)

    def equity_curve(self) -> list[EquityRow]:
        self.flush()
        return list(self.session.exec(select(EquityRow).order_by(EquityRow.ts)))

    def equity_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The equity curve as two columns, ms times and equity as floats, for reports and
        charts: one plain read, not a row object per bar (58 000 of them, a second each
        time, for seven years of hours)."""
        self.flush()
        rows = self._sql("SELECT ts, equity FROM equity ORDER BY ts").fetchall()
        return (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                np.fromiter((float(r[1]) for r in rows), dtype=np.float64, count=len(rows)))

    def positions(self) -> list[PositionRow]:
        return list(self.session.exec(select(PositionRow)))

    def audit(self, at: int, market_at: int, who: str, where: str, action: str,
              target: str = "", result: str = "") -> None:
        """A person's action and its outcome, committed now."""
        self._exec("INSERT INTO audit (at, market_at, who, \"where\", action, target, result) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (at, market_at, who, where, action, target, result))
        self.commit()

    def audits(self) -> list:
        return list(self.session.exec(select(AuditRow).order_by(AuditRow.id)
                                      .execution_options(populate_existing=True)))

    def add_halt(self, since: int, reason: str, release: str) -> None:
        self._exec("INSERT INTO halt (since, reason, release, lifted_by) VALUES (?, ?, ?, '')",
                   (since, reason, release))
        self.commit()

    def lift_halts(self, at: int, by: str) -> None:
        """Every halt still on is lifted now, by `by`."""
        self._exec("UPDATE halt SET lifted_at = ?, lifted_by = ? WHERE lifted_at IS NULL",
                   (at, by))
        self.commit()

    def halts(self) -> list[HaltRow]:
        return list(self.session.exec(select(HaltRow).order_by(HaltRow.id)))

    def alerts(self, last: int | None = None) -> list[Alert]:
        """Every alert, oldest first; or only the `last` ones."""
        self.flush()
        return _tail(self.session, select(Alert), Alert.id, last)

    def decisions(self) -> list[RiskDecision]:
        return list(self.session.exec(select(RiskDecision).order_by(RiskDecision.id)))

    def signals(self, module: str | None = None, last: int | None = None) -> list[SignalRow]:
        """The signal rows (of one module), oldest first; or only the `last` ones."""
        self.flush()
        q = select(SignalRow) if module is None else select(SignalRow).where(
            SignalRow.module == module)
        return _tail(self.session, q, SignalRow.id, last)


def _tail(session: Session, q, key, last: int | None) -> list:
    """q's rows in `key` order; with `last`, only the newest `last` of them (read as such,
    not all read and sliced)."""
    if last is None:
        return list(session.exec(q.order_by(key)))
    return list(reversed(session.exec(q.order_by(key.desc()).limit(last)).all()))


WRITTEN_THROUGH = (Order, Trade, FillRow, FundingRow, RiskDecision)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return str(value)
