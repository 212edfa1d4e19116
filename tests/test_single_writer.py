"""One bot per database: a second `derivbot run` on the same database exits 2 naming the
first (pid, host), whatever state the first is in; after the first is killed (SIGKILL:
no chance to clean up) the next start runs."""

import os
import signal
import subprocess
import sys
import time

from bot.app.lock import account_lock, database_lock


def _bot(cfg, *extra):
    return subprocess.Popen([sys.executable, "-m", "bot.app.cli", "run", "--config", str(cfg),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_second_bot_on_the_same_database_is_refused_until_the_first_is_gone(
        synth_dir, tmp_path):
    db = tmp_path / "bot.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n[state]\ndb = "{db}"\n'
                   "[paper]\ntime_scale = 3600\n[metrics]\nenabled = false\n"
                   "[operator]\nenabled = false\n")
    first = _bot(cfg)
    try:
        end = time.monotonic() + 60
        while not (tmp_path / "bot.db.lock").exists() or not (
                tmp_path / "bot.db.lock").read_text():
            assert time.monotonic() < end and first.poll() is None, first.stderr.read()
            time.sleep(0.1)
        second = _bot(cfg, "--max-ticks", "5")
        _out, err = second.communicate(timeout=60)
        assert second.returncode == 2
        (line,) = err.strip().splitlines()
        assert line.startswith(f"derivbot: database {db} is in use by derivbot pid {first.pid}")
        assert "Traceback" not in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    again = _bot(cfg, "--max-ticks", "5")
    _out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err


def test_an_exchange_account_has_one_writer_and_its_key_is_never_written(tmp_path):
    db = str(tmp_path / "bot.db")
    lock = account_lock(db, "binanceusdm", "s3cret-key", testnet=True).acquire()
    try:
        other = account_lock(db, "binanceusdm", "s3cret-key", testnet=True)
        try:
            other.acquire()
            raise AssertionError("a second writer got the account")
        except RuntimeError as err:
            assert "the binanceusdm testnet account is in use by derivbot pid" in str(err)
        assert account_lock(db, "binanceusdm", "another-key", testnet=True).acquire()
        assert database_lock(db).acquire()
        texts = "".join(p.read_text() for p in (tmp_path / "locks").iterdir())
        assert "s3cret" not in texts and "s3cret" not in "".join(
            p.name for p in (tmp_path / "locks").iterdir())
    finally:
        lock.release()
