"""deploy/: Prometheus config, alert rules and the Grafana dashboard refer only to metrics
the bot exports; promtool checks the rules where Prometheus is installed."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from bot.operator.metrics import Metrics
from tests.helpers import needs

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def exported() -> set[str]:
    names = set()
    for metric in Metrics().registry.collect():
        names.add(metric.name)
        for sample in metric.samples:
            names.add(sample.name)
    for m in Metrics().registry._names_to_collectors:
        names.add(m)
    return names


def referenced(text: str) -> set[str]:
    return set(re.findall(r"\bderivbot_[a-z_]+", text))


def test_alert_rules_name_real_metrics_and_cover_the_four_cases():
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert {"DerivbotDown", "DerivbotMarketDataStale", "DerivbotHalted",
            "DerivbotProposalWaiting"} <= set(alerts)
    missing = referenced(" ".join(alerts.values())) - exported()
    assert not missing, f"alerts use metrics the bot does not export: {missing}"
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9108"]


def test_dashboard_panels_name_real_metrics():
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
    missing = referenced(exprs) - exported() - {"derivbot_"}
    assert not missing, f"dashboard uses metrics the bot does not export: {missing}"


@needs(shutil.which("promtool") is not None, "promtool (Debian package prometheus)")
def test_promtool_accepts_the_rules():
    out = subprocess.run(["promtool", "check", "rules", str(DEPLOY / "alerts.yml")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


# what a simulated replay cannot move: the ccxt client's figures (the exchange tests move
# them), and what only a person or a failure causes
ONLY_LIVE = {"derivbot_exchange_retries_total", "derivbot_exchange_request_seconds_bucket",
             "derivbot_rate_limit_wait_seconds", "derivbot_alert_deliveries_total",
             "derivbot_proposals_pending", "derivbot_proposal_oldest_age_seconds",
             "derivbot_reconcile_seconds", "derivbot_halted",
             # every symbol's data is as fresh as the tick in a replay: 0 throughout
             "derivbot_market_data_age_seconds"}


def test_every_metric_the_dashboard_and_alerts_name_moves_in_a_replay(synth_dir, tmp_path):
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    named = referenced(" ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
                       + " ".join(r["expr"] for g in rules["groups"] for r in g["rules"]))
    named -= {"derivbot_"}
    moved: set[str] = set()
    # the default strategies; then the basis trade alone (directional trades held the
    # perps whenever funding paid)
    off = {name: {"enabled": False} for name in ("funding_fade", "oi_divergence_reversal",
                                                 "trapped_trader", "triple_confluence",
                                                 "composite")}
    basis = {"enabled": True, "entry_rate": 0.00012, "exit_rate": 0.00005}  # synth pays less
    for k, extra in enumerate(({}, {"strategies": off, "basis": basis})):
        moved |= _moved_in_replay(synth_dir, tmp_path / f"bot{k}.db", extra)
    still = {n for n in named - ONLY_LIVE
             if n not in moved and n.removesuffix("_bucket") not in moved}
    assert not still, f"named but never moved in a replay: {sorted(still)}"


def _moved_in_replay(synth_dir, db, extra: dict) -> set[str]:
    """The metrics (and samples) whose value differed from the start at some point."""
    from tests.helpers import replay_runner, run

    runner, _engine, store, feed = replay_runner(synth_dir, db, extra)

    def values() -> dict[str, float]:
        out: dict[str, float] = {}
        for metric in runner.metrics.registry.collect():
            for s in metric.samples:
                for name in (s.name, metric.name):
                    out[name] = out.get(name, 0.0) + abs(s.value)
        return out

    before = values()
    moved: set[str] = set()

    async def go():
        await runner.start()
        for k, (t, batch) in enumerate(feed):
            await runner.tick(t, batch)
            if k % 5 == 0:
                now = values()
                moved.update(n for n, v in now.items() if v != before.get(n, 0.0))

    run(go())
    store.close()
    return moved
