"""The approval gate: proposals, a person's answer, re-check on approval, at most once."""

import json
from decimal import Decimal as D

import pytest

from bot.app.cli import main
from state import proposals
from state.models import Proposal
from state.store import Store
from tests.helpers import replay_runner, run

H = 3_600_000


def proposal(store: Store, now: int = 10 * H, status: str = "pending") -> Proposal:
    p = Proposal(created_at=now, expires_at=now + H, status=status, strategy="funding_fade",
                 symbol="BTC/USDT:USDT", side="short", size=D("1.5"), entry=47_100,
                 stop=47_600, targets_json="[[46600, 0.4], [46100, 0.3], [45600, 0.3]]",
                 risk_cash=750, margin=14_130, liquidation=56_331.6)
    store.save(p)
    return p


def test_answers_are_given_once_with_clear_errors(tmp_path):
    store = Store(tmp_path / "p.db")
    p = proposal(store)
    assert proposals.decide(store, p.id, True, "alice", 10 * H + 1) == (
        f"proposal {p.id} approved by alice")
    with pytest.raises(proposals.ProposalError, match="already approved \\(by alice\\)"):
        proposals.decide(store, p.id, True, "bob", 10 * H + 2)
    with pytest.raises(proposals.ProposalError, match="already approved"):
        proposals.decide(store, p.id, False, "bob", 10 * H + 2)
    with pytest.raises(proposals.ProposalError, match="no proposal 999"):
        proposals.decide(store, 999, True, "bob", 0)
    for bad in ("abc", "0", "-3", "1.5", ""):
        with pytest.raises(proposals.ProposalError, match="positive whole number"):
            proposals.parse_id(bad)
    assert proposals.claim(store, p.id) is True
    assert proposals.claim(store, p.id) is False  # executes at most once
    stale = proposal(store)
    with pytest.raises(proposals.ProposalError, match="expired"):
        proposals.decide(store, stale.id, True, "alice", 11 * H + 1)
    assert proposals.get(store, stale.id).status == "expired"
    store.close()


def test_cli_approvals_approve_reject(tmp_path, capsys):
    db = tmp_path / "p.db"
    store = Store(db)
    a, b = proposal(store), proposal(store)
    store.set_meta("market_now", 10 * H + 60_000)
    store.close()
    assert main(["approvals", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert f"#{a.id} pending funding_fade BTC/USDT:USDT short size 1.5 entry 47100.00" in text
    assert "expires in 59 min" in text
    assert main(["approve", str(a.id), "--db", str(db), "--by", "alice"]) == 0
    assert main(["approve", str(a.id), "--db", str(db)]) == 2
    assert f"proposal {a.id} is already approved (by alice)" in capsys.readouterr().err
    assert main(["reject", str(b.id), "--db", str(db), "--reason", "too late in the day"]) == 0
    assert main(["approve", "x1", "--db", str(db)]) == 2
    assert "positive whole number" in capsys.readouterr().err
    assert main(["approvals", "--db", str(db), "--all", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in rows} == {"approved", "rejected"}


def _paper_runner(synth_dir, tmp_path):
    return replay_runner(synth_dir, tmp_path / "bot.db", {"approval": {"paper": True}})


async def _until(runner, feed, done):
    for t, batch in feed:
        await runner.tick(t, batch)
        if done():
            return t
    raise AssertionError("condition never met")


def test_paper_with_approval_proposes_then_executes_once(synth_dir, tmp_path):
    runner, engine, store, feed = _paper_runner(synth_dir, tmp_path)

    async def go():
        await runner.start()
        await _until(runner, feed, lambda: proposals.listing(store, "pending"))
        assert engine.orders == {}  # nothing traded without a person
        (p,) = proposals.listing(store, "pending")
        assert p.size > 0 and p.liquidation > 0 and json.loads(p.reasons_json)
        proposals.decide(store, p.id, True, "alice", runner.clock.now())
        await runner.approvals.execute(runner.clock.now())  # the loop's next look
        await runner.approvals.execute(runner.clock.now())  # and again: still only once
        done = proposals.get(store, p.id)
        assert done.status == "executed" and done.trade_id is not None
        entries = [o for o in engine.orders.values() if o.client_id.endswith("-entry-0")]
        assert len(entries) == 1 and entries[0].amount == p.size
        trade = next(t for t in store.trades() if t.id == done.trade_id)
        assert trade.state == "open"  # stop and targets placed; those need no approval
        assert any("-stop-0" in o.client_id for o in engine.open.values())
        with pytest.raises(proposals.ProposalError, match="already executed"):
            proposals.decide(store, p.id, True, "bob", runner.clock.now())
        # a proposal left alone outlives its signal's candle while a person's ten minutes
        # run (market time here runs far faster than the wall), then expires
        await _until(runner, feed, lambda: proposals.listing(store, "pending"))
        (q,) = proposals.listing(store, "pending")
        assert q.waits_until - proposals.wall_ms() > 590_000
        for t, batch in feed:
            await runner.tick(t, batch)
            if t > q.expires_at + 2 * H:
                break
        assert proposals.get(store, q.id).status == "pending"
        q.waits_until = proposals.wall_ms()  # as if the ten minutes had passed
        store.save(q)
        await _until(runner, feed, lambda: proposals.get(store, q.id).status == "expired")
        with pytest.raises(proposals.ProposalError, match="already expired"):
            proposals.decide(store, q.id, True, "alice", runner.clock.now())
        return done.status

    run(go())
    store.close()


def test_a_price_move_beyond_tolerance_refuses_the_approved_plan(synth_dir, tmp_path):
    runner, engine, store, feed = _paper_runner(synth_dir, tmp_path)

    async def go():
        await runner.start()
        await _until(runner, feed, lambda: proposals.listing(store, "pending"))
        (p,) = proposals.listing(store, "pending")
        p.entry = p.entry * 1.05  # as if price ran 5 % since the proposal
        store.save(p)
        proposals.decide(store, p.id, True, "alice", runner.clock.now())
        await _until(runner, feed, lambda: proposals.get(store, p.id).status != "approved")
        done = proposals.get(store, p.id)
        assert done.status == "refused" and "beyond the 0.50% tolerance" in done.reason
        assert not [o for o in engine.orders.values() if o.client_id.endswith("-entry-0")]

    run(go())
    store.close()


def test_paper_market_time_stands_still_while_a_person_decides(synth_dir, tmp_path):
    """Paced paper with a person approving: while a proposal is within its minimum wait the
    clock holds, what the person approves executes at the instant they saw, and one left
    alone expires once its wait is over and its candle has ended."""
    import asyncio
    import time

    from bot.app.modes import run_paper
    from bot.config import parse_config

    cfg = parse_config({
        "data": {"dir": str(synth_dir)}, "state": {"db": str(tmp_path / "bot.db")},
        "approval": {"paper": True, "min_wait": 1.5},
        "paper": {"time_scale": 360_000, "warmup_bars": 720},
        "metrics": {"enabled": False}, "operator": {"enabled": False}})

    async def person(store: Store, skip: set[int]):
        while not (new := [p for p in proposals.listing(store, "pending") if p.id not in skip]):
            await asyncio.sleep(0.02)
        return new[0], store.get_meta("market_now")

    async def go():
        bot = asyncio.create_task(run_paper(cfg, synth_dir, max_ticks=3000,
                                            serve_metrics=False))
        store = Store(cfg.state.db)  # a second connection, as the page or the CLI has
        p, seen = await asyncio.wait_for(person(store, set()), 60)
        await asyncio.sleep(0.6)  # reading the card
        assert store.get_meta("market_now") == seen  # no candle went by meanwhile
        proposals.decide(store, p.id, True, "alice", seen)
        while proposals.get(store, p.id).status in ("approved", "executing"):
            await asyncio.sleep(0.02)
        done = proposals.get(store, p.id)
        trade = next(t for t in store.trades() if t.id == done.trade_id)
        assert done.status == "executed" and trade.opened_at == seen

        q, seen = await asyncio.wait_for(person(store, {p.id}), 60)
        left = time.monotonic()
        while proposals.get(store, q.id).status == "pending":
            await asyncio.sleep(0.02)
        waited = time.monotonic() - left
        assert 1.0 < waited < 10 and proposals.get(store, q.id).status == "expired"
        assert store.get_meta("market_now") > seen  # the clock went on after the wait
        bot.cancel()
        store.close()

    run(go())


def test_at_the_default_pace_a_person_approving_after_30_seconds_still_trades(synth_dir,
                                                                             tmp_path):
    """The default paper pace (ten hourly bars a wall second) and the default ten-minute
    wait: a proposal answered 30 s after it appeared executes."""
    import asyncio

    from bot.app.modes import run_paper
    from bot.config import parse_config

    cfg = parse_config({
        "data": {"dir": str(synth_dir)}, "state": {"db": str(tmp_path / "bot.db")},
        "approval": {"paper": True}, "paper": {"warmup_bars": 720},
        "metrics": {"enabled": False}, "operator": {"enabled": False}})
    assert cfg.paper.time_scale == 36_000 and cfg.approval.min_wait == 600

    async def go():
        bot = asyncio.create_task(run_paper(cfg, synth_dir, serve_metrics=False))
        store = Store(cfg.state.db)
        while not (pending := proposals.listing(store, "pending")):
            await asyncio.sleep(0.05)
        await asyncio.sleep(30)
        proposals.decide(store, pending[0].id, True, "alice", store.get_meta("market_now"))
        while proposals.get(store, pending[0].id).status in ("approved", "executing"):
            await asyncio.sleep(0.05)
        assert proposals.get(store, pending[0].id).status == "executed"
        bot.cancel()
        store.close()

    run(go())
