"""The recorder and `derivbot record`: what the venues give, appended to the data layout
without a hole or a duplicate, through a venue's outage and a crash mid-line; a Bybit
market that pays every 4 h read per 8 h."""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bot.app.modes import build_markets
from bot.exchanges.localex.bybit import BybitVenue
from bot.exchanges.localex.okx import OkxVenue
from bot.marketdata import layout
from bot.marketdata.history import History
from bot.marketdata.layout import CANDLE, FUNDING, CandleEvent, FundingEvent
from bot.marketdata.recorder import Recorder
from bot.marketdata.synth import SynthSpec, generate
from strategies.funding import FundingExtremeParams, funding_extreme
from tests.helpers import BTC, HOUR, T0
from tests.lives import running
from tests.test_market_plane import Venues

BIN = Path(sys.executable).parent / "derivbot"


def _bar(t: int, close: float = 100.0, venue: str = "bybit") -> CandleEvent:
    return CandleEvent(CANDLE, venue, BTC, t, t + HOUR, close, close + 1, close - 1, close,
                       5.0, math.nan)


def test_appends_once_skips_duplicates_and_repairs_a_line_cut_by_a_crash(tmp_path):
    rec = Recorder(tmp_path)
    assert rec([_bar(T0), _bar(T0 + HOUR), FundingEvent(FUNDING, "bybit", BTC, T0, T0,
                                                        0.0001, 8.0)]) == 3
    assert rec([_bar(T0 + HOUR), _bar(T0 + 2 * HOUR)]) == 1  # the first is already there
    path = tmp_path / "bybit" / "BTCUSDT" / "candles_1h.csv"
    with path.open("a") as f:
        f.write(f"{T0 + 3 * HOUR},100,10")  # a crash in the middle of a line
    again = Recorder(tmp_path)  # a restart
    assert again([_bar(T0 + 2 * HOUR), _bar(T0 + 3 * HOUR, 101.0)]) == 1
    data = layout.load(tmp_path)
    candles = data.tables[("bybit", BTC, "candles_1h.csv")]
    assert list(candles["timestamp"]) == [T0 + i * HOUR for i in range(4)]
    assert list(candles["close"]) == [100.0, 100.0, 100.0, 101.0]
    assert "taker_buy_volume" not in candles  # Bybit gives none: no column of NaN
    assert list(data.tables[("bybit", BTC, "funding.csv")]["interval_hours"]) == [8.0]


def test_a_stale_venue_leaves_the_view_and_its_modules_say_why():
    history = History("binanceusdm")
    for i in range(3):
        for venue, rate in (("binanceusdm", 0.001), ("bybit", 0.0012)):
            history.ingest(FundingEvent(FUNDING, venue, BTC, T0 + i * 8 * HOUR,
                                        T0 + i * 8 * HOUR, rate, 8.0))
    now = T0 + 17 * HOUR
    assert set(history.view(BTC, now).funding) == {"binanceusdm", "bybit"}
    history.mark("bybit", "unreachable (NetworkError) since 2025-01-01 17:00 UTC")
    view = history.view(BTC, now)
    assert set(view.funding) == {"binanceusdm"}
    from strategies.playbook import Readings, SignalSet
    sig = Readings(view, SignalSet())["funding_extreme"]
    assert sig.abstained
    assert "stale bybit: unreachable (NetworkError)" in sig.reasons["abstain"]
    history.mark("bybit", None)
    assert set(history.view(BTC, now).funding) == {"binanceusdm", "bybit"}
    assert not funding_extreme(history.view(BTC, now), FundingExtremeParams()).reasons.get(
        "stale")


@pytest.fixture(scope="module")
def four_hour_bybit(tmp_path_factory):
    """Synthetic Bybit and OKX BTC markets; Bybit's pays every 4 h (half the rate each)."""
    root = tmp_path_factory.mktemp("rec")
    src = generate(SynthSpec(days=10, seed=3, symbols=(BTC,), exchanges=("bybit", "okx")),
                   root / "md")
    f = pd.read_csv(src / "bybit" / "BTCUSDT" / "funding.csv")
    half = f.assign(rate=f.rate / 2)
    mid = half.assign(timestamp=half.timestamp + 4 * HOUR)
    pd.concat([half, mid]).sort_values("timestamp").to_csv(
        src / "bybit" / "BTCUSDT" / "funding.csv", index=False)
    return src


def _rows(path: Path) -> list[int]:
    return pd.read_csv(path)["timestamp"].tolist() if path.exists() else []


def test_record_collects_through_an_outage_without_a_hole(four_hour_bybit, tmp_path):
    md = layout.load(four_hour_bybit, symbols=(BTC,))
    markets = build_markets(md, (BTC,))
    first = int(md.tables[("bybit", BTC, "candles_1h.csv")]["timestamp"].iloc[0])
    start = first + 5 * 24 * HOUR
    venues = Venues()
    try:
        urls = {"bybit": venues.serve("bybit", BybitVenue(md, markets)),
                "okx": venues.serve("okx", OkxVenue(md, markets))}
        venues.at(("bybit", "okx"), start)
        (tmp_path / "config.toml").write_text(
            '[market_data]\npoll_s = 0.1\noptions = false\nhistory_bars = 48\n'
            '[market_data.local_urls]\n'
            + "".join(f'{n} = "{u}"\n' for n, u in urls.items()) + "[metrics]\nenabled = false\n")
        bybit = tmp_path / "rec" / "bybit" / "BTCUSDT" / "candles_1h.csv"
        okx = tmp_path / "rec" / "okx" / "BTCUSDT" / "candles_1h.csv"

        def reach(path: Path, t: int) -> None:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                if (_rows(path) or [0])[-1] + HOUR >= t:
                    return
                time.sleep(0.05)
            raise AssertionError(f"{path} never reached {t}: "
                                 f"{(tmp_path / 'record.log').read_text()[-2000:]}")
        with running([str(BIN), "record", "--venues", "bybit,okx", "--symbols", BTC, "--out",
                      "rec"], tmp_path, tmp_path / "record.log"):
            t = start
            reach(bybit, t)
            venues.stop("bybit")
            for _ in range(3):  # three hours pass while Bybit is unreachable
                t += HOUR
                venues.at(("okx",), t)
                reach(okx, t)
            venues.restart("bybit")
            venues.at(("bybit",), t)
            reach(bybit, t)
        said = (tmp_path / "record.log").read_text()
    finally:
        venues.close()
    assert "bybit stale: unreachable" in said and "okx ok" in said
    rec = layout.load(tmp_path / "rec", symbols=(BTC,))
    for venue in ("bybit", "okx"):
        ts = rec.tables[(venue, BTC, "candles_1h.csv")]["timestamp"].to_numpy()
        assert len(ts) == 48 + 3 and (ts[1:] - ts[:-1] == HOUR).all(), venue
        src = md.tables[(venue, BTC, "candles_1h.csv")]
        want = src[src["timestamp"].isin(ts)].reset_index(drop=True)
        got = rec.tables[(venue, BTC, "candles_1h.csv")]
        assert (got["close"].to_numpy() == want["close"].to_numpy()).all()
    # Bybit states its 4 h interval (instruments-info fundingInterval 240): each print is
    # recorded with it, and every module reads it per 8 h as twice the printed rate
    funding = rec.tables[("bybit", BTC, "funding.csv")]
    assert set(funding["interval_hours"]) == {4.0}
    history = History("bybit")
    for e in rec.events():
        history.ingest(e)
    view = history.view(BTC, t)
    assert view.funding["bybit"].value[-1] == pytest.approx(funding["rate"].iloc[-1] * 2)
    assert view.funding["okx"].value[-1] == pytest.approx(
        rec.tables[("okx", BTC, "funding.csv")]["rate"].iloc[-1])
    shutil.rmtree(tmp_path / "rec")
