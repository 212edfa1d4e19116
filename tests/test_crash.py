"""SIGKILL the bot 50+ times while it trades a local exchange over a replay — at random
instants, and at named failpoints (entry sent, T1 filled, stop moved to breakeven, one
basis leg placed); restart it each time; at the end the database and the exchange agree."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import urllib.request
from decimal import Decimal
from pathlib import Path

from bot.types import parse_any_client_id
from state.store import Store
from tests.helpers import free_port
from tests.lives import kill_lives

BIN = Path(sys.executable).parent / "derivbot"
KILLS = 50
# every third life dies at one of these (point:n = the n-th time it is passed)
TARGETS = ("basis.leg:1", "entry.sent:1", "t1.filled:1", "stop.moved:1", "basis.leg:2",
           "stop.sent:2", "t1.sent:1", "exit.sent:1")


def _config(tmp_path: Path, data: Path, port: int) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{data}"\n'
                   f'[exchange]\ngateway = "ccxt"\nlocal_url = "http://127.0.0.1:{port}"\n'
                   'rate_limit_ms = 0\nthrottle = false\n'
                   '[paper]\ntime_scale = 1e9\nwarmup_bars = 170\n'
                   '[metrics]\nenabled = false\n[operator]\nenabled = false\n'
                   # a low bar, so that pairs open and close many times in the run
                   '[basis]\nenabled = true\naverage_days = 1\nentry_rate = 0.00005\n'
                   'exit_rate = 0.00003\n')
    return cfg


def test_sigkill_at_50_points_then_every_invariant_holds(synth_dir, tmp_path):
    port = free_port()
    cfg = _config(tmp_path, synth_dir, port)
    env = os.environ.copy()
    server = subprocess.Popen([str(BIN), "exchange", "serve", "--config", str(cfg), "--port",
                               str(port), "--no-limits"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert "local exchange" in server.stdout.readline()
        kills, targeted = kill_lives([str(BIN), "run", "--config", str(cfg)], tmp_path, KILLS,
                                     TARGETS, random.Random(7), env)
        final = subprocess.run([str(BIN), "run", "--config", str(cfg), "--max-ticks", "3"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
                               check=False)
        assert final.returncode == 0, final.stderr[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sim/state") as r:
            ex = json.load(r)
        (tmp_path / "exchange.json").write_text(json.dumps(ex))  # for a post-mortem
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert kills >= KILLS
    assert {t.split(":")[0] for t in targeted} >= {"basis.leg", "entry.sent", "stop.moved"}, \
        targeted
    store = Store(tmp_path / "var" / "derivbot.db")
    trades = {t.id: t for t in store.trades()}
    baskets = {b.id: b for b in store.basis_trades()}

    ids = [o["client_id"] for o in ex["orders"]]
    assert len(ids) == len(set(ids)), "a client order id was used twice"
    for cid in ids:  # no bot order without its trade
        kind, trade_id, _leg, _seq = parse_any_client_id(cid) or (None, None, None, None)
        assert kind is not None, cid
        assert trade_id in (trades if kind == "trade" else baskets), cid
    basis_perps = {b.perp for b in baskets.values() if b.state != "closed"}
    for symbol, contracts in ex["positions"].items():  # every directional position is stopped
        if Decimal(contracts) != 0 and symbol not in basis_perps:
            assert [o for o in ex["open"] if o["symbol"] == symbol
                    and o["type"] == "stop_market" and o["reduce_only"]], symbol
    assert len(baskets) >= 2, f"the basis executor traded {len(baskets)} times by {ex['now']}"
    for b in baskets.values():  # never one leg alone
        assert b.state in ("open", "closed", "failed"), (b.id, b.state)
        if b.state != "open":
            continue
        spot_held = Decimal(ex["spot"].get(b.spot.split("/")[0], "0"))
        assert spot_held >= b.spot_filled > 0 and b.perp_filled > 0

    fees = sum((t.fees for t in trades.values()), Decimal(0)) + sum(
        (b.fees for b in baskets.values()), Decimal(0))
    funding = sum((t.funding for t in trades.values()), Decimal(0)) + sum(
        (b.funding for b in baskets.values()), Decimal(0))
    assert (Decimal(ex["fees"]), Decimal(ex["funding"])) == (fees, funding)
    booked = sum((t.realised - t.fees + t.funding for t in trades.values()), Decimal(0))
    assert Decimal(ex["futures_pnl"]) == booked + sum(
        (b.perp_realised - b.perp_fees + b.funding for b in baskets.values()), Decimal(0))
    # every perp fill the exchange made is stored once, basis legs' and liquidations' too
    stored = [f.fill_id for f in store.fills()]
    assert len(stored) == len(set(stored)), "a fill was stored twice"
    made = {str(t["id"]) for t in ex["trades"]}
    assert set(stored) == made, (len(made - set(stored)), len(set(stored) - made))
