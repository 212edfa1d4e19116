"""The desk on a phone: python-telegram-bot itself, against a local Bot API on loopback.
A proposal arrives as a photo (its chart) with the card and Approve / Reject; a press from
a chat not configured is refused and audited; ten presses at once execute one order;
/status, /halt and a confirmed /flatten act on the running bot, each audited."""

import asyncio

from bot.app.desk import actions
from bot.config import TelegramConfig
from bot.operator.telegram import TelegramDesk
from state import proposals
from tests.fake_telegram import FakeBotAPI
from tests.helpers import replay_runner, run

TOKEN = "123:fake"
ALICE, MALLORY = 42, 99


async def _desk(api: FakeBotAPI, runner, store) -> TelegramDesk:
    """The fake Bot API up, and the bot's desk on it telling chat ALICE everything."""
    await api.start()
    cfg = TelegramConfig(enabled=True, chat_ids=(ALICE,), base_url=api.base_url,
                         poll_interval=0.05)
    desk = TelegramDesk(cfg, TOKEN, store, actions(runner, runner.cfg))
    await desk.start()
    runner.tell_to(desk.tell)
    return desk


async def _until_pending(runner, feed, store):
    for t, batch in feed:
        await runner.tick(t, batch)
        if proposals.listing(store, "pending"):
            return t
    raise AssertionError("no proposal")


def test_a_proposal_reaches_the_phone_and_one_press_of_ten_trades(synth_dir, tmp_path):
    runner, engine, store, feed = replay_runner(synth_dir, tmp_path / "bot.db",
                                                {"approval": {"paper": True}})
    api = FakeBotAPI(TOKEN)

    async def go():
        desk = await _desk(api, runner, store)
        try:
            await runner.start()
            await _until_pending(runner, feed, store)
            (p,) = proposals.listing(store, "pending")
            (photo,) = await api.until(lambda: api.sent("sendPhoto"))
            assert photo["chat_id"] == str(ALICE) and api.photos[0][:8] == b"\x89PNG\r\n\x1a\n"
            caption = photo["caption"]
            for field in (f"Proposal #{p.id}", p.strategy, "notional", "entry", "stop",
                          "T1", "40% of the size", "R:R", "risk", "liquidation", "expires"):
                assert field in caption, field
            assert f'"approve:{p.id}"' in photo["reply_markup"]

            api.press(MALLORY, "mallory", f"approve:{p.id}")
            await api.until(lambda: [a for a in store.audits() if a.who == "@mallory"])
            assert proposals.get(store, p.id).status == "pending"
            (refused,) = [a for a in store.audits() if a.who == "@mallory"]
            assert refused.where == f"telegram chat {MALLORY}" and refused.action == "approve"
            assert refused.result.startswith("refused") and refused.target == f"proposal {p.id}"

            for _ in range(10):
                api.press(ALICE, "alice", f"approve:{p.id}")
            await api.until(lambda: len([a for a in store.audits() if a.who == "@alice"]) == 10)
            results = [a.result for a in store.audits() if a.who == "@alice"]
            assert results.count(f"proposal {p.id} approved by @alice (telegram)") == 1
            assert all("already approved" in r for r in results if "approved by" not in r)
            await runner.approvals.execute(runner.clock.now())
            entries = [o for o in engine.orders.values() if o.client_id.endswith("-entry-0")]
            assert len(entries) == 1 and proposals.get(store, p.id).status == "executed"
            runner._tell()
            await api.until(lambda: [m for m in api.sent("sendMessage")
                                     if f"proposal #{p.id} executed" in m["text"]])
        finally:
            await desk.stop()
            await api.stop()

    run(go())
    store.close()


def test_commands_status_halt_and_a_confirmed_flatten(synth_dir, tmp_path):
    runner, engine, store, feed = replay_runner(synth_dir, tmp_path / "bot.db")
    api = FakeBotAPI(TOKEN)

    async def go():
        desk = await _desk(api, runner, store)
        try:
            await runner.start()
            for t, batch in feed:  # trade until a position is open
                await runner.tick(t, batch)
                if store.open_trades():
                    break
            api.command(ALICE, "alice", "/status")
            await api.until(lambda: [m for m in api.sent("sendMessage")
                                     if m["text"].startswith("equity")])
            api.command(MALLORY, "mallory", "/flatten")
            api.command(ALICE, "alice", "/flatten")
            ask = await api.until(lambda: [m for m in api.sent("sendMessage")
                                           if m["text"].startswith("Flatten:")])
            assert len(ask) == 1 and '"flatten:yes"' in ask[0]["reply_markup"]
            assert not runner._asks and store.open_trades()  # nothing yet
            api.press(ALICE, "alice", "flatten:yes")
            await api.until(lambda: runner._asks)
            t, batch = next(feed)
            await runner.tick(t, batch)
            await runner.om.sync()
            assert not store.open_trades() and store.get_meta("halt")["release"] == "manual"
            assert not [p for p in engine.positions.values() if p.contracts != 0]
            api.command(ALICE, "alice", "/halt")
            await api.until(lambda: [m for m in api.sent("sendMessage")
                                     if m["text"] == "already halted"])
            acts = [(a.who, a.action, a.result) for a in store.audits()]
            assert ("@mallory", "flatten", "refused: this chat may not act on the bot") in acts
            assert [a for a in acts if a[0] == "@alice"][:3] == [
                ("@alice", "status", acts[0][2]), ("@alice", "flatten", "asked to confirm"),
                ("@alice", "flatten", ("flatten requested by @alice (telegram): every bot "
                                      "position closes at the next tick"))]
            await asyncio.sleep(0)
        finally:
            await desk.stop()
            await api.stop()

    run(go())
    store.close()
