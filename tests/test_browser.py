"""The operator page in a real headless Chromium (Debian's), driven by Playwright: approve
by clicking and see the order on the SimExchange; reject; no token, no page; a stale
proposal cannot be approved."""

import asyncio
import shutil
import threading
from pathlib import Path

from bot.app.desk import actions
from bot.operator.page import OperatorPage, serve
from state import proposals
from tests.helpers import needs, replay_runner

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = needs(Path(CHROMIUM).exists(), "Debian's chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class BotThread:
    """A paper bot with approval on, and its operator page, in a loop of their own."""

    def __init__(self, synth_dir, tmp_path, approval: dict | None = None,
                 desk: bool = False) -> None:
        """`approval`: the config's [approval] (default: no minimum wait, so a proposal
        ends with its candle); `desk`: the page gets the runner's actions too."""
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.runner, self.engine, self.store, self.feed = replay_runner(
            synth_dir, tmp_path / "bot.db",
            {"approval": approval or {"paper": True, "min_wait": 0}})
        acts = actions(self.runner, self.runner.cfg) if desk else None
        page = OperatorPage(self.store, "tok3n", self.runner.clock.now, actions=acts)
        self.server = self.call(serve(page, "127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.server.addresses[0][1]}"
        self.call(self.runner.start())

    def call(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def until_pending(self, count: int = 1) -> list:
        async def go():
            for t, batch in self.feed:
                await self.runner.tick(t, batch)
                pending = proposals.listing(self.store, "pending")
                if len(pending) >= count:
                    return pending
            raise AssertionError("no proposal came")
        return self.call(go())

    def tick(self, n: int = 1) -> None:
        async def go():
            for _ in range(n):
                t, batch = next(self.feed)
                await self.runner.tick(t, batch)
        self.call(go())

    def close(self) -> None:
        self.call(self.server.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)


def test_operator_clicks_in_chromium(synth_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    bot = BotThread(synth_dir, tmp_path)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            anon = browser.new_page()
            assert anon.goto(f"{bot.base}/").status == 401  # no token, no page
            page = browser.new_page()
            (p,) = bot.until_pending()
            page.goto(f"{bot.base}/?token=tok3n")
            assert page.locator(f"#proposal-{p.id}").is_visible()
            page.click(f"#approve-{p.id}")
            assert f"proposal {p.id} approved" in page.inner_text("#flash")
            bot.call(bot.runner.approvals.execute(bot.runner.clock.now()))
            done = proposals.get(bot.store, p.id)
            assert done.status == "executed"
            entry = f"dbot-{done.trade_id:06d}-entry-0"
            assert bot.engine.fetch_order(entry).filled == p.size  # the order is on the exchange

            (q,) = [x for x in bot.until_pending() if x.id != p.id]
            page.goto(f"{bot.base}/")
            page.click(f"#reject-{q.id}")
            assert proposals.get(bot.store, q.id).status == "rejected"

            (r,) = [x for x in bot.until_pending() if x.id not in (p.id, q.id)]
            page.goto(f"{bot.base}/")
            bot.tick(2)  # the proposal's candle ends while the page is open
            page.click(f"#approve-{r.id}")
            assert "expired" in page.content()
            assert proposals.get(bot.store, r.id).status == "expired"
            assert not [o for o in bot.engine.orders.values()
                        if o.client_id.startswith(f"dbot-{r.id:06d}")]
            browser.close()
    finally:
        bot.close()
