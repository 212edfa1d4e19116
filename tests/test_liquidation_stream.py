"""Liquidation prints streamed over websockets — Binance's `forceOrder` and Bybit's
`allLiquidation`, read by ccxt.pro's own classes from local venues — reach the liquidation
map's reading (summed per price bucket beside the OI estimate), the recording, and
`derivbot signals`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.app.modes import build_markets, build_sim
from bot.config import parse_config
from bot.exchanges.localex import LocalExchange
from bot.exchanges.localex.bybit import BybitVenue
from bot.exchanges.localex.streams import OPEN
from bot.marketdata import layout
from bot.marketdata.history import History
from bot.marketdata.layout import LIQUIDATION, LiquidationEvent
from bot.marketdata.synth import SynthSpec, generate
from strategies.liquidation import liquidation_map
from strategies.liquidation_map import LiquidationMapParams
from tests.helpers import BTC, HOUR, T0
from tests.lives import running
from tests.test_market_plane import Venues

BIN = Path(sys.executable).parent / "derivbot"
MINUTE = 60_000


def test_prints_are_summed_per_price_bucket_beside_the_estimate():
    history = History("binanceusdm")
    rows = [(T0 + 1 * MINUTE, 1e5, 0.0, 50_010.0), (T0 + 2 * MINUTE, 2e5, 0.0, 50_020.0),
            (T0 + 3 * MINUTE, 0.0, 3e5, 51_000.0), (T0 + 4 * MINUTE, 4e5, 0.0, float("nan"))]
    for ts, lg, sh, px in rows:
        history.ingest(LiquidationEvent(LIQUIDATION, "binanceusdm", BTC, ts, ts, lg, sh, px))
    sig = liquidation_map(history.view(BTC, T0 + HOUR), [], LiquidationMapParams())
    reported = sig.reasons["reported"]
    assert reported["long_usd"] == 7e5 and reported["short_usd"] == 3e5  # every row counts
    printed = reported["printed"]  # ... the priced ones by bucket (0.1 % of 51 000 wide)
    assert [(b["long_usd"], b["short_usd"], b["prints"]) for b in printed] == [
        (3e5, 0.0, 2), (0.0, 3e5, 1)]
    assert printed[0]["price"] == pytest.approx(50_000, rel=0.0011)
    assert printed[1]["price"] == pytest.approx(51_000, rel=0.0011)


def _prints(t0: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 12
    longs = rng.random(n) < 0.6
    usd = np.round(rng.uniform(2e4, 5e5, n), 2)
    return pd.DataFrame({"timestamp": t0 + np.arange(1, n + 1) * 5 * MINUTE,
                         "long_usd": np.where(longs, usd, 0.0),
                         "short_usd": np.where(longs, 0.0, usd),
                         "price": np.round(rng.uniform(49_000, 51_000, n), 1)})


def test_prints_stream_into_the_recording_and_the_dashboard(tmp_path):
    md_dir = generate(SynthSpec(days=8, seed=5, symbols=(BTC,),
                                exchanges=("binanceusdm", "bybit")), tmp_path / "md")
    first = int(pd.read_csv(md_dir / "binanceusdm/BTCUSDT/candles_1h.csv")["timestamp"][0])
    start = first + 4 * 24 * HOUR
    sent, ratios = {}, {}
    for k, venue in enumerate(("binanceusdm", "bybit")):
        sent[venue] = _prints(start, k)
        sent[venue].to_csv(md_dir / venue / "BTCUSDT" / "liquidations.csv", index=False)
        hours = first + np.arange(5 * 24) * HOUR  # each venue's long/short account ratio
        ratios[venue] = pd.DataFrame({"timestamp": hours, "ratio": np.round(
            1.5 + 0.5 * np.sin(np.arange(len(hours)) / (7 + k)), 4)})
        ratios[venue].to_csv(md_dir / venue / "BTCUSDT" / "long_short.csv", index=False)
    cfg = parse_config({"data": {"symbols": [BTC]}})
    md = layout.load(md_dir, symbols=(BTC,))
    markets = build_markets(md, (BTC,))
    venues = Venues()
    try:
        urls = {"binanceusdm": venues.serve("binanceusdm",
                                            LocalExchange(build_sim(cfg, markets), md)),
                "bybit": venues.serve("bybit", BybitVenue(md, markets))}
        venues.at(tuple(urls), start)
        (tmp_path / "config.toml").write_text(
            f'[data]\nsymbols = ["{BTC}"]\n[market_data]\npoll_s = 0.1\noptions = false\n'
            'history_bars = 48\n'
            '[market_data.local_urls]\n' + "".join(f'{n} = "{u}"\n' for n, u in urls.items())
            + "[metrics]\nenabled = false\n")
        path = {v: tmp_path / "rec" / v / "BTCUSDT" / "liquidations.csv" for v in urls}
        ratio_files = [tmp_path / "rec" / v / "BTCUSDT" / "long_short.csv" for v in urls]
        with running([str(BIN), "record", "--out", "rec"], tmp_path, tmp_path / "record.log"):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "binanceusdm ok" not in (
                    tmp_path / "record.log").read_text():
                time.sleep(0.05)
            while time.monotonic() < deadline and not all(  # both streams connected
                    venues.sites[v][0].app[OPEN] for v in urls):
                time.sleep(0.05)
            time.sleep(0.5)  # ... and subscribed
            venues.at(tuple(urls), start + HOUR)  # an hour of prints goes out
            while time.monotonic() < deadline and not (all(
                    p.exists() and len(pd.read_csv(p)) == 12 for p in path.values())
                    and all(p.exists() and pd.read_csv(p).timestamp.iloc[-1] == start + HOUR
                            for p in ratio_files)):
                time.sleep(0.1)
    finally:
        venues.close()
    for venue, want in ratios.items():  # the ratio read through each venue's dialect
        got = pd.read_csv(tmp_path / "rec" / venue / "BTCUSDT" / "long_short.csv")
        src = want[(want.timestamp >= got.timestamp.iloc[0]) & (want.timestamp <= start + HOUR)]
        assert list(got.timestamp) == list(src.timestamp) and len(got) >= 48, venue
        assert np.allclose(got.ratio, src.ratio, atol=5e-4), venue
    for venue, want in sent.items():
        got = pd.read_csv(path[venue])
        assert list(got["timestamp"]) == list(want["timestamp"]), venue
        assert np.allclose(got["price"], want["price"])
        assert np.allclose(got["long_usd"], want["long_usd"], rtol=1e-6)
        assert np.allclose(got["short_usd"], want["short_usd"], rtol=1e-6)
    # what the venues liquidated shows on the dashboard beside the map's estimate
    out = subprocess.run([str(BIN), "signals", "--config", "config.toml", "--data", "rec",
                          "--at", str(start + HOUR)], cwd=tmp_path, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    # the largest bucket of prints, 0.1 % of the last close wide, both venues together
    candles = pd.read_csv(tmp_path / "rec/binanceusdm/BTCUSDT/candles_1h.csv")
    width = 0.001 * candles[candles.timestamp + HOUR <= start + HOUR]["close"].iloc[-1]
    both = pd.concat(sent.values())
    both["bucket"] = np.floor(both.price / width)
    sums = both.groupby("bucket")[["long_usd", "short_usd"]].sum()
    top = (sums.long_usd + sums.short_usd).idxmax()
    side = "long" if sums.long_usd[top] >= sums.short_usd[top] else "short"
    usd = (sums.long_usd[top] + sums.short_usd[top]) / 1e6
    shown = f"{side} {(top + 0.5) * width:,.0f} ${usd:,.2f}M"
    assert "liquidated 24h" in out.stdout and shown in out.stdout, (shown, out.stdout[:3000])
    at = start + HOUR  # the long/short column: the two venues' latest ratios, averaged
    latest = [float(r[r.timestamp <= at].ratio.iloc[-1]) for r in ratios.values()]
    assert f"{sum(latest) / 2:.2f} (2)" in out.stdout
