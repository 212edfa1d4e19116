"""The database outliving a disk fault: online copies through SQLite's backup API (a
consistent snapshot while the bot writes), the last N kept; a check (SQLite's integrity
check and the ledger's own identities); a restore of a copy, the current file kept aside."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path


def backup(db: Path, keep: int) -> Path | None:
    """A consistent copy of `db` under backups/ beside it; the oldest beyond `keep` go.
    None when there is nothing to copy yet (or keep is 0)."""
    if keep <= 0 or not db.exists() or db.stat().st_size == 0:
        return None
    folder = db.parent / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{db.stem}-{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 10**6:06d}.db"
    src, dst = sqlite3.connect(db), sqlite3.connect(out)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    for old in copies(db)[:-keep]:
        old.unlink()
    return out


def copies(db: Path) -> list[Path]:
    """The backups of `db`, oldest first."""
    folder = db.parent / "backups"
    return sorted(folder.glob(f"{db.stem}-*.db")) if folder.is_dir() else []


def check(db: Path) -> list[str]:
    """What is wrong with `db` (empty: nothing): SQLite's integrity check, then the
    ledger's identities — each closed trade's exits within what filled, no trade closed
    without a close time, no order of a trade that does not exist."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        except sqlite3.DatabaseError as err:
            return [f"not a readable SQLite database: {err}"]
        if problems:
            return problems
        if not {"trade", "order"} <= {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}:
            return ["not a derivbot database: no trade and order tables"]
        q = conn.execute
        problems += [f"trade {i}: exited {e} is more than filled {f}" for i, e, f in q(
            "SELECT id, exited, filled FROM trade WHERE CAST(exited AS REAL) > "
            "CAST(filled AS REAL) + 1e-12")]
        problems += [f"trade {i}: closed without a close time" for (i,) in q(
            "SELECT id FROM trade WHERE state = 'closed' AND closed_at IS NULL")]
        problems += [f"order {c}: its trade {t} does not exist" for c, t in q(
            'SELECT client_id, trade_id FROM "order" WHERE trade_id IS NOT NULL AND '
            "trade_id NOT IN (SELECT id FROM trade)")]
        return problems
    finally:
        conn.close()


def restore(copy: Path, db: Path) -> Path:
    """`copy` becomes `db`; the current file is kept aside (returned) — nothing is lost."""
    aside = db.with_name(f"{db.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
    if db.exists():
        shutil.move(db, aside)
    for extra in ("-wal", "-shm"):
        Path(f"{db}{extra}").unlink(missing_ok=True)
    shutil.copyfile(copy, db)
    return aside
