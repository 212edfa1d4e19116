"""Opening the SQLite file: whether the path can hold a database, the connection's
pragmas, and the columns a newer version added to an older database."""

from __future__ import annotations

import os
from pathlib import Path

from sqlmodel import SQLModel


class StoreError(ValueError):
    """The database cannot be opened as one: the message names the file and why."""


def usable(path: Path) -> None:
    """The database's folder can hold it and the path is a file (or nothing yet)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"{path.parent}: is a file, not a folder for the database") from None
    except PermissionError:
        raise StoreError(f"{path.parent}: cannot be created (permission denied)") from None
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a database file")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"{path}: not readable and writable (permission denied)")


def add_new_columns(engine) -> None:
    """A database made by an older version gains the columns added since (all nullable or
    defaulted), so nothing stored is lost on upgrade."""
    with engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            have = {row[1] for row in conn.exec_driver_sql(f'PRAGMA table_info("{table.name}")')}
            for col in table.columns:
                if col.name not in have:
                    kind = col.type.compile(engine.dialect)
                    conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" '
                                         f"{kind}")


def pragmas_fast(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
