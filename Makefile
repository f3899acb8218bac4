# Two commands: `make run` (a running exchange with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# The newest Python >= 3.12 on this machine (Django 6 needs it). pyenv shims that cannot run
# are skipped; pyenv's own installs are looked at too.
PYTHON ?= $(shell for c in python3.14 python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV) python3; do \
	  v=$$($$c -c 'import sys; print(sys.version_info >= (3, 12))' 2>/dev/null) && [ "$$v" = True ] && { command -v $$c || echo $$c; } && break; done)

.PHONY: run test install lint format clean

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "No Python 3.12 or newer found: install python3.12+ (Django 6 needs it)." >&2; exit 1; fi
	@echo "Using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data
	$(PY) manage.py demo_market
	@echo
	@echo "Starting the Celery worker (with beat) and the web server."
	@echo "Open http://$(HOST):$(PORT)/  ·  API docs http://$(HOST):$(PORT)/api/docs/  ·  Ctrl-C stops everything."
	@trap 'kill 0' EXIT INT TERM; \
	$(VENV)/bin/celery -A config worker -B --loglevel=INFO --concurrency=1 \
	    --schedule var/celerybeat-schedule -Q celery,matching-0,matching-1 > var/celery.log 2>&1 & \
	$(PY) manage.py demo_data --heartbeats > var/heartbeats.log 2>&1 & \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf var staticfiles .pytest_cache .ruff_cache
