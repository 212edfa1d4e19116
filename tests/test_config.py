"""Config errors: exit code 2 and one line naming the key and the problem."""

from pathlib import Path

import pytest

from bot.app.cli import main
from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def status_with(tmp_path: Path, capsys, text: str) -> tuple[int, str]:
    cfg = write(tmp_path, text)
    code = main(["status", "--config", str(cfg)])
    err = capsys.readouterr().err.strip()
    return code, err


def test_shipped_config_loads():
    cfg = load_config(ROOT / "config.toml")
    assert cfg.mode == "paper"
    assert cfg.exchange.gateway == "sim"
    assert cfg.risk.fraction == 0.015
    assert cfg.metrics.port == 9108


@pytest.mark.parametrize("text, key, problem", [
    ("[risk]\nfractoin = 0.015\n", "risk.fractoin", "unknown key"),
    ("colour = 'blue'\n", "colour", "unknown key"),
    ("[risk]\nfraction = 0.05\n", "risk.fraction", "less than or equal to 0.02"),
    ("[risk]\nfraction = 0.005\n", "risk.fraction", "greater than or equal to 0.01"),
    ("[risk]\nleverage = -3\n", "risk.leverage", "greater than 0"),
    ("[risk]\nleverage = 'high'\n", "risk.leverage", "valid number"),
    ("[risk]\nleverage = 30\nmax_leverage = 20\n", "risk", "exceeds max_leverage"),
    ("mode = 'yolo'\n", "mode", "'paper', 'live' or 'replay'"),
    ("[metrics]\nport = 70000\n", "metrics.port", "less than or equal to 65535"),
    ("[signals.funding_extreme]\nperiods = 0\n", "signals.funding_extreme.periods",
     "greater than or equal to 1"),
    ("[exchange]\nvenue = 'kraken'\n", "exchange.venue", "binanceusdm"),
    ("mode = 'live'\n", "mode", "needs exchange.gateway = 'ccxt'"),
])
def test_each_config_error_names_key_and_problem(tmp_path, capsys, text, key, problem):
    code, err = status_with(tmp_path, capsys, text)
    assert code == 2
    assert err.count("\n") == 0, "one line"
    assert err.startswith(f"derivbot: config error: {key}:")
    assert problem in err


def test_invalid_toml_and_missing_file(tmp_path, capsys):
    code, err = status_with(tmp_path, capsys, "[risk\nfraction = 1\n")
    assert code == 2 and "invalid TOML" in err and "config.toml" in err
    assert main(["status", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: file not found" in capsys.readouterr().err


def test_api_keys_only_from_environment(tmp_path, monkeypatch):
    cfg = load_config(write(tmp_path, "[exchange]\napi_key_env = 'MY_KEY'\n"
                                      "api_secret_env = 'MY_SECRET'\n"))
    monkeypatch.delenv("MY_KEY", raising=False)
    assert cfg.api_credentials() is None
    monkeypatch.setenv("MY_KEY", "k")
    monkeypatch.setenv("MY_SECRET", "s")
    assert cfg.api_credentials() == ("k", "s")
    with pytest.raises(ConfigError, match="exchange.api_key: unknown key"):
        load_config(write(tmp_path, "[exchange]\napi_key = 'abc'\n"))


def test_the_environment_overrides_the_file_key_by_key(tmp_path, monkeypatch):
    cfg = write(tmp_path, "[risk]\nfraction = 0.015\nleverage = 3\n[basis]\nenabled = true\n")
    monkeypatch.setenv("DERIVBOT_RISK__FRACTION", "0.01")
    monkeypatch.setenv("DERIVBOT_DATA__SYMBOLS", '["BTC/USDT:USDT"]')
    monkeypatch.setenv("DERIVBOT_MODE", "replay")
    monkeypatch.setenv("DERIVBOT_API_KEY", "not-a-config-key")  # other DERIVBOT_ names pass
    c = load_config(cfg)
    assert (c.risk.fraction, c.risk.leverage, c.basis.enabled) == (0.01, 3, True)
    assert c.data.symbols == ("BTC/USDT:USDT",) and c.mode == "replay"


@pytest.mark.parametrize("var, value, message", [
    ("DERIVBOT_RISK__FRACTION", "0.05", ("risk.fraction: Input should be less than or equal "
                                         "to 0.02 (got '0.05' from DERIVBOT_RISK__FRACTION)")),
    ("DERIVBOT_RISK__FRACTON", "0.01", "risk.fracton: unknown key from DERIVBOT_RISK__FRACTON"),
])
def test_a_bad_environment_value_names_its_variable_and_exits_2(tmp_path, capsys, monkeypatch,
                                                                 var, value, message):
    monkeypatch.setenv(var, value)
    code, err = status_with(tmp_path, capsys, "")
    assert code == 2 and err == f"derivbot: config error: {message}"


def test_a_file_key_named_like_a_settings_argument_is_unknown(tmp_path, capsys):
    code, err = status_with(tmp_path, capsys, '_secrets_dir = "/"\n')
    assert code == 2 and err == "derivbot: config error: _secrets_dir: unknown key"


def test_the_configuration_reference_is_the_one_the_code_writes(capsys):
    """docs/configuration.md is `derivbot config reference`'s output (`make docs` writes it):
    a key added, renamed or re-ranged in the models shows up there."""
    assert main(["config", "reference"]) == 0
    text = capsys.readouterr().out
    assert text == (ROOT / "docs" / "configuration.md").read_text()
    assert "| `fraction` | float | `0.015` | ≥ 0.01, ≤ 0.02 |" in text
    assert "`DERIVBOT_SIGNALS__FUNDING_EXTREME__THRESHOLD`" in text
