"""tools/compare_replays.py: two replay databases equal table by table exit 0; the first
row that differs in any table is named and exits 1."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from state.store import Store

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_replays.py"


def _db(path: Path, equity: str) -> Path:
    store = Store(path)
    store.add_equity(1, Decimal(100_000), Decimal(100_000), 0)
    store.add_equity(2, Decimal(equity), Decimal(equity), 1)
    store.close()
    return path


def test_equal_replays_pass_and_a_changed_row_is_named(tmp_path):
    a, b = _db(tmp_path / "a.db", "100500"), _db(tmp_path / "b.db", "100500")
    same = subprocess.run([sys.executable, str(TOOL), str(a), str(b)], capture_output=True,
                          text=True, check=False)
    assert same.returncode == 0 and "equity" in same.stdout and "equal" in same.stdout
    c = _db(tmp_path / "c.db", "100501")
    differ = subprocess.run([sys.executable, str(TOOL), str(a), str(c)], capture_output=True,
                            text=True, check=False)
    assert differ.returncode == 1
    assert "equity: 2 vs 2 rows; row 1:" in differ.stdout and "100501" in differ.stdout
