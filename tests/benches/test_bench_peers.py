"""derivbot beside the engines a quant would compare it with, on one machine and one history:
nautilus_trader's and freqtrade's backtests of an EMA cross (tools/peers/) and derivbot's
replay of its shipped config, all on Binance's real BTC and ETH perpetual 1 h bars
2019-2026 (derivbot also reads the other venues' files the shipped config names). Each runs
as its own process, in turn, twice; the faster of each engine's two runs counts, and the
figures are ratios of one sitting. `make bench-peers` installs the peers into venvs of their
own under .bench/ (their pins never touch ours) and runs this."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.benches.test_bench_replay import SHARED
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / ".bench"
NAUTILUS = PEERS / "nautilus" / "bin" / "python"
FREQTRADE = PEERS / "freqtrade" / "bin" / "freqtrade"
DERIVBOT = Path(sys.executable).parent / "derivbot"
ROUNDS = 2


def _timed(cmd: list, cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800,
                          check=False)
    took = time.perf_counter() - t0
    assert done.returncode == 0, (cmd[:3], done.stdout[-2000:], done.stderr[-2000:])
    return took, done.stdout


def _serve(data: Path, port: int) -> subprocess.Popen:
    """A local exchange serving Binance's exchangeInfo: where freqtrade's ccxt loads markets."""
    proc = subprocess.Popen([str(DERIVBOT), "exchange", "serve", "--data", str(data),
                             "--port", str(port), "--no-limits"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert "local exchange" in line, line
    return proc


def test_derivbot_beside_nautilus_trader_and_freqtrade(tmp_path, figures):
    if not (SHARED / "binance_usdm_BTCUSDT_perp_ohlcv_1h_2019-2026.feather").exists():
        pytest.skip(f"real history not found in {SHARED}")
    if not (NAUTILUS.exists() and FREQTRADE.exists()):
        pytest.skip("the peers are not installed: `make bench-peers` installs them in .bench/")
    real = tmp_path / "real"
    _timed([str(DERIVBOT), "data", "import", "--all", str(SHARED), "--out", str(real)], ROOT)
    port = free_port()
    peers = runpy.run_path(str(ROOT / "tools" / "peers" / "freqtrade_ema.py"))
    config = peers["user_folder"](SHARED, tmp_path / "freqtrade", f"http://127.0.0.1:{port}")
    server = _serve(real, port)
    runs = {
        "derivbot replay --no-telemetry": [str(DERIVBOT), "replay", "--config", "config.toml",
                                           "--data", str(real), "--no-telemetry", "--quiet",
                                           "--out", str(tmp_path / "quiet")],
        "derivbot replay (full record)": [str(DERIVBOT), "replay", "--config", "config.toml",
                                          "--data", str(real), "--quiet",
                                          "--out", str(tmp_path / "full")],
        "nautilus_trader": [str(NAUTILUS), str(ROOT / "tools" / "peers" / "nautilus_ema.py"),
                            str(SHARED)],
        "freqtrade": [str(FREQTRADE), "backtesting", "--config", str(config), "--userdir",
                      str(config.parent), "--strategy", "EmaCross", "--timerange",
                      "20190908-", "--export", "none"],
    }
    best: dict[str, float] = {}
    said: dict[str, str] = {}
    try:
        for _ in range(ROUNDS):
            for name, cmd in runs.items():
                took, out = _timed(cmd, ROOT)
                best[name] = min(best.get(name, took), took)
                said[name] = out
    finally:
        server.terminate()
        server.wait(timeout=30)
    nautilus = json.loads(said["nautilus_trader"].strip().splitlines()[-1])
    assert nautilus["trades"] > 1000 and "EmaCross" in said["freqtrade"]
    assert "trades=" in said["derivbot replay --no-telemetry"]
    base = best["nautilus_trader"]
    figures.append(f"peers on Binance BTC+ETH 1 h 2019-2026 ({nautilus['bars']} bars), wall "
                   f"of each process, best of {ROUNDS}; nautilus_trader "
                   f"{nautilus['version']} ran its backtest in {nautilus['run_s']:.1f} s:")
    for name, took in best.items():
        figures.append(f"  {name:32s} {took:6.1f} s   {took / base:5.2f} x nautilus_trader")
