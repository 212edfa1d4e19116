"""A real Prometheus server (Debian's package) scrapes the bot's /metrics and answers a
query through its HTTP API."""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bot.operator.metrics import Metrics
from tests.helpers import free_port, needs

PROMETHEUS = shutil.which("prometheus")
pytestmark = needs(PROMETHEUS is not None, "prometheus")



def test_prometheus_scrapes_the_bot_and_answers_a_query(tmp_path):
    metrics = Metrics()
    mport, pport = free_port(), free_port()
    server, _thread = metrics.serve("127.0.0.1", mport, token="m3trics")
    metrics.equity.set(123456.5)
    metrics.halted.set(1)
    with pytest.raises(urllib.error.HTTPError) as refused:  # positions and PnL: not for all
        urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5)
    assert refused.value.code == 401
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: derivbot\n"
                   "    authorization:\n      credentials: m3trics\n"
                   f"    static_configs:\n      - targets: ['127.0.0.1:{mport}']\n")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        value = None
        end = time.monotonic() + 60
        while time.monotonic() < end and value is None:
            time.sleep(1)
            q = urllib.parse.quote("derivbot_equity")
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{pport}/api/v1/query?query={q}", timeout=2) as r:
                    result = json.load(r)["data"]["result"]
            except OSError:
                continue
            if result:
                value = float(result[0]["value"][1])
        assert value == 123456.5
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        server.shutdown()
