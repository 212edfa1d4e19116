"""A study's search space, read from TOML: which configuration keys vary over what range,
how a fold is scored, and what a result must hold to count.

    [study]
    score = "profit_factor"      # profit_factor | sharpe | total_return | calmar
    min_trades = 10              # fewer trades in a fold: the worst score
    max_drawdown = 0.3           # a deeper drawdown: the worst score

    [params]
    "strategies.funding_fade.weight" = { low = 0.5, high = 1.5 }
    "management.trailing_atr" = { low = 0.0, high = 3.0, step = 0.5 }
    "signals.funding_zscore.entry" = { low = 1.5, high = 3.0 }
    "strategies.funding_reversion.enabled" = { choices = [true, false] }
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.config import Config, ConfigError, parse_config, read_toml

WORST = -1e9  # the score of a fold that breaks a constraint (Optuna wants a finite value)


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    low: float | None = None
    high: float | None = None
    step: float | None = Field(default=None, gt=0)
    log: bool = False
    integer: bool = False
    choices: tuple[bool | int | float | str, ...] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Range:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("give either choices or low and high")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError("needs low < high (or choices)")
        return self


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    score: Literal["profit_factor", "sharpe", "total_return", "calmar"] = "profit_factor"
    min_trades: int = Field(default=0, ge=0)
    max_drawdown: float = Field(default=1.0, gt=0, le=1)


class Space(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    study: Rules = Rules()
    params: dict[str, Range]

    def score(self, report: dict) -> float:
        """A fold's score from its replay report; WORST when a constraint is broken."""
        r = self.study
        if report["trades"] < r.min_trades or report["max_drawdown"] > r.max_drawdown:
            return WORST
        value = report.get(r.score)
        if value is None or not math.isfinite(float(value)):
            # no losing trade: profit factor is unbounded; rank it by its return instead
            return 100.0 + float(report["total_return"]) if report["trades"] else WORST
        return float(value)


def set_key(raw: dict, dotted: str, value: Any) -> dict:
    """A copy of the config tables with `dotted` (e.g. "risk.fraction") set to `value`."""
    out = copy.deepcopy(raw)
    node = out
    *path, last = dotted.split(".")
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part} is not a table")
    node[last] = value
    return out


def with_params(raw: dict, params: dict[str, Any]) -> tuple[dict, Config]:
    """The config tables with every parameter set, and the Config they validate to."""
    for key, value in params.items():
        raw = set_key(raw, key, value)
    return raw, parse_config(raw)


def load_space(path: str | Path, base: dict) -> Space:
    """The space file, each key checked against the configuration: a key that does not
    exist, or a range whose ends the config refuses, is an error naming it."""
    tables = read_toml(path)
    try:
        space = Space.model_validate(tables)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    if not space.params:
        raise ConfigError(f"{path}: [params] names no parameter to vary")
    for key, rng in space.params.items():
        ends = rng.choices if rng.choices is not None else (rng.low, rng.high)
        for value in ends:
            if rng.integer and not isinstance(value, bool):
                value = int(value)
            try:
                with_params(base, {key: value})
            except ConfigError as err:
                raise ConfigError(f"{path}: params.{key} = {value!r}: {err}") from None
    return space


def suggest(trial, space: Space) -> dict[str, Any]:
    """One trial's parameters, in the space's order."""
    out: dict[str, Any] = {}
    for key, r in space.params.items():
        if r.choices is not None:
            out[key] = trial.suggest_categorical(key, list(r.choices))
        elif r.integer:
            out[key] = trial.suggest_int(key, int(r.low), int(r.high), step=int(r.step or 1),
                                         log=r.log)
        else:
            out[key] = trial.suggest_float(key, r.low, r.high, step=r.step, log=r.log)
    return out
