# Roster — one machine: `make run`; everything the tests need and the suite: `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071

.PHONY: run test bench lint deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

run: $(VENV)/.installed
	$(PY) -m devhost --port $(PORT)

test: deps
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m bench

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf .roster .pytest_cache
