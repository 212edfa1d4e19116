"""The values signal modules read and return: market views, Signals, TradePlans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import pairwise
from typing import Any

import numpy as np

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


class Direction(IntEnum):
    SHORT = -1
    FLAT = 0
    LONG = 1

    @property
    def side(self) -> str:
        return {1: "long", -1: "short", 0: "flat"}[int(self)]


@dataclass(frozen=True, slots=True)
class Candles:
    """Closed bars, oldest first; ts is the bar's open time in ms UTC."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    atr: np.ndarray
    adx: np.ndarray
    taker_buy: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class Series:
    """A time series of one value (funding rate, open interest), oldest first."""

    ts: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class MarketView:
    """Everything known about one symbol at `now`: nothing after it."""

    symbol: str
    venue: str
    now: int
    candles: Candles
    funding: Mapping[str, Series]  # exchange -> funding rate per 8 h
    open_interest: Mapping[str, Series]  # exchange -> open interest
    spot_close: Series | None = None  # the venue's spot closes, for the basis
    options: OptionsChain | None = None  # an options chain, when a feed gives one
    funding_version: int = -1  # changes whenever a funding series gains a print; -1: unknown
    # exchange -> liquidated notional (USD) reported by the venue: prints or period totals
    liquidations: Mapping[str, Liquidations] = field(default_factory=dict)
    # exchange -> why its data is stale; its funding, OI and liquidations are left out
    stale: Mapping[str, str] = field(default_factory=dict)
    # exchange -> its long/short account ratio (accounts long ÷ accounts short)
    long_short: Mapping[str, Series] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Liquidations:
    """Liquidations a venue reported, oldest first: each row's time (a print's, or the end
    of the period it totals) and the USD notional of longs and of shorts liquidated."""

    ts: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray
    price: np.ndarray | None = None  # each print's price; NaN for a period's total

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class OptionQuote:
    strike: float
    kind: str  # "call" | "put"
    open_interest: float
    volume: float = 0.0


@dataclass(frozen=True, slots=True)
class OptionsChain:
    """One expiry's chain (e.g. from Deribit)."""

    expiry: int  # ms
    quotes: tuple[OptionQuote, ...]


@dataclass(frozen=True, slots=True)
class Signal:
    module: str
    direction: Direction
    strength: float
    reasons: Mapping[str, Any]
    invalidation: float | None = None

    @property
    def abstained(self) -> bool:
        return "abstain" in self.reasons

    @staticmethod
    def flat(module: str, **reasons: Any) -> Signal:
        return Signal(module, Direction.FLAT, 0.0, reasons)

    @staticmethod
    def abstain(module: str, why: str, **reasons: Any) -> Signal:
        return Signal(module, Direction.FLAT, 0.0, {"abstain": why, **reasons})


@dataclass(frozen=True, slots=True)
class Target:
    price: float
    fraction: float


@dataclass(frozen=True, slots=True)
class TradePlan:
    """What to trade, before sizing: the exits are data, executed by the order manager."""

    strategy: str
    symbol: str
    direction: Direction
    entry: float
    stop: float
    targets: tuple[Target, ...]
    regime: str
    atr: float
    created_at: int
    is_fade: bool = True
    reasons: Mapping[str, Any] = field(default_factory=dict)
    max_hold_hours: float | None = None  # out at market after this long (no targets needed)
    fixed_stop: bool = False  # the rule's own stop: no regime moves it

    @property
    def stop_distance(self) -> float:
        return abs(self.entry - self.stop)

    def check(self) -> None:
        """Raise ValueError unless stop and targets sit on the right sides, in order."""
        d = int(self.direction)
        if d == 0:
            raise ValueError("plan direction is flat")
        if (self.entry - self.stop) * d <= 0:
            raise ValueError(f"stop {self.stop} is not on the losing side of entry {self.entry}")
        prices = [self.entry] + [t.price for t in self.targets]
        if any((b - a) * d <= 0 for a, b in pairwise(prices)):
            raise ValueError(f"targets {prices[1:]} are not beyond entry in order")
        if self.targets and abs(sum(t.fraction for t in self.targets) - 1.0) > 1e-9:
            raise ValueError("target fractions do not sum to 1")
        if not self.targets and not self.max_hold_hours:
            raise ValueError("a plan without targets needs max_hold_hours")
