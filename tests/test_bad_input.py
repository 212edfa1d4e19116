"""Any input either works or is refused in one line naming what is wrong — never a
traceback: property-based (hypothesis) over the configuration, the data loader and the size
calculator; and a damaged database is refused, left as it was."""

import math
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app.calculator import CalculatorError, calculate
from bot.app.cli import main
from bot.config import Config, ConfigError, parse_config
from bot.marketdata.layout import DataError, read_table

SECTIONS = {name: sorted(getattr(field.annotation, "model_fields", {}))
            for name, field in Config.model_fields.items() if name != "mode"}
VALUES = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                   st.text(max_size=12), st.booleans(),
                   st.lists(st.floats(allow_nan=True), max_size=4),
                   st.lists(st.text(max_size=6), max_size=3))
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def configs(draw) -> dict:
    raw: dict = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        keys = SECTIONS[section] or ["x"]
        raw[section] = {k: draw(VALUES) for k in draw(
            st.lists(st.sampled_from(keys + ["not_a_key"]), max_size=3, unique=True))}
    if draw(st.booleans()):
        raw["mode"] = draw(st.sampled_from(["paper", "live", "replay", "moon"]))
    return raw


@SETTINGS
@given(configs())
def test_any_configuration_loads_or_names_what_is_wrong(raw):
    try:
        cfg = parse_config(raw)
    except ConfigError as err:
        text = str(err)
        assert text and "\n" not in text and "Traceback" not in text
        return
    assert math.isfinite(cfg.risk.leverage) and math.isfinite(cfg.sim.start_equity)
    assert abs(sum(cfg.signals.plan.fractions) - 1) < 1e-9


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(min_value=1e-6, max_value=1e7))


@SETTINGS
@given(NUMBERS, NUMBERS, NUMBERS, NUMBERS, NUMBERS, st.one_of(st.none(), NUMBERS),
       st.one_of(st.text(max_size=8), st.sampled_from(["0.001", "inf", "-1", "1e-9", "nan"])))
def test_the_size_calculator_answers_or_refuses_in_one_line(equity, fraction, entry, stop,
                                                            leverage, mmr, step):
    try:
        r = calculate(equity, fraction, entry, stop, leverage, step=step, mmr=mmr)
    except CalculatorError as err:
        assert str(err).startswith("--") and "\n" not in str(err)
        return
    assert float(r["size"]) >= 0 and all(math.isfinite(float(r[k])) for k in ("margin", "notional"))


CELLS = st.one_of(st.integers(-10**20, 10**20).map(str), st.floats(allow_nan=True).map(repr),
                  st.text(alphabet=string.printable, max_size=8))


@SETTINGS
@given(st.lists(st.lists(CELLS, min_size=1, max_size=7), max_size=6),
       st.sampled_from(["candles_1h.csv", "funding.csv", "open_interest.csv",
                        "liquidations.csv"]))
def test_any_data_file_loads_or_is_named_with_its_line(tmp_path_factory, rows, name):
    header = {"candles_1h.csv": "timestamp,open,high,low,close,volume",
              "funding.csv": "timestamp,rate", "open_interest.csv": "timestamp,open_interest",
              "liquidations.csv": "timestamp,long_usd,short_usd"}[name]
    path = tmp_path_factory.mktemp("data") / name
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    try:
        df = read_table(path)
    except DataError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err).strip()
        return
    assert df["timestamp"].is_monotonic_increasing and (df["timestamp"] >= 0).all()


def test_a_damaged_database_is_refused_and_left_as_it_was(tmp_path, capsys):
    cases = {"text.db": b"hello, not a database\n", "zeroed.db": b"\0" * 4096,
             "header.db": b"SQLite format 3\0" + b"\xff" * 2000}
    for name, content in cases.items():
        db = tmp_path / name
        db.write_bytes(content)
        for argv in (["status", "--db", str(db)], ["approvals", "--db", str(db)]):
            assert main(argv) == 2, name
            (line,) = capsys.readouterr().err.strip().splitlines()
            assert line.startswith(f"derivbot: {db}: not a usable derivbot database")
        assert db.read_bytes() == content
    (tmp_path / "folder.db").mkdir()
    assert main(["status", "--db", str(tmp_path / "folder.db")]) == 2
    assert "is a folder, not a database file" in capsys.readouterr().err
    (tmp_path / "var").write_text("a file where a folder should be")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[state]\ndb = "{tmp_path / "var" / "derivbot.db"}"\n')
    assert main(["run", "--config", str(cfg), "--max-ticks", "1"]) == 2
    assert f"{tmp_path / 'var'}: is a file, not a folder" in capsys.readouterr().err
    assert Path(tmp_path / "var").read_text() == "a file where a folder should be"
