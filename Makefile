# Roster — one machine: `make run`; everything the tests need and the suite: `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071

.PHONY: run test bench lint faults deps chromium slapd clean

# `make run` installs only what running needs; tests, lint and benchmarks add their tools.
$(VENV)/.run-installed: requirements.txt requirements-local.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-local.txt
	touch $@

$(VENV)/.installed: $(VENV)/.run-installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps: $(VENV)/.installed node_modules/.installed

# Debian's Chromium for the console's browser tests (tests/console); Playwright drives it,
# never downloading a browser of its own. CI runs as root on Debian.
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Debian's OpenLDAP server for the ldap connector's tests (tests/connectors/slapd.py starts
# and stops it on a free port with a throw-away config; the package's own service stays off).
slapd:
	test -x /usr/sbin/slapd || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd)

run: $(VENV)/.run-installed
	$(PY) -m devhost --port $(PORT)

test: deps chromium slapd
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m bench

# The randomised fault run (docs/recovery.md): FAULTS_SEED picks the run, FAULTS_RUNS how
# many seeds in a row (seed, seed+1, …); devhost is killed with -9 while a backlog is queued.
FAULTS_SEED ?= 1
FAULTS_RUNS ?= 1
faults: $(VENV)/.installed
	FAULTS_SEED=$(FAULTS_SEED) FAULTS_RUNS=$(FAULTS_RUNS) $(PY) -m tests.faults.chaos

# ruff; the import contract (import-linter, pyproject.toml [tool.importlinter]); no function in
# shared/ above cyclomatic complexity 15 (radon). Each reports what breaks it; all three run.
lint: $(VENV)/.installed
	status=0; \
	$(PY) -m ruff check . || status=1; \
	$(VENV)/bin/lint-imports --no-cache || status=1; \
	$(PY) -m tests.structure.complexity shared || status=1; \
	exit $$status

clean:
	rm -rf .roster .pytest_cache
