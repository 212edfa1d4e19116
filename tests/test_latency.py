"""The decision latency the bot reports: market update in -> its first order request
handed to the gateway; the stop and targets an entry's fill brings
within the same tick are counted in the tick's other figure, not in this one."""

import asyncio

from bot.exchanges.sim.gateway import SimGateway
from tests.helpers import replay_runner, run

SLOW = 0.05  # seconds each stop and target takes to hand over, here


class SlowProtection(SimGateway):
    """A gateway where every order but an entry takes SLOW to hand over."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.sent: list[str] = []

    async def create_order(self, req):
        self.sent.append(req.client_id)
        if "-entry-" not in req.client_id:
            await asyncio.sleep(SLOW)
        return await super().create_order(req)


def test_decision_latency_ends_when_the_entry_is_handed_over(synth_dir, tmp_path):
    runner, _, store, feed = replay_runner(synth_dir, tmp_path / "bot.db",
                                           gateway=SlowProtection)
    gw = runner.gw
    runner.stats.decision_s, runner.stats.decided_s = [], []

    async def first_entry_tick():
        await runner.start()
        for t, batch in feed:
            before = len(gw.sent)
            await runner.tick(t, batch)
            new = gw.sent[before:]
            if new and new[0].endswith("-entry-0"):
                return new
        raise AssertionError("no entry in the replay")

    sent = run(first_entry_tick())
    store.close()
    legs = [cid.split("-")[2] for cid in sent]
    assert legs == ["entry", "stop", "t1", "t2", "t3"]  # the fill's orders, same tick
    decision, decided = runner.stats.decision_s[-1], runner.stats.decided_s[-1]
    assert decided - decision >= 4 * SLOW  # the four slow orders came after the measure
    assert runner.metrics.decision_latency._sum.get() < sum(runner.stats.decided_s) - 4 * SLOW
    ticks = len(runner.stats.decision_s)
    assert ticks > 1 and all(a == b for a, b in zip(runner.stats.decision_s[:-1],
                                                    runner.stats.decided_s[:-1]))
