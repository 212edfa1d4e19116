"""The canonical layout: validation names file and line; events come in the order known."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from bot.marketdata import layout as marketdata
from bot.marketdata.layout import CANDLE, FUNDING, LIQUIDATION, OI, SPOT, DataError
from bot.marketdata.synth import SynthSpec, generate

HEADER = "timestamp,open,high,low,close,volume\n"
H = 3_600_000


def layout(tmp_path: Path, files: dict[str, str], ex="binanceusdm", sym="BTCUSDT") -> Path:
    folder = tmp_path / "data" / ex / sym
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return tmp_path / "data"


def good_candles(n=3, t0=0):
    return HEADER + "".join(f"{t0 + i * H},100,101,99,100.5,10\n" for i in range(n))


@pytest.mark.parametrize("name, text, message", [
    ("candles_1h.csv", HEADER + f"0,1,2,0.5,1.5,3\n{H},1,2,0.5,nan,3\n",
     "line 3: close is missing or not a finite number"),
    ("candles_1h.csv", HEADER + "0,1,2,0.5,1.5,3\n0,1,2,0.5,1.5,3\n",
     "line 3: duplicate timestamp 0"),
    ("candles_1h.csv", HEADER + f"{H},1,2,0.5,1.5,3\n0,1,2,0.5,1.5,3\n",
     "line 3: out-of-order timestamp 0"),
    ("candles_1h.csv", "timestamp,open,high,low,close\n0,1,2,0.5,1.5\n",
     "missing column(s) volume"),
    ("candles_1h.csv", HEADER + "0,1,1.2,0.5,1.5,3\n", "line 2: high/low do not contain"),
    ("funding.csv", "timestamp,rate,extra\n0,0.0001,1\n", "unknown column(s) extra"),
    ("funding.csv", "timestamp,rate\n0,abc\n", "line 2: rate is missing or not a finite number ('abc')"),
    ("candles_1h.csv", HEADER + f"0,1,2,0.5,1.5,3\n{H},1,inf,0.5,1.5,3\n",
     "line 3: high is missing or not a finite number"),
    ("candles_1h.csv", HEADER + "0,1,2,0.5,1.5,3\n1e30,1,2,0.5,1.5,3\n",
     "line 3: timestamp 1e+30 is not a time in ms"),
    ("open_interest.csv", "timestamp,open_interest\n0,5\n1,-5\n",
     "line 3: open_interest -5 is negative"),
    ("funding.csv", "timestamp,rate,interval_hours\n0,0.0001,8\n1,0.0001,0\n",
     "line 3: interval_hours 0 is not a funding interval"),
    ("liquidations.csv", "timestamp,long_usd,short_usd\n0,5,1\n1,-2,1\n",
     "line 3: long_usd -2 is negative"),
    ("liquidations.csv", "timestamp,long_usd\n0,5\n", "missing column(s) short_usd"),
])
def test_bad_files_are_named_with_their_line(tmp_path, name, text, message):
    files = {"candles_1h.csv": good_candles()} | {name: text}
    root = layout(tmp_path, files)
    with pytest.raises(DataError) as err:
        marketdata.load(root)
    assert name in str(err.value) and message in str(err.value)


def test_an_unknown_exchange_folder_is_named(tmp_path):
    root = layout(tmp_path, {"candles_1h.csv": good_candles()}, ex="mtgox")
    with pytest.raises(DataError, match="unknown exchange folder 'mtgox' \\(known: binanceusdm"):
        marketdata.load(root)


def test_missing_folder_symbol_and_candles(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        marketdata.load(tmp_path / "nowhere")
    root = layout(tmp_path, {"funding.csv": "timestamp,rate\n0,0.0001\n"})
    with pytest.raises(DataError, match="no candles_1h.csv"):
        marketdata.load(root)
    root = layout(tmp_path, {"candles_1h.csv": good_candles()})
    with pytest.raises(DataError, match="no data for symbol"):
        marketdata.load(root, symbols=("ETH/USDT:USDT",))


def test_events_are_time_ordered_candles_seen_at_close(tmp_path):
    root = layout(tmp_path, {
        "candles_1h.csv": good_candles(3),
        "spot_candles_1h.csv": good_candles(3),
        "funding.csv": f"timestamp,rate\n{H},0.0001\n{9 * H},0.0002\n",
        "open_interest.csv": f"timestamp,open_interest\n0,5\n{H},6\n",
    })
    events = list(marketdata.load(root).events())
    keys = [(e.seen, e.kind) for e in events]
    assert keys == sorted(keys)
    first_candle = next(e for e in events if e.kind == CANDLE)
    assert first_candle.ts == 0 and first_candle.seen == H
    assert [e.kind for e in events if e.seen == H] == [CANDLE, SPOT, FUNDING, OI]
    liq = [e for e in marketdata.load(layout(tmp_path, {
        "liquidations.csv": f"timestamp,long_usd,short_usd\n{H},2500.5,10\n"})).events()
           if e.kind == LIQUIDATION]
    assert [(e.seen, e.long_usd, e.short_usd) for e in liq] == [(H, 2500.5, 10.0)]
    assert next(e for e in events if e.kind == SPOT).symbol == "BTC/USDT"
    assert next(e for e in events if e.kind == FUNDING).interval_hours == 8.0
    later = list(marketdata.load(root).events(start=H))
    assert all(e.seen > H for e in later)


def test_synthetic_market_is_seeded_and_in_the_layout(tmp_path):
    spec = SynthSpec(days=20, seed=3)
    a, b = generate(spec, tmp_path / "a"), generate(spec, tmp_path / "b")
    for ex in ("binanceusdm", "bybit", "okx"):
        for sym in ("BTCUSDT", "ETHUSDT"):
            for name in ("candles_1h.csv", "funding.csv", "open_interest.csv",
                         "spot_candles_1h.csv"):
                assert filecmp.cmp(a / ex / sym / name, b / ex / sym / name, shallow=False)
    data = marketdata.load(a)
    assert data.exchanges == ["binanceusdm", "bybit", "okx"]
    assert data.symbols == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    other = generate(SynthSpec(days=20, seed=4), tmp_path / "c")
    assert not filecmp.cmp(a / "okx/BTCUSDT/funding.csv", other / "okx/BTCUSDT/funding.csv",
                           shallow=False)


def test_synthetic_market_has_crowding_and_unwinds(tmp_path):
    import pandas as pd
    root = generate(SynthSpec(days=240, seed=7, symbols=("BTC/USDT:USDT",)), tmp_path)
    f = pd.read_csv(root / "binanceusdm/BTCUSDT/funding.csv")
    assert (f.rate >= 0.0005).sum() > 5 and (f.rate <= -0.0005).sum() > 5
    c = pd.read_csv(root / "binanceusdm/BTCUSDT/candles_1h.csv")
    assert ((c.taker_buy_volume > 0) & (c.taker_buy_volume <= c.volume)).all()
    oi = pd.read_csv(root / "binanceusdm/BTCUSDT/open_interest.csv").open_interest
    assert (oi.pct_change(24) < -0.08).any(), "some unwinds flush open interest"


def test_a_funding_files_interval_column_is_each_prints_interval(tmp_path):
    """A market that moved from 8 h to 4 h prints: each print carries its own interval
    (without the column, the prints' median spacing stands for all of them)."""
    root = layout(tmp_path, {
        "candles_1h.csv": good_candles(3),
        "funding.csv": (f"timestamp,rate,interval_hours\n{H},0.0001,8\n{9 * H},0.0001,8\n"
                        f"{13 * H},0.00005,4\n{17 * H},0.00005,4\n"),
    })
    prints = [e for e in marketdata.load(root).events() if e.kind == FUNDING]
    assert [e.interval_hours for e in prints] == [8.0, 8.0, 4.0, 4.0]


def test_an_import_with_nothing_to_import_is_refused_in_one_line(tmp_path, capsys):
    from bot.app.cli import main

    assert main(["data", "import", "--out", str(tmp_path), "--exchange", "bybit",
                 "--symbol", "BTC/USDT:USDT"]) == 2
    assert capsys.readouterr().err.strip() == (
        "derivbot: nothing to import: give --candles, --funding or both")


def test_funding_from_a_local_clock_csv_is_brought_to_utc_and_merged(tmp_path):
    from bot.app.cli import main

    src = tmp_path / "bybit.csv"
    src.write_text("Symbol,Date,Funding Rate\nBTC-USDT,2021-01-01 03:00:00,0.0003\n"
                   "BTC-USDT,2021-01-01 11:00:00,0.0001\n")
    later = tmp_path / "later.csv"
    later.write_text(f"timestamp,rate\n{1609488000000},0.0002\n{1609516800000},0.0004\n")
    for f, offset in ((src, "3"), (later, "0")):
        assert main(["data", "import", "--out", str(tmp_path / "d"), "--exchange", "bybit",
                     "--symbol", "BTC/USDT:USDT", "--funding", str(f),
                     "--utc-offset", offset]) == 0
    text = (tmp_path / "d" / "bybit" / "BTCUSDT" / "funding.csv").read_text()
    assert text.splitlines() == ["timestamp,rate", "1609459200000,0.0003",
                                 "1609488000000,0.0002", "1609516800000,0.0004"]


def test_daily_venue_tables_become_prints_oi_and_liquidations_of_each_venue(tmp_path):
    """A Coinalyze-style day (rows out of order, percent funding, `<venue>_long`): OKX's
    funding is that day's 16:00 UTC print as a fraction per 8 h, merged beside an 8 h file
    without the interval column; liquidations are stamped at the day's end."""
    from bot.marketdata.importer import import_daily, import_symbol

    day = 86_400_000
    t0 = 1_704_067_200_000  # 2024-01-01
    fund = tmp_path / "funding.csv"
    fund.write_text("t,BTC/USDT - OKX\n2024-01-02,0.02\n2024-01-01,-0.01\n2024-01-03,\n")
    liq = tmp_path / "liq.csv"
    liq.write_text("t,BTC/USDT - OKX_short,BTC/USDT - OKX_long\n2024-01-02,7,3.5\n"
                   "2024-01-01,1,2\n")
    eight = tmp_path / "okx8h.csv"
    eight.write_text(f"timestamp,rate\n{t0 + 2 * day},0.0001\n{t0 + 2 * day + 8 * H},0.0002\n")
    out = tmp_path / "d"
    import_symbol(out, "okx", "BTC/USDT:USDT", None, eight)
    import_daily(out, "okx", "BTC/USDT:USDT", funding_file=fund, liquidations=liq,
                 column="BTC/USDT - OKX")
    folder = out / "okx" / "BTCUSDT"
    assert (folder / "funding.csv").read_text().splitlines() == [
        "timestamp,rate,interval_hours", f"{t0 + 16 * H},-0.0001,8.0",
        f"{t0 + day + 16 * H},0.0002,8.0", f"{t0 + 2 * day},0.0001,8.0",
        f"{t0 + 2 * day + 8 * H},0.0002,8.0"]
    assert (folder / "liquidations.csv").read_text().splitlines() == [
        "timestamp,long_usd,short_usd", f"{t0 + day},2.0,1.0", f"{t0 + 2 * day},3.5,7.0"]
    with pytest.raises(DataError, match="no column 'BTC/USDT - Bybit_long'; have t, "):
        import_daily(out, "bybit", "BTC/USDT:USDT", liquidations=liq,
                     column="BTC/USDT - Bybit")


def test_four_hour_bars_are_known_at_their_close_and_a_venues_own_file_wins(tmp_path):
    """4 h bars built from the hourly ones: none before its last hour closes, a bucket
    missing an hour is the hours it has; with candles_4h.csv the venue's own bars are used."""
    from bot.marketdata.history import History
    from strategies.indicators import atr_adx

    rows = [(i, 100 + i, 103 + i, 98 + i, 101 + i, 1 + i) for i in range(40) if i != 9]
    text = HEADER + "".join(f"{i * H},{o},{h},{lo},{c},{v}\n" for i, o, h, lo, c, v in rows)
    history = History("binanceusdm", timeframes=("4h",))
    seen = {}
    for e in marketdata.load(layout(tmp_path, {"candles_1h.csv": text})).events():
        history.ingest(e)
        seen[e.seen] = history.view("BTC/USDT:USDT", e.seen, "4h").candles
    assert len(seen[3 * H]) == 0 and len(seen[4 * H]) == 1  # known at 04:00, not before
    first = seen[4 * H]
    assert (first.ts[0], first.open[0], first.high[0], first.low[0], first.close[0],
            first.volume[0]) == (0, 100, 106, 98, 104, 1 + 2 + 3 + 4)
    gap = seen[12 * H]  # 08:00-12:00 without its 09:00 hour
    assert (gap.ts[1], gap.open[1], gap.high[1], gap.volume[1]) == (4 * H, 104, 110, 5 + 6 + 7 + 8)
    assert (gap.ts[2], gap.open[2], gap.volume[2]) == (8 * H, 108, 9 + 11 + 12)
    whole = seen[40 * H]
    want = atr_adx(whole.high, whole.low, whole.close)[0]
    np.testing.assert_array_equal(whole.atr, want)
    assert len(seen[39 * H]) == 9  # the bar closing at 40:00 is not known at 39:00

    own = "".join(f"{k * 4 * H},1,9,0.5,2,7\n" for k in range(10))
    history = History("binanceusdm", timeframes=("4h",))
    for e in marketdata.load(layout(tmp_path / "b", {"candles_1h.csv": text,
                                                     "candles_4h.csv": HEADER + own})).events():
        history.ingest(e)
    bars = history.view("BTC/USDT:USDT", 40 * H, "4h").candles
    assert len(bars) == 10 and set(bars.high) == {9.0} and set(bars.volume) == {7.0}
