"""Rules whose breakage a trader would pay for, each pinned by the numbers it must give:
the size's two caps (leverage on equity, margin plus fee on what is available), the desk's
half-Kelly fraction from the bot's own record, breakeven at the fill (not the plan), a stop
that only tightens, the simulated short's liquidation, and an approval claimed once when
two executors race."""

from decimal import Decimal as D
from types import SimpleNamespace

import pytest

from bot.execution.riskdesk import RiskDesk
from bot.marketdata.history import History
from bot.markets import default_market
from bot.operator.metrics import Metrics
from risk.kelly import half_kelly
from risk.limits import RiskLimits
from risk.manager import Approved, Portfolio, assess
from state.models import Trade
from state.store import Store
from tests.helpers import BTC, T0, plan

RULES = default_market(BTC, 50_000).rules()


def test_size_is_capped_by_leverage_on_equity_then_by_margin_and_fee_on_available():
    limits = RiskLimits(leverage=5, max_leverage=20)
    tight = plan(1, 50_000, 49_990, (50_010, 50_020, 50_030))  # 1.5 % risk: 150 BTC uncapped
    rich = assess(tight, Portfolio(equity=100_000, available=10**9), RULES, limits)
    assert isinstance(rich, Approved)
    assert rich.size == D(10)  # 5 × 100 000 / 50 000, not 150, not 20
    assert rich.cuts[0] == "leverage cap: size cut from 150 to 10"  # no 1.5E+2 for a person
    poor = assess(tight, Portfolio(equity=100_000, available=30_000), RULES, limits)
    # 30 000 of margin at 5× with the 0.05 % taker fee: 30 000 / (50 000 × (0.2 + 0.0005))
    assert poor.size == D("2.992")
    assert poor.margin == pytest.approx(2.992 * 50_000 / 5)
    assert poor.risk_cash == pytest.approx(2.992 * 10)


def test_the_desk_sizes_with_half_kelly_from_the_bots_own_closed_trades(tmp_path):
    desk = RiskDesk(RiskLimits(kelly=True, fraction=0.01), Store(tmp_path / "k.db"), Metrics())
    trades = {}
    for i, r in enumerate([1.3] * 18 + [-1.0] * 12, start=1):  # p = 0.6, b = 1.3, 30 trades
        trades[i] = Trade(id=i, strategy="funding_fade", symbol=BTC, side="long",
                          state="closed", plan_entry=1, plan_stop=0, targets_json="[]",
                          risk_cash=100.0, realised=D(str(100 * r)), fees=D(0), funding=D(0))
    record = SimpleNamespace(finished=trades, changed=list(trades))
    assert half_kelly(0.6, 1.3) > 0.02  # clamped to the band's top
    assert desk.fraction(record) == 0.02
    losing = {i: replace_net(t, -100.0) for i, t in trades.items()}
    assert desk.fraction(SimpleNamespace(finished=losing, changed=list(losing))) == 0.01
    wide = plan(1, 50_000, 49_000, (51_000, 52_000, 53_000))
    d = desk.decide(wide, Portfolio(equity=100_000, available=10**9), RULES, History("x"),
                    T0, record)
    assert isinstance(d, Approved) and d.risk_cash == pytest.approx(2_000)  # 2 %, not 1 %


def replace_net(t: Trade, realised: float) -> Trade:
    return t.model_copy(update={"realised": D(str(realised))})


def test_breakeven_is_the_fill_price_and_a_stop_never_loosens():
    from tests.helpers import Desk, run, sim

    ex = sim(price=50_000.0, slippage=0.0)
    desk = Desk(ex)
    trade = desk.open(plan(1, 49_900, 49_000, (50_500, 51_000, 51_500)), "1")
    assert trade.entry_price == D(50000) and trade.plan_entry == 49_900  # filled off plan
    desk.candle(BTC, 50_000, 50_600, 49_950, 50_550)  # T1 fills
    stops = [o for o in ex.open.values() if "-stop-" in o.client_id]
    assert [o.stop_price for o in stops] == [D("50000.0")]  # the fill, not the plan's 49 900
    run(desk.om._move_stop(desk.om.active[trade.id], D(49500)))  # looser: ignored
    assert [o.stop_price for o in ex.open.values() if "-stop-" in o.client_id] == [
        D("50000.0")]


def test_the_simulated_short_is_liquidated_above_entry_by_1_over_l_less_mmr():
    from tests.helpers import sim

    ex = sim(price=50_000.0, slippage=0.0)
    ex.set_leverage(BTC, 10)
    from bot.types import OrderRequest, OrderType

    ex.create_order(OrderRequest("s1", BTC, "sell", OrderType.MARKET, D(1)))
    pos = ex.positions[BTC]
    liq = float(ex._liq_price(pos))
    assert liq == pytest.approx(50_000 * (1 + 1 / 10 - 0.004), rel=1e-9)  # 54 800
    ex.on_candle(BTC, T0 + 3_600_000, 50_000, 54_700, 49_900, 54_000)
    assert ex.positions[BTC].contracts != 0  # 54 700 does not reach it
    ex.on_candle(BTC, T0 + 7_200_000, 54_000, 54_900, 53_900, 54_500)
    assert BTC not in ex.positions or ex.positions[BTC].contracts == 0


def test_two_executors_racing_for_one_approval_send_one_entry(synth_dir, tmp_path):
    import asyncio

    from state import proposals
    from tests.helpers import replay_runner, run

    runner, engine, store, feed = replay_runner(synth_dir, tmp_path / "b.db",
                                                {"approval": {"paper": True}})

    async def go():
        await runner.start()
        for t, batch in feed:
            await runner.tick(t, batch)
            if proposals.listing(store, "pending"):
                break
        (p,) = proposals.listing(store, "pending")
        proposals.decide(store, p.id, True, "alice", runner.clock.now())
        # five executors (as five processes would) that all saw it approved before any
        # claimed it: only the claim decides who executes
        seen = runner.gate.ready(runner.clock.now())
        assert [q.id for q in seen] == [p.id]
        runner.gate.ready = lambda _now, _price_of=None: seen
        before = len(store.decisions())
        await asyncio.gather(*(runner.approvals.execute(runner.clock.now()) for _ in range(5)))
        entries = [o for o in engine.orders.values() if o.client_id.endswith("-entry-0")]
        assert len(entries) == 1 and proposals.get(store, p.id).status == "executed"
        assert len(store.decisions()) == before + 1  # the others never even looked at it

    run(go())
    store.close()
