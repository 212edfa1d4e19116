"""What a person is told: each proposal and its answer, the fill, the stop's moves and the
exit, halts and errors — once each, also across a restart, and also for an answer given
from another process (the command line)."""

import logging

from bot.operator.notices import Notices
from state import proposals
from state.store import Store
from tests.helpers import replay_runner, run


def test_a_proposal_its_answer_and_its_trade_are_told_once_each(synth_dir, tmp_path):
    db = tmp_path / "bot.db"
    runner, _engine, store, feed = replay_runner(synth_dir, db, {"approval": {"paper": True}})
    told = []
    runner.tell_to(told.append)

    async def go():
        await runner.start()
        other = Store(db)  # the command line, another process, answers each proposal
        p = None
        for t, batch in feed:
            await runner.tick(t, batch)
            for q in proposals.listing(store, "pending"):
                proposals.decide(other, q.id, True, "alice", t)
            done = [q for q in proposals.listing(store, "executed")
                    if any(n.kind == "exit" and n.data["trade"] == q.trade_id for n in told)]
            if done:
                p = done[0]
                break
        other.close()
        trade_id = p.trade_id
        mine = [n for n in told if n.data.get("proposal") == p.id
                or n.data.get("trade") == trade_id]
        kinds = [n.kind for n in mine]
        assert kinds[:4] == ["proposal", "approved", "executed", "fill"]
        assert kinds[-1] == "exit" and kinds.count("proposal") == 1
        assert "approved by alice" in mine[1].text
        assert mine[0].text.startswith(f"proposal #{p.id}: {p.strategy} {p.side}")
        assert mine[0].payload()["kind"] == "proposal" and mine[0].payload()["proposal"] == p.id
        logging.getLogger("derivbot.test").error("the exchange said no")
        runner._tell()
        assert told[-1].kind == "error" and "the exchange said no" in told[-1].text
        before = len(told)
        again = Notices(store, runner.clock.now)  # a restart: nothing old is told again
        assert again.look() == [] and len(told) == before
        again.close()

    run(go())
    runner.notices.close()
    store.close()
