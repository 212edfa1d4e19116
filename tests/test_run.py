"""`derivbot run`: paper trading on the simulator serves metrics, trades, stops and resumes."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port

BIN = Path(sys.executable).parent / "derivbot"



def status(cwd: Path) -> dict:
    out = subprocess.run([str(BIN), "status", "--json"], cwd=cwd, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_for(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


@pytest.fixture
def workdir(tmp_path, synth_dir):
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[data]\ndir = "{synth_dir}"\n[paper]\ntime_scale = 360000\nwarmup_bars = 720\n'
        f'[metrics]\nport = {port}\n[operator]\nport = 0\n')
    return tmp_path, port


def test_paper_run_trades_serves_metrics_and_resumes(workdir):
    cwd, port = workdir
    proc = subprocess.Popen([str(BIN), "run"], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    try:
        text = wait_for(lambda: scrape(port), 60, "/metrics to answer")
        assert "derivbot_equity" in text and "derivbot_tick_seconds_bucket" in text
        db = cwd / "var" / "derivbot.db"
        wait_for(lambda: db.exists() and (status(cwd)["closed_trades"] or
                                          status(cwd)["open_trades"]), 60, "a trade")
        text = scrape(port)
        assert re.search(r'derivbot_risk_decisions_total\{result="(approved|cut)",rule=""\} [1-9]',
                         text)
        for name in ('derivbot_pnl{part="fees"}', 'derivbot_open_risk_bucket{bucket="BTC/ETH"}',
                     'derivbot_signal{module="funding_zscore"', "derivbot_reconcile_seconds",
                     'derivbot_orders{state="open"}'):
            assert name in text, name
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "state saved" in out
    first = status(cwd)
    assert first["closed_trades"] + len(first["open_trades"]) > 0
    with sqlite3.connect(cwd / "var" / "derivbot.db") as con:  # the exchange, in the db
        saved = json.loads(con.execute("SELECT value FROM meta WHERE key = 'sim_state'"
                                       ).fetchone()[0])
    assert saved["now"] >= first["as_of"] and "orders" in saved

    again = subprocess.run([str(BIN), "run", "--max-ticks", "30"], cwd=cwd, capture_output=True,
                           text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert "resumed after" in again.stderr
    second = status(cwd)
    assert second["as_of"] > first["as_of"]
    assert second["closed_trades"] >= first["closed_trades"]
    ids = [o["client_id"] for o in second["working_orders"]]
    assert len(ids) == len(set(ids))

    flat = subprocess.run([str(BIN), "flatten"], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)
    assert flat.returncode == 0, flat.stderr
    assert flat.stdout.startswith("flattened:")
    after = status(cwd)
    assert after["open_trades"] == [] and after["working_orders"] == []
