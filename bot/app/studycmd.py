"""`derivbot study`: the command around the walk-forward search (study.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.app.commands import UsageError, _day
from bot.config import ConfigError, parse_config, read_toml

STOPPED = 130  # Ctrl-C: the trials told so far are kept; the same command resumes


def add_parser(sub) -> None:
    st = sub.add_parser("study", help="walk-forward parameter search (Optuna); resumable")
    st.add_argument("--config", default="config.toml", help="the base configuration")
    st.add_argument("--space", required=True, help="the search space (TOML)")
    st.add_argument("--data", help="market data folder (default: config or synthetic)")
    st.add_argument("--since", required=True, help="ISO date: the first searched part")
    st.add_argument("--until", required=True, help="ISO date: the end of the last test part")
    st.add_argument("--folds", type=int, default=3, help="searched parts, each tested on "
                    "the next (K + 1 equal parts)")
    st.add_argument("--trials", type=int, default=50, help="trials per fold")
    st.add_argument("--jobs", type=int, default=1, help="replays at once on this machine")
    st.add_argument("--cluster", help="a Dask scheduler address (tcp://host:8786) instead")
    st.add_argument("--holdout", help="ISO date: after the search, replay the chosen "
                    "parameters once from here to the data's end (never searched)")
    st.add_argument("--storage", help="Optuna storage URL (default: sqlite in --out)")
    st.add_argument("--name", default="derivbot", help="the study's name in the storage")
    st.add_argument("--seed", type=int, default=7)
    st.add_argument("--out", default="out/study")
    st.set_defaults(func=cmd_study)


def _check(args) -> tuple[int, int, int | None]:
    since, until = _day(args.since, "--since"), _day(args.until, "--until")
    holdout = _day(args.holdout, "--holdout")
    if since >= until:
        raise UsageError(f"--since {args.since} must be before --until {args.until}")
    if holdout is not None and until > holdout:
        raise UsageError(f"--until {args.until} runs into the holdout from {args.holdout}: "
                         "the search must never see it")
    for flag, value, low in (("--folds", args.folds, 1), ("--trials", args.trials, 1),
                             ("--jobs", args.jobs, 1)):
        if value < low:
            raise UsageError(f"{flag} {value}: at least {low}")
    return since, until, holdout


def cmd_study(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from bot.app import modes as app
    from bot.app import studyreport
    from bot.app.space import load_space
    from bot.app.study import Cluster, Pool, Study, cut, write_config

    since, until, holdout = _check(args)
    base = read_toml(args.config)
    cfg = parse_config(base)
    try:
        space = load_space(args.space, base)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    folder = str(app.resolve_data(cfg, args.data))
    try:
        folds = cut(since, until, args.folds)
    except ValueError as err:
        raise UsageError(f"--folds {args.folds}: {err}") from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or f"sqlite:///{out / 'study.db'}"
    study = Study(base, space, folder, cfg.data.symbols, folds, args.trials, storage,
                  args.name, args.seed)
    executor = (Cluster(args.cluster, folder, cfg.data.symbols) if args.cluster
                else Pool(args.jobs, folder, cfg.data.symbols))
    print(f"study {args.name}: {args.folds} folds × {args.trials} trials, "
          f"{executor.size} at once ({'cluster ' + args.cluster if args.cluster else 'local'})"
          f", storage {storage}", flush=True)
    try:
        with Progress(TextColumn("trials"), BarColumn(), TextColumn("{task.completed}/"
                      "{task.total}"), TextColumn("best {task.fields[best]}"),
                      TimeRemainingColumn()) as bar:
            task = bar.add_task("study", total=args.trials * args.folds, best="n/a")
            results = study.run(executor, lambda n, total, best: bar.update(
                task, completed=n, best="n/a" if best is None else f"{best:.4g}"))
        held = None
        if holdout is not None:
            from bot.marketdata import layout

            end = max(int(df["timestamp"].iloc[-1]) for df in layout.load(
                folder, symbols=cfg.data.symbols).tables.values() if len(df)) + 3_600_000
            held = {"span": [args.holdout, studyreport.day(end)],
                    "report": executor.submit(study.best_config(), folder,
                                              (holdout, end)).result()}
    except KeyboardInterrupt:
        print(f"stopped: the trials told so far are in {storage}; the same command resumes",
              flush=True)
        return STOPPED
    finally:
        executor.close()
    studyreport.write(results, out, space.study.score, held)
    write_config(study.best_config(), out / "best.toml")
    last = results[-1].fold.test
    print(f"wrote {out / 'best.toml'} (the last fold's best), {out / 'study.json'}, "
          f"{out / 'folds.png'}, {out / 'folds.html'}; its last test fold again: derivbot "
          f"replay --config {out / 'best.toml'} --since {studyreport.day(last[0])} --until "
          f"{studyreport.day(last[1])} --no-telemetry", flush=True)
    return 0
