"""What the bot shows of each tick: the equity row and the book's gauges, each module's
reading (its gauge and, when it leans, a signal row), and the alert conditions."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.config import Config
from bot.operator.alerts import AlertBook, Webhook
from bot.operator.metrics import Metrics
from state.store import Store
from strategies.alerts import conditions
from strategies.playbook import Readings
from strategies.types import Signal

NUMBER = re.compile(r"\d+(?:\.\d+)?")
ORDER_STATES = ("pending_create", "open", "filled", "canceled", "expired", "rejected")


class Telemetry:
    def __init__(self, cfg: Config, store: Store, metrics: Metrics) -> None:
        self.cfg, self.store, self.metrics = cfg, store, metrics
        hook = cfg.alerts.webhook_url
        self.webhook = (Webhook(hook, metrics, cfg.alerts.retries, cfg.alerts.timeout_s)
                        if hook else None)
        self.alerts = AlertBook(store, metrics, self.webhook)
        self._shown: dict[tuple, list] = {}  # (metric, labels) -> [gauge, value shown]
        self.bars = 0  # symbol-bars whose readings were shown
        self._abstained: dict[tuple[str, str], int] = {}  # (module, why) -> bars
        self._why: dict[str, str] = {}  # a reason as said -> with its numbers as N
        self._counted: set[int] = set()  # closed trades already in derivbot_trades_total
        self._state: dict[tuple[str, str], tuple] = {}  # (symbol, module) -> last state kept

    def data_age(self, now: int, seen: dict[str, tuple[int, float]]) -> None:
        """Market-data age per symbol in market time (paper and replay; the live feed
        sets it from the wall clock)."""
        for symbol, (at, _price) in seen.items():
            self._show(self.metrics.data_age, max(now - at, 0) / 1000, symbol)

    def start(self) -> None:
        if self.webhook is not None:
            self.webhook.start()

    async def close(self) -> None:
        """Give the webhook a moment to deliver what is queued."""
        if self.webhook is not None:
            await self.webhook.close()

    def readings(self, now: int, symbol: str, readings: Readings) -> None:
        """Signal gauges and rows, and the alert conditions, of one symbol's readings."""
        signals = readings.signals
        self.bars += 1
        for sig in signals.values():
            self._signal(now, symbol, sig)
            if "abstain" in sig.reasons:
                key = (sig.module, self._general(sig.reasons["abstain"]))
                self._abstained[key] = self._abstained.get(key, 0) + 1
        self.alerts.update(now, symbol, conditions(readings.view, signals, readings.clusters,
                                                   self.cfg.signals.alerts, readings.numbers))

    def book(self, t: int, equity: Decimal, wallet: Decimal, om, basis,
             gauges: bool = True) -> None:
        """The equity row and the book's gauges: equity, wallet, open positions and risk, PnL
        parts, basis pairs, bucket risk and orders by state (`om` the order manager, `basis`
        the basis executor or None). `gauges` False (a replay without telemetry, which no
        one scrapes): the equity row alone."""
        open_n = len(om.active) + (len(basis.active) if basis else 0)
        self.store.add_equity(t, equity, wallet, open_n)
        if not gauges:
            return
        m, show = self.metrics, self._show
        show(m.equity, float(equity))
        show(m.wallet, float(wallet))
        show(m.open_positions, open_n)
        risks = om.open_risk()
        show(m.open_risk, sum(r.risk_cash for r in risks))
        for part, value in om.pnl.items():
            show(m.pnl, float(value), part)
        if basis is not None:
            show(m.basis_pairs, len(basis.active))
            show(m.basis_funding, sum(float(b.funding) for b in basis.active.values()))
        for group in self.cfg.risk.buckets:
            name = "/".join(s.split("/")[0] for s in group)
            show(m.bucket_risk, sum(r.risk_cash for r in risks if r.symbol in group), name)
        for trade_id in om.finished.keys() - self._counted:  # each closed trade counted once
            trade = om.finished[trade_id]
            self._counted.add(trade_id)
            outcome = ("failed" if trade.state == "failed" else
                       "win" if trade.realised - trade.fees + trade.funding > 0 else "loss")
            m.trades.labels(outcome).inc()
        counts: dict[str, int] = {}
        for o in om.orders.values():
            counts[o.state] = counts.get(o.state, 0) + 1
        for state in ORDER_STATES:
            show(m.orders, counts.get(state, 0), state)

    def abstentions(self) -> dict[str, dict]:
        """Per module: the share of symbol-bars on which it abstained, and why (each reason
        with the share of bars it held)."""
        out: dict[str, dict] = {}
        for (module, why), n in sorted(self._abstained.items()):
            m = out.setdefault(module, {"share": 0.0, "why": {}})
            m["why"][why] = round(n / self.bars, 4)
            m["share"] = round(m["share"] + n / self.bars, 4)
        return out

    def _general(self, why: str) -> str:
        """'needs 104 funding periods, have 37' -> 'needs N funding periods, have N'."""
        general = self._why.get(why)
        if general is None:
            general = self._why[why] = NUMBER.sub("N", why)
        return general

    def _signal(self, now: int, symbol: str, sig: Signal) -> None:
        """A row for every directional reading, and for a flat one when the module's state
        changed: a reading after an abstention (or the first), an abstention after a
        reading, a venue gone stale or back."""
        self._show(self.metrics.signal, int(sig.direction) * sig.strength, symbol, sig.module)
        key = (symbol, sig.module)
        state = (int(sig.direction), "abstain" in sig.reasons, sig.reasons.get("stale"))
        if sig.direction != 0 or self._state.get(key) != state:
            self.store.add_signal(now, symbol, sig.module, int(sig.direction), sig.strength,
                                  dict(sig.reasons))
        self._state[key] = state

    def _show(self, metric, value: float, *labels: str) -> None:
        """Set a gauge (a labelled one's child, looked up once: labels() costs more than
        set()) when its value changed: the telemetry is the only writer of its gauges, and
        most ticks repeat the last values (a flat book, a flat signal)."""
        key = (id(metric), labels)
        known = self._shown.get(key)
        if known is None:
            child = metric.labels(*labels) if labels else metric
            child.set(value)
            self._shown[key] = [child, value]
        elif known[1] != value:
            known[0].set(value)
            known[1] = value
