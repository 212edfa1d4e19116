"""Log lines a person and a log shipper can both read: the event, its fields, wall and
market time — as logfmt text or one JSON object a line."""

import json
import logging
from decimal import Decimal

import pytest

from bot.app.cli import main
from bot.logs import configure, kv, use_market_clock
from tests.helpers import T0


@pytest.fixture
def market_clock():
    use_market_clock(lambda: T0 + 3_600_000)
    yield
    use_market_clock(lambda: None)
    logging.getLogger().handlers.clear()


def _exit_line() -> None:
    logging.getLogger("derivbot.orders").info(
        "exit", extra=kv(trade=7, leg="t1", price=Decimal("47100.5"), reason="stop hit",
                         error=ValueError("x")))


def test_json_lines_carry_event_fields_and_both_times(market_clock, capsys):
    configure("json")
    _exit_line()
    line = json.loads(capsys.readouterr().err.strip())
    assert line["event"] == "exit" and line["logger"] == "derivbot.orders"
    assert line["level"] == "info" and line["market"] == "2025-01-01T01:00:00.000Z"
    assert line["wall"].endswith("Z") and line["wall"][:4] >= "2025"
    assert (line["trade"], line["leg"], line["price"]) == (7, "t1", "47100.5")
    assert line["error"] == "ValueError('x')"


def test_text_lines_are_logfmt_with_quoted_values(market_clock, capsys):
    configure("text")
    _exit_line()
    text = capsys.readouterr().err.strip()
    assert " market=2025-01-01T01:00:00.000Z level=info logger=derivbot.orders event=exit " \
           "trade=7 leg=t1 price=47100.5 reason=\"stop hit\" " in text + " "
    assert text.startswith("wall=")


def test_an_unknown_log_format_is_refused_with_exit_2(capsys):
    with pytest.raises(SystemExit) as done:
        main(["status", "--log-format", "xml"])
    assert done.value.code == 2
    assert "--log-format: invalid choice: 'xml'" in capsys.readouterr().err


def test_times_read_as_iso_and_text_keeps_its_characters(market_clock, capsys):
    configure("text")
    logging.getLogger("derivbot.app").info("resumed", extra=kv(
        after=1_738_926_000_000, opened_at=1_738_929_600_000, trade=1_738_926_000_000 // 10**6,
        text="funding −0.054% beyond ±0.05%"))
    text = capsys.readouterr().err
    assert "after=2025-02-07T11:00:00.000Z opened_at=2025-02-07T12:00:00.000Z trade=1738926 " \
           in text
    assert 'text="funding −0.054% beyond ±0.05%"' in text


def test_a_repeating_alert_is_logged_once_an_hour_with_a_count(market_clock, caplog):
    from bot.operator.alerts import AlertBook
    from bot.operator.metrics import Metrics
    from state.store import Store
    from strategies.alerts import Condition

    book = AlertBook(Store(":memory:"), Metrics())
    caplog.set_level(logging.INFO, logger="derivbot.alerts")
    for k in range(42):  # the condition comes and goes every ten minutes
        found = [Condition("f", "funding_extreme", f"funding beyond ±0.05% ({k})", {})]
        book.update(T0 + k * 600_000, "BTC/USDT:USDT", found if k % 2 == 0 else [])
    lines = [(r.getMessage(), r.fields["text"]) for r in caplog.records]
    assert lines[0] == ("alert", "funding beyond ±0.05% (0)")
    assert lines[1] == ("alert_repeats", "…and 2 more in the last hour")
    assert lines[2] == ("alert", "funding beyond ±0.05% (6)")
    assert len([m for m, _ in lines if m == "alert"]) == 7  # 21 alerts over seven hours
    assert len(book.store.alerts()) == 21  # every one is still stored


def test_a_paper_run_says_where_it_stands_when_it_stops_and_signals_read_its_time(
        synth_dir, tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n[state]\ndb = "{tmp_path / "bot.db"}"\n'
                   "[paper]\ntime_scale = 3600000\n[metrics]\nenabled = false\n"
                   "[operator]\nenabled = false\n")
    assert main(["run", "--config", str(cfg), "--max-ticks", "1500"]) == 0
    err = capsys.readouterr().err
    opens = [line for line in err.splitlines() if " event=open " in line]
    assert opens and all(" entry=" in line and " stop=" in line for line in opens)
    (summary,) = [line for line in err.splitlines() if " event=summary " in line]
    assert "trades_closed=" in summary and "net_pnl=" in summary and "equity=" in summary
    market = summary.split("market=")[1].split()[0]
    assert main(["signals", "--config", str(cfg)]) == 0
    assert market[:13].replace("T", " ") in capsys.readouterr().out
