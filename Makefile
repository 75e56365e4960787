# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.installed-app
DEV_STAMP := $(VENV)/.installed-dev
# axe-core for the accessibility browser tests, from the npm registry (tests/e2e/axe).
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint format migrate demo worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(APP_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(APP_STAMP) $@

$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent
	touch $@

install: $(APP_STAMP)
install-dev: $(DEV_STAMP)

## run: install, migrate, load the demo, serve the app and a Celery worker (Ctrl+C stops both)
run: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py seed_demo
	HOST=$(HOST) PORT=$(PORT) bash bin/serve

## test: install the dev extras and axe-core (npm), and run the whole suite
test: install-dev $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff (lint rules and formatting) and mypy (types, cached in .mypy_cache)
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# mypy's Django plugin imports config.settings, which needs SECRET_KEY or debug mode.
	DJANGO_DEBUG=1 $(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf var staticfiles .pytest_cache
