"""Alerting that reaches someone: Debian's Prometheus evaluates deploy/alerts.yml against
the bot's /metrics and sends to Debian's Alertmanager, configured from
deploy/alertmanager.yml, which routes to the bot's own receiver: a proposal left waiting
past the threshold arrives on the bot's page as an alert, to be told to a person."""

import asyncio
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml

from bot.operator.approval import ApprovalGate
from bot.operator.metrics import Metrics
from bot.operator.page import OperatorPage, serve
from state import proposals
from state.models import Proposal
from state.store import Store
from tests.helpers import free_port, needs

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = needs(PROMETHEUS is not None and ALERTMANAGER is not None,
                   "prometheus / prometheus-alertmanager")


def test_a_proposal_waiting_too_long_reaches_the_bot_through_alertmanager(tmp_path):
    store = Store(tmp_path / "bot.db")
    metrics = Metrics()
    gate = ApprovalGate(True, store, metrics, min_wait=600)
    p = Proposal(created_at=0, expires_at=10**13, status="pending", strategy="funding_fade",
                 symbol="BTC/USDT:USDT", side="short", size=1, entry=47_100, stop=47_600,
                 targets_json="[]", risk_cash=750, margin=14_130, liquidation=56_331.6,
                 waits_until=proposals.wall_ms() + 600_000 - 2_400_000)  # made 40 min ago
    store.save(p)
    gate.ready(0)
    assert 2_399 < metrics.proposal_age._value.get() < 2_460  # wall time, past 1 800 s

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    page = OperatorPage(store, "s3cret", lambda: 0)
    site = asyncio.run_coroutine_threadsafe(serve(page, "127.0.0.1", 0), loop).result(10)
    url = f"http://127.0.0.1:{site.addresses[0][1]}/alertmanager"
    mport, pport, aport = free_port(), free_port(), free_port()
    server, _thread = metrics.serve("127.0.0.1", mport)

    token = tmp_path / "token"
    token.write_text("s3cret")
    am = yaml.safe_load((ROOT / "deploy" / "alertmanager.yml").read_text())
    am["route"].update(group_wait="1s", group_interval="1s")
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:9109/alertmanager"  # the bot's receiver
    hook["url"], hook["http_config"]["authorization"]["credentials_file"] = url, str(token)
    (tmp_path / "am.yml").write_text(yaml.safe_dump(am))
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    prom["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    prom["rule_files"] = [str(ROOT / "deploy" / "alerts.yml")]
    prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{aport}"]
    prom["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{mport}"]
    (tmp_path / "prom.yml").write_text(yaml.safe_dump(prom))
    procs = [subprocess.Popen([ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}",
                               f"--storage.path={tmp_path / 'am'}", "--cluster.listen-address=",
                               f"--web.listen-address=127.0.0.1:{aport}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prom.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{pport}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        arrived = []
        end = time.monotonic() + 90
        while time.monotonic() < end and not arrived:
            time.sleep(1)
            arrived = [a for a in store.alerts()
                       if a.kind == "alertmanager:DerivbotProposalWaiting"]
        assert arrived, "no alert reached the bot"
        assert "a proposal has waited" in arrived[0].message
        assert arrived[0].message.startswith("DerivbotProposalWaiting firing")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        server.shutdown()
        asyncio.run_coroutine_threadsafe(site.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        store.close()
