"""The operator's channels of a running bot: every notice to the webhook and to Telegram,
and what a person may ask from a phone (a proposal's card and chart, status, positions,
a halt, a flatten) answered by the runner."""

from __future__ import annotations

import asyncio
import json
import os

from bot.app.commands import UsageError
from bot.config import Config
from bot.operator.actions import DeskActions
from bot.operator.card import card, chart_png
from bot.operator.status import cash, price
from bot.runner import Runner
from risk.sizing import isolated_liquidation
from state import proposals
from state.models import Proposal, Trade
from strategies.playbook import read_all

ASK_WAIT_S = 15.0  # how long the page waits for the runner to carry out a request


def actions(runner: Runner, cfg: Config) -> DeskActions:
    store, history, markets = runner.store, runner.history, runner.markets

    charts: dict[int, tuple[int, bytes | None]] = {}  # proposal -> (market time, PNG)

    def describe(p: Proposal) -> list[tuple[str, str]]:
        tick = _tick(p.symbol)
        if p.strategy == "basis":
            avg = json.loads(p.reasons_json).get("avg_funding_8h", 0.0)
            return [("trade", f"{p.side}: {p.size} {p.symbol}"),
                    ("price", price(p.entry, tick)), ("margin", cash(p.margin)),
                    ("funding", f"7-day average {avg:.4%} per 8 h")]
        return card(p, history.last_close(p.symbol), store.last_equity(), cfg.risk.leverage,
                    tick, runner.clock.now())

    def chart(p: Proposal) -> bytes | None:
        """Drawn once per proposal and market instant (the page asks every two seconds,
        for each proposal it shows)."""
        now = runner.clock.now()
        drawn = charts.get(p.id)
        if drawn is None or drawn[0] != now:
            view = history.view(p.symbol, now)
            png = (None if p.strategy == "basis" or not len(view.candles) else
                   chart_png(view.candles, p, clusters=read_all(view, cfg.signals).clusters))
            if len(charts) > 64:  # those long answered
                charts.clear()
            drawn = charts[p.id] = (now, png)
        return drawn[1]

    def liquidation(t: Trade) -> float:
        entry = float(t.entry_price or t.plan_entry)
        market = markets.get(t.symbol)
        tiers = (market.mmr_tiers if market else None) or cfg.risk.mmr_tiers
        return isolated_liquidation(entry, float(t.filled - t.exited), cfg.risk.leverage,
                                    1 if t.side == "long" else -1, tiers)

    def status() -> str:
        halt = store.get_meta("halt")
        pending = proposals.listing(store, "pending")
        equity = store.last_equity()
        return "\n".join([
            f"equity {cash(equity)}" if equity is not None else "equity: not yet",
            f"open trades {len(store.open_trades())}, proposals pending {len(pending)}",
            "new entries allowed" if halt is None else f"halted: {halt['reason']}"])

    def positions() -> str:
        rows = [f"#{t.id} {t.side} {t.filled - t.exited} {t.symbol} entry "
                f"{price(float(t.entry_price or t.plan_entry), _tick(t.symbol))} stop "
                f"{price(float(t.stop_price or t.plan_stop), _tick(t.symbol))}"
                for t in store.open_trades()]
        return "\n".join(rows) or "no open positions"

    def _tick(symbol: str):
        m = markets.get(symbol)
        return m.price_tick if m else None

    def halt(by: str) -> str:
        if store.get_meta("halt") is not None:
            return "already halted"
        runner.risk.halt_now(runner.clock.now(), f"halted by {by}")
        return f"new entries halted by {by}; lift with `derivbot halt --lift`"

    async def flatten(by: str) -> str:
        runner.ask("flatten", by)  # its outcome is told like every exit and the halt
        return f"flatten requested by {by}: every bot position closes at the next tick"

    async def ask(action: str, *args) -> str:
        """A request the runner carries out between ticks: its result, or that it waits."""
        try:
            return await asyncio.wait_for(asyncio.shield(runner.ask(action, *args)), ASK_WAIT_S)
        except TimeoutError:
            return f"{action} requested: the bot carries it out at its next tick"

    def marks() -> dict:
        return {s: history.last_close(s) for s in markets if not markets[s].spot}

    def ticks() -> dict:
        return {s: m.price_tick for s, m in markets.items()}

    return DeskActions(describe, chart, status, positions, halt, flatten, runner.clock.now,
                       ask, marks, ticks, liquidation)


async def start_desk(cfg: Config, runner: Runner):
    """Notices to the webhook (when set) and Telegram (when enabled); the desk to stop."""
    tellers = []
    hook = runner.telemetry.webhook
    if hook is not None:
        tellers.append(lambda n: hook.send(n.payload()))
    desk = None
    if cfg.telegram.enabled:
        token = os.environ.get(cfg.telegram.token_env, "")
        if not token:
            raise UsageError(f"telegram.token_env: {cfg.telegram.token_env} is not set")
        from bot.operator.telegram import TelegramDesk  # its library only when enabled

        desk = TelegramDesk(cfg.telegram, token, runner.store, actions(runner, cfg))
        await desk.start()
        tellers.append(desk.tell)
    if tellers:
        runner.tell_to(*tellers)
    return desk
