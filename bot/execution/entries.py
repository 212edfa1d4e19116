"""When a strategy may enter again. By default once per signal episode: after an entry the
same way, its positioning bias must return inside its band (or turn) before the next; or,
with `reentry = "cooldown"`, `cooldown_hours` after the last entry; and never more than
`max_trades_per_day` entries a UTC day. Kept in the database: a restart does not re-enter
an episode it already traded."""

from __future__ import annotations

from bot.config import StrategiesConfig
from state.store import Store
from strategies.playbook import BIAS, Readings
from strategies.types import DAY_MS, HOUR_MS, Direction, TradePlan

KEY = "entries"


class EntryRules:
    def __init__(self, cfg: StrategiesConfig, store: Store) -> None:
        self.toggles = {name: getattr(cfg, name) for name in BIAS}
        self.store = store
        saved = store.get_meta(KEY, {})
        # "strategy|symbol" -> the way of the episode it entered (until the bias leaves it)
        self.episodes: dict[str, int] = saved.get("episodes", {})
        self.last: dict[str, int] = saved.get("last", {})  # "strategy|symbol" -> entered at
        self.day: list = saved.get("day", [0, {}])  # [UTC day, {strategy: entries}]

    def observe(self, symbol: str, frames: dict[str, Readings]) -> None:
        """An episode ends on the first bar (of its strategy's timeframe) whose bias no
        longer points its way."""
        ended = []
        for k, way in self.episodes.items():
            name, sym = k.split("|", 1)
            readings = frames.get(self.toggles[name].timeframe)
            if sym == symbol and readings is not None and BIAS[name](readings) != way:
                ended.append(k)
        for k in ended:
            del self.episodes[k]
        if ended:
            self._save()

    def allows(self, plan: TradePlan, now: int) -> bool:
        toggle = self.toggles[plan.strategy]
        key = f"{plan.strategy}|{plan.symbol}"
        if toggle.reentry == "episode" and self.episodes.get(key) == int(plan.direction):
            return False
        if toggle.reentry == "cooldown" and key in self.last and (
                now - self.last[key] < toggle.cooldown_hours * HOUR_MS):
            return False
        cap = toggle.max_trades_per_day
        return not cap or self._today(now).get(plan.strategy, 0) < cap

    def entered(self, plan: TradePlan, now: int) -> None:
        key = f"{plan.strategy}|{plan.symbol}"
        if plan.direction != Direction.FLAT:
            self.episodes[key] = int(plan.direction)
        self.last[key] = now
        today = self._today(now)
        today[plan.strategy] = today.get(plan.strategy, 0) + 1
        self._save()

    def _today(self, now: int) -> dict[str, int]:
        if self.day[0] != now // DAY_MS:
            self.day = [now // DAY_MS, {}]
        return self.day[1]

    def _save(self) -> None:
        self.store.set_meta(KEY, {"episodes": self.episodes, "last": self.last,
                                  "day": self.day})
