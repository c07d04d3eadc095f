# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit faults drill bench clean

PLUGINS := plugins/gemeentebelastingen plugins/werk-en-inkomen plugins/cjib

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/skn-connector demo

LINTED := skn_connector plugins tests $(wildcard bench)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict skn_connector

# The hostile-input tier runs in full (under 2 minutes): a decoder that accepts what the
# encoder refuses must not go unseen until `make faults`.
unit: $(STAMP)
	scripts/ensure-postgres
	$(BIN)/pytest -q --ignore=tests/hostile
	HYPOTHESIS_PROFILE=faults $(BIN)/pytest -q tests/hostile

test: lint typecheck unit

# The drill's year, the full fault-injection runs, three instances sharing 50 creditors x 200
# messages through a kill -9 (together about 15 minutes; samples run in `make test`) and the
# hostile-input run (as in `make test`).
faults: $(STAMP) drill
	$(BIN)/pytest tests/faults -m faults_full
	scripts/ensure-postgres
	SKN_SCALE=50x200 $(BIN)/pytest -q tests/test_instances_share_creditors.py
	HYPOTHESIS_PROFILE=faults $(BIN)/pytest tests/hostile

# A year on a fake clock for the three creditor kinds (docs/reliability.md, "The drill");
# a 45-day sample runs in `make test` (tests/test_drill.py).
drill: $(STAMP)
	$(BIN)/skn-connector drill --days 365 --seed 1

bench: $(STAMP)
	$(BIN)/python -m bench.codec

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
