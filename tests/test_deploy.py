"""deploy/: Prometheus config, alert rules and the Grafana dashboard refer only to metrics
the bot exports; promtool checks the rules where Prometheus is installed."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.operator.metrics import Metrics

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


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_rules():
    out = subprocess.run(["promtool", "check", "rules", str(DEPLOY / "alerts.yml")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
