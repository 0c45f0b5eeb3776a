# posman: every target sets itself up (idempotently) and then runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
STATE_DIR ?= devnet-state

.PHONY: setup demo test bench lint clean devnet-up devnet-down addresses

setup: $(PIP_STAMP) $(NPM_STAMP)

$(PIP_STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,postgres]"
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

demo: setup
	$(PY) -m manager demo

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m bench

lint: setup
	$(VENV)/bin/ruff check manager strategies tests bench
	$(VENV)/bin/mypy

# Regenerate manager/data/addresses.json from the pinned npm address packages (after changing their pins).
addresses: setup
	$(PY) -m manager.data.gen_addresses

devnet-up: setup
	$(PY) -m manager devnet up --state-dir $(STATE_DIR)

devnet-down: setup
	$(PY) -m manager devnet down --state-dir $(STATE_DIR)

clean:
	rm -rf $(VENV) node_modules .cache build *.egg-info
