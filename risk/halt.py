"""The halt on new entries after a daily loss or drawdown, and when it lifts."""

from __future__ import annotations

from dataclasses import dataclass

from strategies.types import DAY_MS


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str
    since: int  # ms
    release: str  # "manual" or "next_day"

    def lifts_at(self) -> int | None:
        return (self.since // DAY_MS + 1) * DAY_MS if self.release == "next_day" else None

    def active(self, now: int) -> bool:
        end = self.lifts_at()
        return end is None or now < end
