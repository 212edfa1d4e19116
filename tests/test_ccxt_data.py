"""Market data through ccxt from the local exchange: history into the layout (resumable),
the polled live feed, and the CLI's local-exchange paper session end to end."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bot.app.modes import build_markets, build_sim
from bot.config import parse_config
from bot.exchanges.ccxt.data import CcxtFeed, fetch_history
from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.exchanges.localex import LocalExchange, api_urls, start
from bot.exchanges.localex.guard import Limits
from bot.marketdata import layout as marketdata
from bot.operator.metrics import Metrics
from tests.helpers import free_port, run

BTC = "BTC/USDT:USDT"
BIN = Path(sys.executable).parent / "derivbot"
UNLIMITED = Limits(weight_per_minute=10**9, orders_per_10s=10**9, orders_per_minute=10**9)


async def _local(synth_dir, until):
    cfg = parse_config({"data": {"dir": str(synth_dir)}})
    data = marketdata.load(synth_dir, symbols=(BTC,))
    local = LocalExchange(build_sim(cfg, build_markets(data, (BTC,))), data, limits=UNLIMITED)
    local.advance(until)
    server, base = await start(local)
    gw = CcxtGateway("binanceusdm", "local-key", "local-secret", urls=api_urls(base),
                     symbols=(BTC,), rate_limit_ms=0)
    await gw.load_markets()
    return data, local, server, gw


def test_fetch_history_into_the_layout_and_resume(synth_dir, tmp_path):
    src = synth_dir / "binanceusdm" / "BTCUSDT"
    candles = pd.read_csv(src / "candles_1h.csv")
    start_ms = int(candles["timestamp"].iloc[0])
    mid = start_ms + 40 * 24 * 3_600_000
    end = start_ms + 80 * 24 * 3_600_000

    async def go():
        _data, _local_ex, server, gw = await _local(synth_dir, end + 3_600_000)
        try:
            await fetch_history(gw, BTC, start_ms, mid, tmp_path)
            first = pd.read_csv(tmp_path / "binanceusdm/BTCUSDT/candles_1h.csv")
            await fetch_history(gw, BTC, start_ms, end, tmp_path)  # resumes after `mid`
        finally:
            await gw.close()
            await server.cleanup()
        return first

    first = run(go())
    assert len(first) == 40 * 24
    got = pd.read_csv(tmp_path / "binanceusdm/BTCUSDT/candles_1h.csv")
    want = candles[candles["timestamp"] < end].reset_index(drop=True)
    assert len(got) == len(want) == 80 * 24
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    funding = pd.read_csv(tmp_path / "binanceusdm/BTCUSDT/funding.csv")
    src_f = pd.read_csv(src / "funding.csv")
    assert list(funding["rate"]) == list(src_f[src_f["timestamp"] < end]["rate"])
    oi = pd.read_csv(tmp_path / "binanceusdm/BTCUSDT/open_interest.csv")
    assert len(oi) > 0 and {"open_interest", "open_interest_value"} <= set(oi.columns)
    marketdata.load(tmp_path)  # what was fetched validates as the layout


def test_live_feed_polls_closed_candles_funding_oi_and_tracks_staleness(synth_dir):
    async def go():
        data, local, server, gw = await _local(synth_dir, 0)
        first_ts = int(data.tables[("binanceusdm", BTC, "candles_1h.csv")]["timestamp"][0])
        now = first_ts + 50 * 3_600_000
        local.advance(now)
        metrics = Metrics()
        feed = CcxtFeed(gw, (BTC,), history_bars=100, metrics=metrics)
        feed._now = lambda: now
        try:
            events = await feed.poll()
            local.advance(now + 3 * 3_600_000)
            feed._now = lambda: now + 3 * 3_600_000
            more = await feed.poll()
        finally:
            await gw.close()
            await server.cleanup()
        return events, more, metrics, now + 3 * 3_600_000

    events, more, metrics, polled_at = run(go())
    kinds = {e.kind for e in events}
    assert kinds == {0, 2, 3}  # candles, funding, open interest
    candles = [e for e in events if e.kind == 0]
    assert len(candles) == 50 and candles[-1].seen <= candles[0].ts + 50 * 3_600_000
    assert [e.kind for e in more].count(0) == 3  # just the new closed bars
    last_close = max(e.seen for e in more if e.kind == 0)
    assert metrics.data_age.labels(BTC)._value.get() == pytest.approx(
        (polled_at - last_close) / 1000, abs=0.01)  # the newest bar's age when polled



def test_cli_paper_session_through_the_local_exchange(synth_dir, tmp_path):
    port, mport = free_port(), free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n[exchange]\ngateway = "ccxt"\n'
                   f'local_url = "http://127.0.0.1:{port}"\nrate_limit_ms = 0\nthrottle = false\n'
                   '[paper]\ntime_scale = 1e9\n'
                   f'[metrics]\nport = {mport}\n[operator]\nport = 0\n')
    server = subprocess.Popen([str(BIN), "exchange", "serve", "--config", str(cfg), "--port",
                               str(port), "--no-limits"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
    try:
        assert "local exchange" in server.stdout.readline()
        out = subprocess.run([str(BIN), "run", "--config", str(cfg), "--max-ticks", "700"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             check=False)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "local binanceusdm; equity 100000" in out.stdout
        status = subprocess.run([str(BIN), "status", "--config", str(cfg), "--json"],
                                cwd=tmp_path, capture_output=True, text=True, check=False)
        s = json.loads(status.stdout)
        assert s["closed_trades"] + len(s["open_trades"]) > 0
    finally:
        server.send_signal(signal.SIGINT)
        said, _ = server.communicate(timeout=60)  # read while it stops: a full pipe cannot
        assert server.returncode is not None, said[-2000:]  # hold its shutdown


def _four_hour_market(synth_dir, root):
    """The synthetic BTC market with funding printed every 4 h (half the 8 h rate each)."""
    import shutil

    src = synth_dir / "binanceusdm" / "BTCUSDT"
    dst = root / "binanceusdm" / "BTCUSDT"
    shutil.copytree(src, dst)
    f = pd.read_csv(src / "funding.csv")
    half = f.assign(rate=f.rate / 2)
    mid = half.assign(timestamp=half.timestamp + 4 * 3_600_000)
    pd.concat([half, mid]).sort_values("timestamp").to_csv(dst / "funding.csv", index=False)
    return root


def test_a_four_hour_funding_market_is_read_with_its_interval(synth_dir, tmp_path):
    """The exchange says the market pays every 4 h (Binance's fundingInfo): the live feed's
    prints and the fetched history carry 4 h, so every module reads them per 8 h as twice
    the printed rate — not as 8 h prints of half the size."""
    from bot.marketdata.history import History

    root = _four_hour_market(synth_dir, tmp_path / "four")

    async def go():
        data, local, server, gw = await _local(root, 0)
        first = int(data.tables[("binanceusdm", BTC, "funding.csv")]["timestamp"][0])
        now = first + 60 * 3_600_000
        local.advance(now)
        feed = CcxtFeed(gw, (BTC,), history_bars=100)
        feed._now = lambda: now
        try:
            events = await feed.poll()
            await fetch_history(gw, BTC, first, now, tmp_path / "fetched")
        finally:
            await gw.close()
            await server.cleanup()
        return events

    events = run(go())
    prints = [e for e in events if e.kind == 2]
    assert len(prints) >= 10 and {e.interval_hours for e in prints} == {4.0}
    history = History("binanceusdm")
    for e in events:
        history.ingest(e)
    series = history.funding_series(BTC)
    assert series.value[-1] == prints[-1].rate * 2
    fetched = pd.read_csv(tmp_path / "fetched/binanceusdm/BTCUSDT/funding.csv")
    assert set(fetched["interval_hours"]) == {4.0}
    again = marketdata.load(tmp_path / "fetched")  # the column is part of the layout
    read = [e for e in again.events() if e.kind == 2]
    assert {e.interval_hours for e in read} == {4.0}


def test_print_intervals_follow_the_gaps_and_skip_missing_prints():
    from bot.exchanges.ccxt.data import print_intervals

    h = 3_600_000
    times = [0, 8 * h, 16 * h, 32 * h, 36 * h, 40 * h]  # a missing print, then 4 h prints
    assert print_intervals(times, 8.0) == [8.0, 8.0, 8.0, 8.0, 4.0, 4.0]
    assert print_intervals([5 * h], 4.0) == [4.0]
