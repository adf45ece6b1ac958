# The two commands of the README: `make lab` and `make test`. Both set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup lab test lint typecheck layers pytest schemas

# uv from PATH, else a private copy installed with pip into .tools/ (a fresh machine has none).
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=

help:
	@echo "make lab    set everything up and open JupyterLab on notebooks/"
	@echo "make test   set everything up and run every test (lint, types, layers, tests, notebooks)"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

setup: $(UV)
	$(UV) sync --locked

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

layers: setup
	$(BIN)/lint-imports

pytest: setup
	$(BIN)/pytest tests notebooks --nbval-lax $(PYTEST_ARGS)

test: lint typecheck layers pytest

# Regenerate the JSON Schemas shipped in the package (a test checks they are current).
schemas: setup
	$(BIN)/python -m dataflow_jupyter.schemas
