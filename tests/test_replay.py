"""`derivbot replay` end to end: the whole bot over synthetic history on the SimExchange."""

import json
from decimal import Decimal

import pandas as pd
import pytest

from bot.app.cli import main
from state.store import Store


@pytest.fixture(scope="module")
def replay_out(synth_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    cfg = tmp / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n')
    out = tmp / "out"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out


def test_report_has_the_promised_keys_and_trades(replay_out):
    report = json.loads((replay_out / "report.json").read_text())
    for key in ("trades", "win_rate", "profit_factor", "sharpe", "max_drawdown",
                "avg_hold_hours", "total_return", "fees", "funding_pnl", "per_strategy",
                "cagr", "sortino", "calmar", "expectancy_r", "longest_losing_streak",
                "drawdown_start", "per_pair", "per_exit", "per_month", "buy_and_hold"):
        assert key in report
    assert set(report["buy_and_hold"]) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    assert sum(g["trades"] for g in report["per_pair"].values()) == report["trades"]
    assert sum(g["trades"] for g in report["per_month"].values()) == report["trades"]
    assert round(sum(g["net_pnl"] for g in report["per_exit"].values()), 2) == round(
        float(Decimal(report["price_pnl"]) - Decimal(report["fees"])
              + Decimal(report["funding_pnl"])), 2)
    assert report["trades"] > 0
    per = report["per_strategy"]
    assert sum(v["trades"] for v in per.values()) == report["trades"]
    assert per["funding_fade"]["trades"] > 0
    for stats in per.values():
        assert {"trades", "win_rate", "profit_factor", "avg_r", "sharpe", "max_drawdown",
                "avg_hold_hours"} <= set(stats)
    assert 0 <= report["win_rate"] <= 1 and 0 <= report["max_drawdown"] < 1
    # the figures themselves, from the stored trades (an inverted profit factor, a win
    # rate of the losers, a return off the wrong base would all show)
    closed = [t for t in Store(replay_out / "derivbot.db").trades() if t.state == "closed"]
    nets = [float(t.realised - t.fees + t.funding) for t in closed]
    wins, losses = sum(n for n in nets if n > 0), -sum(n for n in nets if n < 0)
    assert report["trades"] == len(closed)
    assert report["win_rate"] == pytest.approx(sum(n > 0 for n in nets) / len(nets), abs=1e-4)
    assert report["profit_factor"] == pytest.approx(wins / losses, abs=1e-3)
    assert report["net_pnl"] == pytest.approx(sum(nets), abs=0.01)
    assert report["total_return"] == pytest.approx(
        (report["final_equity"] - report["start_equity"]) / report["start_equity"], abs=1e-6)
    assert (replay_out / "equity.png").stat().st_size > 10_000
    rows = (replay_out / "trades.csv").read_text().strip().splitlines()
    assert len(rows) == report["trades"] + report["failed_entries"] + 1


def test_every_trade_has_entry_stop_targets_and_exit(replay_out):
    store = Store(replay_out / "derivbot.db")
    trades = [t for t in store.trades() if t.state == "closed"]
    assert trades
    for t in trades:
        legs = {}
        for o in store.orders(t.id):
            legs.setdefault(o.leg, []).append(o)
        assert legs["entry"][0].state == "filled", t.id
        assert any(o.type == "stop_market" and o.reduce_only for o in legs["stop"]), t.id
        assert {"t1", "t2", "t3"} & set(legs), t.id
        assert all(o.reduce_only for leg in ("t1", "t2", "t3") for o in legs.get(leg, []))
        assert t.exited == t.filled > 0 and t.exit_price is not None and t.close_reason
        assert not [o for o in store.orders(t.id) if o.state == "open"], t.id
    store.close()


def test_equity_equals_start_plus_realised_minus_fees_plus_funding(replay_out):
    store = Store(replay_out / "derivbot.db")
    trades = store.trades()
    booked = sum((t.realised - t.fees + t.funding for t in trades), Decimal(0))
    curve = store.equity_curve()
    assert curve[-1].equity == Decimal(100_000) + booked
    assert curve[-1].wallet == curve[-1].equity
    fills_fees = sum((f.fee for f in store.fills()), Decimal(0))
    assert fills_fees == sum((t.fees for t in trades), Decimal(0))
    assert sum((f.amount for f in store.funding()), Decimal(0)) == sum(
        (t.funding for t in trades), Decimal(0))
    report = json.loads((replay_out / "report.json").read_text())
    assert Decimal(report["fees"]) == sum((t.fees for t in trades if t.state == "closed"),
                                          Decimal(0))
    store.close()


def test_every_risk_decision_is_stored_with_its_reason(replay_out):
    store = Store(replay_out / "derivbot.db")
    decisions = store.decisions()
    assert any(d.approved for d in decisions)
    assert all(d.rule and d.reason for d in decisions if not d.approved)
    assert all(d.trade_id for d in decisions if d.approved)
    assert store.signals("funding_zscore") or store.signals("funding_extreme")
    store.close()


def test_replay_of_missing_data_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[data]\ndir = "/no/such/place"\n')
    assert main(["replay", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "/no/such/place: data folder does not exist" in capsys.readouterr().err


def _rows(db, table: str) -> list:
    import sqlite3

    with sqlite3.connect(db) as con:
        return con.execute(f'select * from "{table}" order by 1').fetchall()


def test_replay_without_telemetry_makes_the_same_trades(replay_out, synth_dir, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n')
    out = tmp_path / "fast"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet",
                 "--no-telemetry"]) == 0
    full, fast = replay_out / "derivbot.db", out / "derivbot.db"
    for table in ("trade", "order", "fill", "tradeevent", "orderevent", "riskdecision",
                  "equity", "funding_payment", "position", "meta"):
        assert _rows(fast, table) == _rows(full, table), table
    assert _rows(full, "trade") and _rows(full, "riskdecision")
    assert _rows(full, "signal") and _rows(full, "alert")
    assert _rows(fast, "signal") == [] and _rows(fast, "alert") == []
    report, fast_report = (json.loads((o / "report.json").read_text()) for o in (replay_out, out))
    assert (report["telemetry"], fast_report["telemetry"]) == (True, False)
    skip = ("telemetry", "data", "abstentions")  # abstentions are counted from telemetry
    assert {k: v for k, v in fast_report.items() if k not in skip} == {
        k: v for k, v in report.items() if k not in skip}
    assert fast_report["abstentions"].startswith("not counted")


def test_a_replay_window_trades_only_inside_it_after_reading_what_came_before(
        synth_dir, replay_out, tmp_path):
    """--since/--until: nothing traded outside the window, and the history before it is read
    first — so every module reads in the window exactly what the whole replay read there."""
    from datetime import UTC, datetime

    full = Store(replay_out / "derivbot.db")
    start = full.equity_curve()[0].ts
    since, until = start + 100 * 86_400_000, start + 140 * 86_400_000
    day = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
    since, until = (int(datetime.fromisoformat(day(x)).replace(tzinfo=UTC).timestamp() * 1000)
                    for x in (since, until))
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n')
    assert main(["replay", "--config", str(cfg), "--out", str(tmp_path / "w"), "--quiet",
                 "--since", day(since), "--until", day(until)]) == 0
    part = Store(tmp_path / "w" / "derivbot.db")
    rows = part.equity_curve()
    assert since <= rows[0].ts and rows[-1].ts < until
    assert part.trades() and all(since <= t.created_at < until for t in part.trades())
    assert all(since <= o.updated_at < until for t in part.trades() for o in part.orders(t.id))

    def signals(store):
        return [(s.ts, s.symbol, s.module, s.direction, round(s.strength, 9))
                for s in store.signals() if since <= s.ts < until and s.direction]
    assert signals(part) == signals(full) and len(signals(part)) > 100


def test_trades_html_draws_every_entry_and_exit_and_needs_no_network(replay_out):
    """out/trades.html: one price line per symbol, a marker at every entry and exit, stops
    and targets as segments, equity and drawdown — plotly.js inside the file, no CDN."""
    import re

    from bot.operator.chart import trades_figure

    html = (replay_out / "trades.html").read_text()
    assert not re.search(r"<script[^>]*src=", html) and "Plotly.newPlot" in html
    store = Store(replay_out / "derivbot.db")
    closes = {s: pd.DataFrame({"timestamp": [0], "close": [1.0]})
              for s in ("BTC/USDT:USDT", "ETH/USDT:USDT")}
    fig = trades_figure(store, closes)
    traded = [t for t in store.trades() if t.opened_at is not None]
    entries = sum(len(tr.x) for tr in fig.data if tr.name.endswith("entries"))
    exits = sum(len(tr.x) for tr in fig.data if tr.name.endswith("exits"))
    assert entries == len(traded) > 0
    assert exits == sum(t.closed_at is not None and t.exit_price is not None for t in traded)
    assert {tr.name for tr in fig.data} >= {"equity", "drawdown", "BTC/USDT:USDT stops",
                                            "ETH/USDT:USDT T1"}


def test_the_report_says_how_often_each_module_abstained_and_why(replay_out):
    report = json.loads((replay_out / "report.json").read_text())
    abstained = report["abstentions"]
    assert abstained["options_positioning"] == {"share": 1.0, "why": {"no options feed": 1.0}}
    assert all(0 < a["share"] <= 1 and abs(sum(a["why"].values()) - a["share"]) < 1e-3
               for a in abstained.values())
    # the synthetic market has OI on three exchanges: the OI modules speak most of the time
    assert abstained.get("oi_divergence", {"share": 0})["share"] < 0.2
