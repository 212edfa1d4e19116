"""Each module written over columns reads row i of the whole history as it reads the view
of row i's instant: the history fed event by event as the runner feeds it (bounded rings,
venues arriving late, prints seen after their time), every module compared at sampled
decisions on 1 h, 4 h and daily bars — on the synthetic market and on real multi-venue
history."""

from pathlib import Path

import numpy as np
import pytest

from bot.app.cli import main
from bot.marketdata import layout
from bot.marketdata.columns import frames
from bot.marketdata.history import TIMEFRAMES, History
from bot.runner import batches
from strategies.playbook import COLUMNS, MODULES, Row, SignalSet, read_all
from strategies.series import Numbers
from tests.helpers import HOUR

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
COARSER = ("4h", "1d")  # bars built from the hourly ones, read at their close


def _compare(data_dir: Path | layout.MarketData, venue: str, s: SignalSet, every: int,
             seed: int) -> dict:
    """Feed the history event by event; at sampled decisions compare every module's reading
    of the view with its row of the whole history. Returns how many non-flat readings each
    module gave at the rows compared (a comparison of flat readings alone proves little)."""
    data = data_dir if isinstance(data_dir, layout.MarketData) else layout.load(data_dir)
    whole = frames(data, venue, COARSER)
    rows = {key: {m: make(f, s) for m, make in COLUMNS.items()} for key, f in whole.items()}
    rare = {key: _rarely_spoken(by_module) for key, by_module in rows.items()}
    history, rng = History(venue, timeframes=COARSER), np.random.default_rng(seed)
    spoke = dict.fromkeys(COLUMNS, 0)
    compared = dict.fromkeys(("1h", *COARSER), 0)
    memo: dict[str, dict] = {}  # per symbol, as the runner keeps it (the liquidation book)
    for t, batch in batches(data.events()):
        for sym in sorted({e.symbol for e in batch if history.ingest(e)}):
            for tf in compared:
                if t % TIMEFRAMES[tf]:
                    continue
                f = whole[sym, tf]
                i = int(np.searchsorted(f.now, t))
                assert f.now[i] == t
                if rng.integers(every) and i not in rare[sym, tf]:
                    continue
                view = history.view(sym, t, tf)
                r = read_all(view, s)
                for m in COLUMNS:
                    want = MODULES[m](r)
                    got = rows[sym, tf][m].signal(i)
                    assert repr(got) == repr(want), (sym, tf, t, m)
                    spoke[m] += got.direction != 0
                assert _numbers(Numbers(f, i)) == _numbers(Numbers.of(view)), (sym, tf, t)
                if tf == "1h" and compared[tf] % 3 == 0:  # every module, the view-read beside
                    fast = read_all(view, s, memo.setdefault(sym, {}), row=Row(
                        f, i, lambda m, i=i, k=(sym, tf): rows[k][m].signal(i)
                        if m in COLUMNS else None))
                    assert repr(fast.signals) == repr(r.signals), (sym, t)
                compared[tf] += 1
    assert min(compared.values()) > 20, compared
    return spoke


def _numbers(n: Numbers) -> str:
    """What confluence, the alerts and the dashboard read of a row's shared numbers."""
    return repr((n.weighted(), n.weighted(8.0), n.fresh(), n.oi() is None,
                 [n.oi_change(h) for h in (12, 24, 36, 48)],
                 [n.price_change(h) for h in (12, 24, 48)]))


def _rarely_spoken(by_module: dict) -> set[int]:
    """The rows where a module that speaks at fewer than a tenth of the rows speaks."""
    out: set[int] = set()
    for rows in by_module.values():
        speaking = {i for i in range(len(rows)) if rows.signal(i).direction != 0}
        if len(speaking) < len(rows) / 10:
            out |= speaking
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if not (SHARED / "binance_usdm_BTCUSDT_perp_ohlcv_1h_2019-2026.feather").exists():
        pytest.skip(f"real history not found in {SHARED} (the shared data folder is absent)")
    out = tmp_path_factory.mktemp("real")
    assert main(["data", "import", "--all", str(SHARED), "--out", str(out),
                 "--since", "2023-10-01", "--until", "2024-02-01"]) == 0
    return out


def test_every_module_reads_the_synthetic_history_row_by_row_as_the_view(synth_dir):
    spoke = _compare(synth_dir, "binanceusdm", SignalSet(), every=12, seed=1)
    assert spoke["funding_extreme"] and spoke["swing_failure"] and spoke["trapped_traders"]


def test_every_module_reads_real_multivenue_history_row_by_row_as_the_view(real):
    spoke = _compare(real, "binanceusdm", SignalSet(), every=5, seed=2)
    assert spoke["funding_zscore"] and spoke["swing_failure"]


def test_modules_with_other_parameters_read_alike(synth_dir):
    s = SignalSet(funding_extreme={"periods": 1, "min_exchanges": 1},
                  funding_zscore={"window": 6, "z_window_mult": 2, "threshold": 1.0},
                  oi_divergence={"days": 1, "min_oi_change": 0.01},
                  break_of_structure={"pivot": 1, "lookback": 10},
                  cvd_divergence={"window": 12, "recent": 3})
    spoke = _compare(synth_dir, "bybit", s, every=20, seed=3)
    assert spoke["funding_extreme"] and spoke["break_of_structure"]


def test_exchanges_are_read_in_the_order_their_data_arrives(synth_dir):
    """The venue's own funding and OI starting weeks after the other exchanges': the whole
    history lists the exchanges as the views do (by arrival), so sums over them, the OI
    the modules fall back to and the order of their reasons agree row by row."""
    data = layout.load(synth_dir)
    for (ex, _sym, name), df in list(data.tables.items()):
        if ex == "binanceusdm" and name in ("funding.csv", "open_interest.csv"):
            data.tables[ex, _sym, name] = df[df["timestamp"] >= df["timestamp"].iloc[0]
                                             + 20 * 24 * HOUR].reset_index(drop=True)
    spoke = _compare(data, "binanceusdm", SignalSet(), every=16, seed=4)
    assert spoke["funding_extreme"] and spoke["trapped_traders"]
