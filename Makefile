# `make run` and `make test` set up .venv on first use, then run.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench bench-peers replay lint docs data mutate

$(BIN)/derivbot: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/derivbot
	$(BIN)/derivbot run

test: $(BIN)/derivbot
	$(BIN)/python -m pytest -n 2 --dist loadfile

replay: $(BIN)/derivbot
	$(BIN)/derivbot replay --out out/replay

bench: $(BIN)/derivbot
	$(BIN)/python -m pytest tests/benches -s -q -p no:cacheprovider --override-ini addopts=

lint: $(BIN)/derivbot
	$(BIN)/ruff check bot strategies risk state tests

# derivbot beside nautilus_trader and freqtrade on the real history, each in a venv of its own
bench-peers: $(BIN)/derivbot
	test -x .bench/nautilus/bin/python || ($(PY) -m venv .bench/nautilus && \
		.bench/nautilus/bin/pip install -q nautilus_trader)
	test -x .bench/freqtrade/bin/freqtrade || ($(PY) -m venv .bench/freqtrade && \
		.bench/freqtrade/bin/pip install -q freqtrade)
	$(BIN)/python -m pytest tests/benches/test_bench_peers.py -s -q -p no:cacheprovider \
		--override-ini addopts=

docs: $(BIN)/derivbot
	$(BIN)/derivbot config reference > docs/configuration.md

data: $(BIN)/derivbot
	$(BIN)/derivbot data import --all ../shared/data --out data/real

# mutation testing of the money rules ([tool.mutmut] in pyproject.toml); about an hour
mutate: $(BIN)/derivbot
	$(BIN)/pip install -q -e '.[mutate]'
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python tools/mutscore.py
