"""`derivbot study`: a walk-forward parameter search with Optuna.

The span [since, until) is cut into K + 1 equal parts; fold k searches on part k (N trials
of Optuna's TPE sampler, each trial a replay of that part, the history before it read as
warm-up) and tests the best trial on part k + 1, which the search never saw. The study
asks for trials in batches and tells their scores back in order, so one seed gives one
result whether the replays run here, in a process pool (`--jobs`) or on a Dask cluster
(`--cluster`): the executor only computes. Each worker gets the market data once (a pool
worker loads it at start; a cluster gets it scattered), never per trial. Only this process
touches the study's storage (a SQLite file by default, any Optuna URL otherwise), so a
stopped study resumes where it stood. The best parameters of the last fold are written as
a config file a replay reproduces exactly; `--holdout D` replays them once over [D, end).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import tomli_w

from bot.app.space import Space, suggest, with_params
from bot.marketdata.layout import MarketData

log = logging.getLogger("derivbot.study")
optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar says it
_DATA: dict[str, MarketData] = {}  # a worker's market data, loaded once


@dataclass(frozen=True)
class Fold:
    k: int
    fit: tuple[int, int]
    test: tuple[int, int]


def cut(since: int, until: int, folds: int) -> list[Fold]:
    """K folds over K + 1 equal parts, cut at whole UTC days (as replay's --since and
    --until take them)."""
    day = 86_400_000
    step = (until - since) // (folds + 1) // day * day
    if step < day:
        raise ValueError(f"{folds} folds leave less than a day per part")
    edges = [since + i * step for i in range(folds + 1)] + [until]
    return [Fold(k, (edges[k], edges[k + 1]), (edges[k + 1], edges[k + 2]))
            for k in range(folds)]


def _load(folder: str, symbols: tuple[str, ...]) -> None:
    from bot.marketdata import layout
    _DATA[folder] = layout.load(folder, symbols=symbols)


def evaluate(raw: dict, folder: str, span: tuple[int, int], data: MarketData | None = None
             ) -> dict:
    """Replay `raw` (config tables) over `span` of the data; the report's figures."""
    from bot.app.modes import replay
    from bot.config import parse_config

    cfg = parse_config(raw)
    data = data if data is not None else _DATA.get(folder)
    with tempfile.TemporaryDirectory(prefix="derivbot-trial-") as out:
        report = asyncio.run(replay(cfg, Path(folder), Path(out), progress=False,
                                    telemetry=False, since=span[0], until=span[1], data=data,
                                    files=False))
    keys = ("trades", "profit_factor", "sharpe", "total_return", "calmar", "max_drawdown",
            "win_rate", "net_pnl", "final_equity")
    return {k: report.get(k) for k in keys}


class Pool:
    """Replays in local worker processes, each loading the market data once."""

    def __init__(self, jobs: int, folder: str, symbols: tuple[str, ...]) -> None:
        self.size = jobs
        self.ex = ProcessPoolExecutor(jobs, initializer=_load, initargs=(folder, symbols))

    def submit(self, raw: dict, folder: str, span: tuple[int, int]) -> Future:
        return self.ex.submit(evaluate, raw, folder, span)

    def close(self) -> None:
        self.ex.shutdown(wait=False, cancel_futures=True)


class Cluster:
    """Replays on a Dask cluster: the market data scattered to every worker once."""

    def __init__(self, address: str, folder: str, symbols: tuple[str, ...]) -> None:
        from distributed import Client

        from bot.marketdata import layout

        self.client = Client(address)
        self.size = max(len(self.client.scheduler_info()["workers"]), 1)
        self.data = self.client.scatter(layout.load(folder, symbols=symbols), broadcast=True)

    def submit(self, raw: dict, folder: str, span: tuple[int, int]):
        return self.client.submit(evaluate, raw, folder, span, self.data, pure=False)

    def close(self) -> None:
        self.client.close()


@dataclass
class FoldResult:
    fold: Fold
    best_params: dict[str, Any]
    fit: dict
    test: dict
    fit_score: float
    test_score: float


@dataclass
class Study:
    raw: dict  # the base config's tables
    space: Space
    folder: str
    symbols: tuple[str, ...]
    folds: list[Fold]
    trials: int
    storage: str
    name: str
    seed: int = 7
    results: list[FoldResult] = field(default_factory=list)

    def _study(self, fold: Fold) -> optuna.Study:
        sampler = optuna.samplers.TPESampler(seed=self.seed + fold.k, multivariate=True)
        study = optuna.create_study(storage=self.storage, study_name=f"{self.name}-fold{fold.k}",
                                    direction="maximize", sampler=sampler,
                                    load_if_exists=True)
        for t in study.get_trials(deepcopy=False,
                                  states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)  # cut short by a stop
        return study

    def run(self, executor, progress: Callable[[int, int, float | None], None]
            ) -> list[FoldResult]:
        done_before = 0
        for fold in self.folds:
            study = self._study(fold)
            complete = optuna.trial.TrialState.COMPLETE
            while (have := len(study.get_trials(states=(complete,)))) < self.trials:
                batch = [study.ask() for _ in range(min(executor.size, self.trials - have))]
                jobs = []
                for trial in batch:
                    raw, _ = with_params(self.raw, suggest(trial, self.space))
                    jobs.append(executor.submit(raw, self.folder, fold.fit))
                for trial, job in zip(batch, jobs, strict=True):
                    report = job.result()
                    trial.set_user_attr("report", report)
                    study.tell(trial, self.space.score(report))
                best = study.best_value if study.best_trial else None
                progress(done_before + min(have + len(batch), self.trials),
                         self.trials * len(self.folds), best)
            done_before += self.trials
            self.results.append(self._test(study, fold, executor))
        return self.results

    def _test(self, study: optuna.Study, fold: Fold, executor) -> FoldResult:
        best = study.best_trial
        known = study.user_attrs.get("test")
        if known is None or known.get("trial") != best.number:
            raw, _ = with_params(self.raw, best.params)
            report = executor.submit(raw, self.folder, fold.test).result()
            study.set_user_attr("test", {"trial": best.number, "report": report})
            known = study.user_attrs["test"]
        return FoldResult(fold, dict(best.params), best.user_attrs["report"],
                          known["report"], best.value, self.space.score(known["report"]))

    def best_config(self) -> dict:
        """The base config with the last fold's best parameters: what would trade next."""
        raw, _ = with_params(self.raw, self.results[-1].best_params)
        return raw


def write_config(raw: dict, path: Path) -> None:
    path.write_text(tomli_w.dumps(raw))
