"""What the running bot does for a person at the desk (the page, a phone)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from state.models import Proposal, Trade


@dataclass
class DeskActions:
    """What the running bot does for the desk: a proposal's card lines and chart, its
    status and positions as text, a halt on new entries and a flatten (each by a name)."""

    describe: Callable[[Proposal], list[tuple[str, str]]]  # the card's lines
    chart: Callable[[Proposal], bytes | None]  # its chart (PNG), None for a basis pair
    status: Callable[[], str]
    positions: Callable[[], str]
    halt: Callable[[str], str]
    flatten: Callable[[str], Awaitable[str]]
    market_now: Callable[[], int]
    # an action the runner carries out at its next tick: its result line (close, tighten,
    # lift, flatten); None where no runner takes requests
    ask: Callable[..., Awaitable[str]] | None = None
    marks: Callable[[], dict] = dict  # symbol -> last price
    ticks: Callable[[], dict] = dict  # symbol -> price tick
    liquidation: Callable[[Trade], float] = lambda _trade: float("nan")  # a position's
