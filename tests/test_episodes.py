"""A strategy enters once per signal episode: between two funding_fade entries the same way
on a symbol, the funding bias (extreme, else z-score) must have left that way on some bar —
read back from the stored signal rows, not from the code that decides. Re-entering on every
hourly trigger of one episode is what made fees outrun the price PnL on real history."""

from collections import defaultdict
from itertools import pairwise

import pytest

from bot.app.cli import main
from state.store import Store

ONLY_FADE = "".join(f"[strategies.{name}]\nenabled = false\n" for name in (
    "oi_divergence_reversal", "trapped_trader", "triple_confluence", "composite")) + (
    "[basis]\nenabled = false\n")


def _replay(synth_dir, tmp_path, extra: str = ""):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{synth_dir}"\n{ONLY_FADE}{extra}')
    out = tmp_path / "out"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    return Store(out / "derivbot.db")


def _same_episode_reentries(store: Store) -> tuple[int, list]:
    """(funding_fade entries, the pairs of consecutive same-way entries on a symbol with no
    bar between them — after the first, up to the second — where the bias left that way)."""
    bias: dict[tuple[str, int], dict[str, int]] = defaultdict(dict)
    for s in store.signals():
        if s.module in ("funding_extreme", "funding_zscore"):
            bias[(s.symbol, s.ts)][s.module] = s.direction
    bars = sorted({e.ts for e in store.equity_curve()})
    trades = sorted((t for t in store.trades() if t.strategy == "funding_fade"),
                    key=lambda t: t.created_at)
    way = {"long": 1, "short": -1}
    inside, last = [], {}
    for t in trades:
        prev = last.get(t.symbol)
        d = way[t.side]
        if prev is not None and way[prev.side] == d:
            between = [b for b in bars if prev.created_at < b <= t.created_at]
            left = any((bias[(t.symbol, b)].get("funding_extreme")
                        or bias[(t.symbol, b)].get("funding_zscore", 0)) != d
                       for b in between)
            if not left:
                inside.append((prev.id, t.id))
        last[t.symbol] = t
    return len(trades), inside


@pytest.fixture(scope="module")
def cooldown_zero(synth_dir, tmp_path_factory):
    return _replay(synth_dir, tmp_path_factory.mktemp("cd"),
                   '[strategies.funding_fade]\nreentry = "cooldown"\ncooldown_hours = 0\n')


def test_by_default_a_strategy_enters_once_per_signal_episode(synth_dir, tmp_path,
                                                               cooldown_zero):
    n, inside = _same_episode_reentries(_replay(synth_dir, tmp_path))
    m, inside_cd = _same_episode_reentries(cooldown_zero)
    assert n > 0 and inside == []
    assert m > n and len(inside_cd) > 0  # without the rule, it does re-enter an episode


def test_a_cooldown_spaces_entries_and_a_daily_cap_counts_every_symbol(synth_dir, tmp_path):
    store = _replay(synth_dir, tmp_path, '[strategies.funding_fade]\nreentry = "cooldown"\n'
                                         'cooldown_hours = 48\nmax_trades_per_day = 1\n')
    trades = sorted((t for t in store.trades() if t.strategy == "funding_fade"),
                    key=lambda t: t.created_at)
    assert len(trades) > 2
    by_symbol = defaultdict(list)
    for t in trades:
        by_symbol[t.symbol].append(t.created_at)
    gaps = [b - a for times in by_symbol.values() for a, b in pairwise(times)]
    assert min(gaps) >= 48 * 3_600_000
    days = [t.created_at // 86_400_000 for t in trades]
    assert len(days) == len(set(days))  # one entry a UTC day, BTC and ETH together


def test_a_restart_remembers_the_episode_it_traded(tmp_path):
    from bot.config import StrategiesConfig
    from bot.execution.entries import EntryRules
    from tests.helpers import T0, plan

    store = Store(tmp_path / "bot.db")
    short = plan(-1, 50_000, 50_500, (49_500, 49_000, 48_500))
    rules = EntryRules(StrategiesConfig(), store)
    assert rules.allows(short, T0)
    rules.entered(short, T0)
    again = EntryRules(StrategiesConfig(), Store(tmp_path / "bot.db"))  # after a restart
    assert not again.allows(short, T0 + 3_600_000)
    assert again.allows(plan(1, 50_000, 49_500, (50_500, 51_000, 51_500)), T0 + 3_600_000)
