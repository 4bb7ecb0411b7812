# Roster — one machine: `make run`; everything the tests need and the suite: `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 7071

.PHONY: run test bench lint deps chromium slapd clean

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

lint: $(VENV)/.installed
	$(PY) -m ruff check .

clean:
	rm -rf .roster .pytest_cache
