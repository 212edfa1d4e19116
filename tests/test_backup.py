"""The database outlives a disk fault: a consistent online copy at every start (the last
N kept), `derivbot db check` naming what is wrong, `derivbot db restore` refusing while a
bot runs and keeping the replaced file aside."""

import sqlite3

from bot.app.cli import main
from bot.app.lock import database_lock
from state.store import Store


def test_copies_at_each_start_a_check_and_a_restore(synth_dir, tmp_path, capsys):
    db = tmp_path / "bot.db"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n[state]\ndb = "{db}"\nbackups = 2\n'
                   "[paper]\ntime_scale = 3600000\n[metrics]\nenabled = false\n"
                   "[operator]\nenabled = false\n")
    for _ in range(4):
        assert main(["run", "--config", str(cfg), "--max-ticks", "400"]) == 0
    copies = sorted((tmp_path / "backups").glob("bot-*.db"))
    assert len(copies) == 2  # the last two of three starts that had something to copy
    trades_then = len(Store(copies[-1]).trades())
    trades_now = len(Store(db).trades())
    assert 0 < trades_then < trades_now
    capsys.readouterr()
    assert main(["db", "check", "--db", str(copies[-1])]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")

    broken = tmp_path / "broken.db"
    broken.write_bytes(copies[-1].read_bytes())
    with sqlite3.connect(broken) as conn:
        conn.execute("UPDATE trade SET exited = '99' WHERE id = 1")
        conn.execute("UPDATE trade SET closed_at = NULL WHERE state = 'closed'")
    assert main(["db", "check", "--db", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "trade 1: exited 99 is more than filled" in out and "closed without a close time" in out
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    assert main(["db", "check", "--db", str(junk)]) == 1
    assert "not a readable SQLite database" in capsys.readouterr().out

    held = database_lock(str(db)).acquire()  # a bot running on it
    try:
        assert main(["db", "restore", str(copies[-1]), "--db", str(db)]) == 2
        assert "is in use by derivbot pid" in capsys.readouterr().err
    finally:
        held.release()
    assert main(["db", "restore", str(broken), "--db", str(db)]) == 2  # an unsound copy
    assert "not a sound database copy" in capsys.readouterr().err
    assert main(["db", "restore", str(copies[-1]), "--db", str(db)]) == 0
    assert "the previous file is kept as" in capsys.readouterr().out
    assert len(Store(db).trades()) == trades_then
    (aside,) = tmp_path.glob("bot.db.before-restore-*")
    assert len(Store(aside).trades()) == trades_now
