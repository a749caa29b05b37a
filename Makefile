# Two commands do everything on a fresh machine (Python 3.11, no Docker):
#   make demo   set up .venv, start the embedded broker, run the generated demo, print a report
#   make test   set up .venv, run the whole test suite (starts the services the tests need)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test unit integration bench dev clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/streamproc demo

test: $(STAMP)
	$(BIN)/python -m pytest -v -rs --durations=15

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration -v -rs

bench: $(STAMP)
	$(BIN)/python bench/ingest_bench.py

dev: $(STAMP)
	$(BIN)/streamproc dev

clean:
	rm -rf $(VENV) var .pytest_cache
