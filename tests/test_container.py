"""The container: the Dockerfile runs `derivbot` as a non-root user with /metrics and the
page exposed, its environment names real config keys, and compose.yaml wires Prometheus and
Grafana from deploy/. The image itself is built only where a container runtime and the base
image are at hand."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
BASE = "python:3.11-slim"


def env_lines() -> dict[str, str]:
    block = re.search(r"^ENV (.+?)(?=^\S)", DOCKERFILE, re.MULTILINE | re.DOTALL).group(1)
    return dict(re.findall(r"(\w+)=(\S+)", block))


def test_the_image_runs_derivbot_as_a_non_root_user_with_both_ports_exposed():
    assert DOCKERFILE.startswith("#") and f"FROM {BASE}" in DOCKERFILE
    assert re.search(r"^USER derivbot$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^EXPOSE 9108 9109$", DOCKERFILE, re.MULTILINE)
    assert 'ENTRYPOINT ["derivbot"]' in DOCKERFILE


def test_the_images_environment_is_valid_configuration(monkeypatch):
    env = env_lines()
    assert {"DERIVBOT_METRICS__HOST", "DERIVBOT_OPERATOR__HOST", "DERIVBOT_STATE__DB"} <= set(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = load_config(ROOT / "config.toml")
    assert (cfg.metrics.host, cfg.operator.host, cfg.state.db) == (
        "0.0.0.0", "0.0.0.0", "/data/derivbot.db")


def test_compose_wires_the_bot_prometheus_and_grafana_from_deploy():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"bot", "prometheus", "alertmanager", "grafana"}
    assert "DERIVBOT_OPERATOR_TOKEN" in services["bot"]["environment"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus-compose.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["bot:9108"]
    assert prom["rule_files"] == ["alerts.yml"]
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
    am = yaml.safe_load((ROOT / "deploy" / "alertmanager-compose.yml").read_text())
    hook = am["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://bot:9109/alertmanager"
    assert hook["http_config"]["authorization"]["credentials_file"] in (
        services["alertmanager"]["entrypoint"][-1])


def _runtime_with_base() -> str | None:
    """Why the image cannot be built here, or None when it can."""
    if shutil.which("docker") is None:
        return "no container runtime (docker) on this machine"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the docker daemon is not running"
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True,
                      check=False).returncode != 0:
        return f"the base image {BASE} is not available offline"
    return None


@pytest.mark.skipif(_runtime_with_base() is not None, reason=str(_runtime_with_base()))
def test_the_image_builds_and_its_derivbot_answers_as_a_non_root_user():
    subprocess.run(["docker", "build", "-q", "-t", "derivbot-test", str(ROOT)], check=True,
                   capture_output=True)
    uid = subprocess.run(["docker", "run", "--rm", "--entrypoint", "id", "derivbot-test", "-u"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert uid == "10001"
    out = subprocess.run(["docker", "run", "--rm", "derivbot-test", "size", "--equity",
                          "100000", "--risk", "0.015", "--entry", "47000", "--stop", "46000",
                          "--leverage", "5"], capture_output=True, text=True, check=True).stdout
    assert "size 1.5 " in out and "liquidation 37788.0" in out
