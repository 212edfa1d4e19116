"""The account as the risk manager sees it: equity across the futures and spot wallets at
last prices, the start-of-day equity and the peak (both kept across restarts)."""

from __future__ import annotations

import math
from decimal import Decimal

from bot.marketdata.history import History
from bot.markets import QUOTES
from risk.manager import Portfolio
from state.models import PositionRow
from state.store import Store
from strategies.types import DAY_MS


class Account:
    def __init__(self, gateway, store: Store, history: History, clock) -> None:
        self.gw, self.store, self.history, self.clock = gateway, store, history, clock
        self._day = store.get_meta("day", [0, None])
        self.peak: float | None = store.get_meta("peak_equity")
        self._peak_since = store.get_meta("peak_since", 0)  # the lift the peak restarted at

    def total_equity(self, bal) -> Decimal:
        """Futures equity plus what the spot account holds, at last prices."""
        total = bal.equity
        for asset, amount in bal.spot.items():
            if amount == 0:
                continue
            if asset in QUOTES:
                total += amount
            else:
                px = self.history.last_close(f"{asset}/USDT:USDT")
                total += amount * Decimal(repr(px if math.isfinite(px) else 0.0))
        return total

    async def equity(self) -> float:
        return float(self.total_equity(await self.gw.fetch_balance()))

    async def portfolio(self, now: int, open_risk) -> Portfolio:
        """What the risk manager sizes against: equity, available margin, open risk, the
        day's start and the peak."""
        bal = await self.gw.fetch_balance()
        equity = float(self.total_equity(bal))
        self._restart_peak(equity)
        return Portfolio(equity, float(bal.available), tuple(open_risk),
                         self._day_start(now, equity), self.peak)

    def _restart_peak(self, equity: float) -> None:
        """After a halt lifts (by the day or by a person), drawdown is measured from the
        equity at the lift, not from the peak that halted it."""
        lifted = self.store.get_meta("halt_lifted")
        if lifted is not None and lifted.get("seen", lifted["at"]) > self._peak_since:
            self.peak = lifted.get("equity") or equity
            self._peak_since = lifted.get("seen", lifted["at"])
            self.store.set_meta("peak_since", self._peak_since)
            self.store.set_meta("peak_equity", self.peak)

    def mark(self, equity: float) -> None:
        """A new equity reading: the peak follows it up."""
        if self.peak is None or equity > self.peak:
            self.peak = equity

    def _day_start(self, now: int, equity: float) -> float:
        day = now // DAY_MS
        if self._day[0] != day or self._day[1] is None:
            self._day = [day, equity]
            self.store.set_meta("day", self._day)
        return self._day[1]

    async def save_positions(self) -> None:
        """The exchange's positions and the peak, stored for `derivbot status` and a restart."""
        rows = [PositionRow(symbol=p.symbol, contracts=p.contracts, entry_price=p.entry_price,
                            margin=p.margin, liquidation_price=p.liquidation_price,
                            unrealised=p.unrealised, updated_at=self.clock.now())
                for p in await self.gw.fetch_positions()]
        self.store.replace_positions(rows)
        self.store.set_meta("peak_equity", self.peak)
