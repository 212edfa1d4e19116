"""Structured log lines: each names its event and carries its fields as data, so the same
line reads as logfmt text (`key=value`) or as one JSON object, with wall and market time.

    log.info("exit", extra=kv(trade=7, leg="t1", price=Decimal("47100.5")))
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

_market_now: Callable[[], int | None] = lambda: None


def kv(**fields) -> dict:
    """The `extra` of a log call: its fields, kept apart from the record's own attributes."""
    return {"fields": fields}


def use_market_clock(now: Callable[[], int | None]) -> None:
    """Every line carries the market time this returns (ms), beside the wall time."""
    global _market_now
    _market_now = now


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# fields holding a time in ms, shown as ISO: named so, or ending in _at
TIME_FIELDS = frozenset({"at", "after", "since", "until", "expires", "ts", "seen"})
MS_2001, MS_2100 = 978_307_200_000, 4_102_444_800_000


def _field(key: str, value):
    if (isinstance(value, int) and not isinstance(value, bool)
            and (key in TIME_FIELDS or key.endswith("_at")) and MS_2001 <= value < MS_2100):
        return _iso(value)
    return _plain(value)


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseException):
        return repr(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _logfmt(value) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n'):
        return json.dumps(text, ensure_ascii=False)
    return text


class Structured(logging.Formatter):
    """`text`: logfmt; `json`: one object a line. Fields: wall, market, level, logger,
    event, then the call's own."""

    def __init__(self, style: str = "text") -> None:
        super().__init__()
        self.style = style

    def format(self, record: logging.LogRecord) -> str:
        market = _market_now()
        line = {"wall": _iso(record.created * 1000),
                "market": _iso(market) if market else None,
                "level": record.levelname.lower(), "logger": record.name,
                "event": record.getMessage()}
        line.update({k: _field(k, v) for k, v in getattr(record, "fields", {}).items()})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if self.style == "json":
            return json.dumps(line, default=str, ensure_ascii=False)
        return " ".join(f"{k}={_logfmt(v)}" for k, v in line.items() if v is not None)


def configure(style: str = "text", level: int = logging.INFO) -> None:
    """Log to stderr in `style` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Structured(style))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
