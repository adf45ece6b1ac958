# The two commands of the README: `make lab` and `make test`. Both set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup system lab test lint typecheck frontend layers pytest schemas

# uv from PATH, else a private copy installed with pip into .tools/ (a fresh machine has none).
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=

help:
	@echo "make lab    set everything up and open JupyterLab on notebooks/"
	@echo "make test   set everything up and run every test (lint, types, layers, tests, notebooks, browser)"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

# `uv sync` builds the package, and the build bundles the canvas and the JupyterLab extension
# (labextension/build.mjs, through hatch-jupyter-builder). A cached build without them is rebuilt.
setup: $(UV)
	$(UV) sync --locked
	@test -f dataflow_jupyter/static/canvas.js -a -f dataflow_jupyter/labextension/package.json \
		|| $(UV) sync --locked --reinstall-package dataflow-jupyter

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# The front end: TypeScript type check, then its unit tests (node --test).
frontend: setup
	cd labextension && { test -d node_modules || npm ci --no-audit --no-fund; } \
		&& npm run --silent typecheck && npm run --silent test

layers: setup
	$(BIN)/lint-imports

# UV tells tests/browser/test_pip_install.py which uv builds the wheel (as `uv run` does).
pytest: setup
	UV="$(abspath $(UV))" $(BIN)/pytest tests notebooks --nbval-lax $(PYTEST_ARGS)

# The services the tests drive for real: redis-server and Chromium (Debian packages).
# Installed with apt when missing and we are root; otherwise those tests say what is missing.
SYSTEM_MISSING := $(strip $(if $(shell command -v redis-server 2>/dev/null),,redis-server) \
	$(if $(wildcard /usr/bin/chromium),,chromium))
system:
ifneq ($(SYSTEM_MISSING),)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && apt-get install -y $(SYSTEM_MISSING); \
	else \
		echo "missing Debian packages: $(SYSTEM_MISSING) (apt-get install -y $(SYSTEM_MISSING) as root)"; \
	fi
endif

test: system lint typecheck frontend layers pytest

# Regenerate the JSON Schemas shipped in the package (a test checks they are current).
schemas: setup
	$(BIN)/python -m dataflow_jupyter.schemas
