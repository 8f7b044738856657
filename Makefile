# Set-up and the everyday commands. `make run` and `make test` work on a fresh clone with only Python.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export WANDB_MODE ?= offline

.PHONY: install run test test-full lint bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install  ## the main job: train the space-MoE model on the embedded default
	$(BIN)/python -m raphael.train experiment=space_moe

test: install  ## the default (fast) test suite
	$(BIN)/pytest

test-full: install  ## every test, the slow ones included
	$(BIN)/pytest -m ""

lint: install
	$(BIN)/ruff check raphael tests experiments

bench: install
	$(BIN)/python -m raphael.bench
