"""Which strategy decides a bar: the heaviest enabled one with a plan."""

from types import SimpleNamespace


def test_the_heaviest_strategy_with_a_plan_wins_and_lighter_ones_are_not_asked(monkeypatch):
    """Runner._pick: heaviest first, config order between equals; the first plan ends it."""

    from bot.config import parse_config
    from bot.execution import decisions as runner

    asked: list[str] = []

    def strategy(name: str, has_plan: bool):
        def build(_readings, _signals):
            asked.append(name)
            return f"plan of {name}" if has_plan else None
        return build

    has_plan = {"funding_fade": True, "oi_divergence_reversal": True, "trapped_trader": False,
                "liquidation_magnet": True, "triple_confluence": True, "composite": True}
    monkeypatch.setattr(runner, "STRATEGIES",
                        {name: strategy(name, p) for name, p in has_plan.items()})
    cfg = parse_config({"strategies": {
        "funding_fade": {"weight": 1.0}, "oi_divergence_reversal": {"weight": 1.5},
        "trapped_trader": {"weight": 2.0}, "liquidation_magnet": {"enabled": False},
        "triple_confluence": {"weight": 1.5}, "composite": {"weight": 0.5}}})
    anything = SimpleNamespace(allows=lambda _plan, _now: True)  # no entry rule in the way
    me = SimpleNamespace(cfg=cfg, _asked=runner.asked_order(cfg), entries=anything)
    hourly = {"1h": "readings"}
    assert runner.Decisions._pick(me, hourly, 0) == ("plan of oi_divergence_reversal", 1.5,
                                                     "readings")
    assert asked == ["trapped_trader", "oi_divergence_reversal"]  # 2.0 had none; 1.5 first
    has_plan["oi_divergence_reversal"] = has_plan["triple_confluence"] = False
    monkeypatch.setattr(runner, "STRATEGIES",
                        {name: strategy(name, p) for name, p in has_plan.items()})
    asked.clear()
    me._asked = runner.asked_order(cfg)
    assert runner.Decisions._pick(me, hourly, 0) == ("plan of funding_fade", 1.0, "readings")
    assert asked == ["trapped_trader", "oi_divergence_reversal", "triple_confluence",
                     "funding_fade"]  # the disabled magnet is never asked
    # a strategy on 4 h bars is asked only when one closes, with that bar's readings
    cfg = parse_config({"strategies": {"trapped_trader": {"timeframe": "4h"}}})
    me = SimpleNamespace(cfg=cfg, _asked=runner.asked_order(cfg), entries=anything)
    asked.clear()
    assert runner.Decisions._pick(me, hourly, 0) == ("plan of funding_fade", 1.0, "readings")
    assert "trapped_trader" not in asked
    both = {"1h": "hourly", "4h": "four-hourly"}
    has_plan["funding_fade"] = False
    monkeypatch.setattr(runner, "STRATEGIES",
                        {name: strategy(name, p) for name, p in has_plan.items()})
    asked.clear()
    assert runner.Decisions._pick(me, both, 0) == ("plan of composite", 0.75, "hourly")
    has_plan["trapped_trader"] = True
    monkeypatch.setattr(runner, "STRATEGIES",
                        {name: strategy(name, p) for name, p in has_plan.items()})
    assert runner.Decisions._pick(me, both, 0) == ("plan of trapped_trader", 1.0,
                                                   "four-hourly")
