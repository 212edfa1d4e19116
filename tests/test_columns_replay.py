"""A replay reads its modules from the whole history's rows; the same replay reading each
decision's view instead writes the same database, table by table."""

import asyncio
import runpy
import sqlite3
from pathlib import Path

from bot.app import modes
from bot.config import load_config
from tests.helpers import HOUR, T0

ROOT = Path(__file__).resolve().parents[1]


def test_a_replay_reading_rows_is_the_replay_reading_views_table_by_table(synth_dir, tmp_path,
                                                                         monkeypatch):
    """The default config replayed twice over the synthetic market — its modules read from
    the whole history's rows, and from each decision's view — writes the same database:
    trades, orders, fills, risk decisions, every signal row, alerts and equity."""


    compare = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" /
                                 "compare_replays.py"))["compare"]

    cfg = load_config(Path(__file__).resolve().parents[1] / "config.toml")
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"dir": str(synth_dir)})})
    until = T0 + 120 * 24 * HOUR  # the market's first 120 days
    asyncio.run(modes.replay(cfg, synth_dir, tmp_path / "rows", progress=False, until=until))
    monkeypatch.setattr(modes, "precompute", lambda *args: {})
    asyncio.run(modes.replay(cfg, synth_dir, tmp_path / "views", progress=False, until=until))
    assert compare(str(tmp_path / "rows" / "derivbot.db"),
                   str(tmp_path / "views" / "derivbot.db")) == []
    rows = sqlite3.connect(tmp_path / "rows" / "derivbot.db")
    assert rows.execute("SELECT count(*) FROM trade").fetchone()[0] > 3  # it traded
