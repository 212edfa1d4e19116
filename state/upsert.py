"""One plain INSERT … ON CONFLICT DO UPDATE per table, for the rows the store writes
through (orders, trades, fills, funding, risk decisions) without the ORM's unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Boolean

from state.models import DecimalText


@dataclass(frozen=True)
class UpsertPlan:
    sql: str
    getters: tuple[tuple[str, Callable[[Any], Any]], ...]
    auto: str | None  # an integer key SQLite assigns when the row has none

    def values(self, row: Any) -> tuple:
        fields = row.__dict__  # every column of a row built or read whole (no lazy loads)
        return tuple(conv(fields[name] if name in fields else getattr(row, name))
                     for name, conv in self.getters)


@cache
def upsert_plan(model: type) -> UpsertPlan:
    """One INSERT … ON CONFLICT DO UPDATE for a table, with each column's value converted as
    its SQLAlchemy type would bind it (money as the Decimal's text, booleans as 0/1)."""
    table = model.__table__
    cols = list(table.columns)
    keys = [c.name for c in table.primary_key.columns]
    names = ", ".join(f'"{c.name}"' for c in cols)
    sets = ", ".join(f'"{c.name}" = excluded."{c.name}"' for c in cols if c.name not in keys)
    sql = (f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(cols))}) '
           f'ON CONFLICT ({", ".join(keys)}) DO UPDATE SET {sets}')
    auto = table.autoincrement_column
    return UpsertPlan(sql, tuple((c.name, _binder(c.type)) for c in cols),
                       None if auto is None else auto.name)


def _binder(kind) -> Callable[[Any], Any]:
    if isinstance(kind, DecimalText):
        return _money_text
    if isinstance(kind, Boolean):
        return _flag
    return _same


def _money_text(value: Any) -> str | None:
    return None if value is None else str(Decimal(value))


def _flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _same(value: Any) -> Any:
    return value
