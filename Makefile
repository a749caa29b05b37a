# Two commands do everything on a fresh machine (Python 3.11, no Docker):
#   make demo   set up .venv, start the embedded broker, run the generated demo, print a report
#   make test   set up .venv, lint (ruff) and type-check (mypy), run the whole test suite (starts the services)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup services demo test lint unit integration bench bench-sinks dev clean

# constraints.txt pins every package to the tested version (regenerate it with pip freeze when
# pyproject.toml's dependencies change)
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# The warehouse tests start a throw-away PostgreSQL server from the Debian packages; the alert
# tests run promtool and a real Prometheus from Debian's `prometheus` package (started by the
# tests on a free port; the package's own service is disabled where systemd runs it).
services:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL from the Debian packages (warehouse tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }
	@{ test -x /usr/bin/prometheus && test -x /usr/bin/promtool; } || { \
	  echo "installing Prometheus from the Debian packages (promtool, alert and real-Prometheus tests)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
	  { ! command -v systemctl >/dev/null || $(SUDO) systemctl disable --now prometheus >/dev/null 2>&1 || true; }; }

demo: $(STAMP)
	$(BIN)/streamproc demo

# `make test` is the README's test command and what CI runs: lint, format and types first.
test: $(STAMP) services lint
	$(BIN)/python -m pytest -v -rs --durations=15

lint: $(STAMP)
	$(BIN)/ruff check streamproc tests bench fuzz
	$(BIN)/ruff format --check streamproc tests bench fuzz
	$(BIN)/mypy

unit: $(STAMP) services
	$(BIN)/python -m pytest tests/unit -q

integration: $(STAMP) services
	$(BIN)/python -m pytest tests/integration -v -rs

bench: $(STAMP)
	$(BIN)/python bench/ingest_bench.py

bench-sinks: $(STAMP) services
	$(BIN)/python bench/sinks_bench.py --events 3000 --docs 1500

# The chaos campaign (docs/RELIABILITY.md): 20 SIGKILLs, 5 target outages, every target counted;
# e.g. `make chaos CHAOS_ARGS="--seed 7 --json chaos.json"`. Exit status 1 on any loss or duplicate.
.PHONY: chaos
chaos: $(STAMP) services
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# Every atheris target of fuzz/ for FUZZ_SECONDS each (the short run is part of `make test`);
# reproducers land in fuzz/crashes/, the grown corpora in var/fuzz/ (docs/RELIABILITY.md, Fuzzing)
FUZZ_SECONDS ?= 300
.PHONY: fuzz
fuzz: $(STAMP)
	$(BIN)/python -m fuzz.run --seconds $(FUZZ_SECONDS)

dev: $(STAMP)
	$(BIN)/streamproc dev

clean:
	rm -rf $(VENV) var .pytest_cache
