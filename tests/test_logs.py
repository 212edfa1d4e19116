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
