"""SIGKILL a default paper session (the simulated exchange inside the bot's own process) 50
times — at random instants and at named failpoints — and restart it each time: the
simulated exchange's state is committed in every transaction that writes the book (a tick's
end, an order's write-ahead), so at the end the database and the exchange agree to the last
digit."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from bot.types import parse_any_client_id
from state.store import Store
from tests.lives import kill_lives

BIN = Path(sys.executable).parent / "derivbot"
KILLS = 50
TARGETS = ("entry.sent:1", "t1.filled:1", "stop.moved:1", "basis.leg:1", "stop.sent:2")
START = Decimal(100_000)


def test_a_paper_session_killed_50_times_agrees_with_its_exchange(synth_dir, tmp_path):
    (tmp_path / "config.toml").write_text(
        f'[data]\ndir = "{synth_dir}"\n[paper]\ntime_scale = 1e9\nwarmup_bars = 170\n'
        '[metrics]\nenabled = false\n[operator]\nenabled = false\n'
        '[basis]\nenabled = true\naverage_days = 1\nentry_rate = 0.00005\n'
        'exit_rate = 0.00003\n')
    kills, targeted = kill_lives([str(BIN), "run"], tmp_path, KILLS, TARGETS,
                                 random.Random(11))
    final = subprocess.run([str(BIN), "run", "--max-ticks", "3"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, check=False)
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= KILLS and len(targeted) >= 3, targeted

    db = tmp_path / "var" / "derivbot.db"
    with sqlite3.connect(db) as con:
        ex = json.loads(con.execute("SELECT value FROM meta WHERE key = 'sim_state'")
                        .fetchone()[0])
    store = Store(db)
    trades = {t.id: t for t in store.trades()}
    baskets = {b.id: b for b in store.basis_trades()}
    store.close()
    assert trades, "the session traded"

    ids = [o["client_id"] for o in ex["orders"]]
    assert len(ids) == len(set(ids)), "a client order id was used twice"
    for cid in ids:  # no order without its trade or pair in the database
        kind, owner, _leg, _seq = parse_any_client_id(cid) or (None, None, None, None)
        assert kind is not None, cid
        assert owner in (trades if kind == "trade" else baskets), cid
    orders = {o["client_id"]: o for o in ex["orders"]}
    working = [orders[c] for c in ex["open"]]
    basis_perps = {b.perp for b in baskets.values() if b.state != "closed"}
    for symbol, (contracts, *_rest) in ex["positions"].items():
        if Decimal(contracts) == 0 or symbol in basis_perps:
            continue
        assert [o for o in working if o["symbol"] == symbol and o["type"] == "stop_market"
                and o["reduce_only"]], f"{symbol}: a position without its stop"
        held = sum((t.filled - t.exited) * (1 if t.side == "long" else -1)
                   for t in trades.values() if t.symbol == symbol and t.state != "closed")
        assert held == Decimal(contracts), symbol  # the book's size is the exchange's
    for b in baskets.values():  # never one leg alone
        assert b.state in ("open", "closed", "failed"), (b.id, b.state)

    fees = sum((t.fees for t in trades.values()), Decimal(0)) + sum(
        (b.fees for b in baskets.values()), Decimal(0))
    funding = sum((t.funding for t in trades.values()), Decimal(0)) + sum(
        (b.funding for b in baskets.values()), Decimal(0))
    assert (Decimal(ex["fees_paid"]), Decimal(ex["funding_paid"])) == (fees, funding)
    booked = sum((t.realised - t.fees + t.funding for t in trades.values()), Decimal(0))
    futures = Decimal(ex["wallet"]) - START + Decimal(ex["transferred"])
    assert futures == booked + sum((b.perp_realised - b.perp_fees + b.funding
                                    for b in baskets.values()), Decimal(0))
