# hdogreg — two commands on a fresh machine:  make book   |   make test
PYTHON ?= python3
SHELL  := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip's notes about this machine's extra local indexes are noise; its exit status is kept.
QUIET_PIP := 2>&1 | { grep -v -e "is ignored: it is neither" -e "^$$" || true; }
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test lint notebook data screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(QUIET_PIP)
	@touch $(STAMP)

## make book: run every notebook (papermill, cached by content hash) and build _build/html
book: $(STAMP)
	$(BIN)/python -m hdogreg.book build

## make test: the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## make lint: ruff (pycodestyle, pyflakes, isort, bugbear, numpy-style docstrings; pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check .

## make notebook NB=fig2_proximity PARAMS="-p xi 8 -p alpha -1": rerun one notebook
notebook: $(STAMP)
	$(BIN)/python -m hdogreg.book run $(NB) $(PARAMS)

## make data: (re)generate the default synthetic benchmark under data/synth
data: $(STAMP)
	$(BIN)/python -m hdogreg.data synth --out data/synth --seed 0 --preset default

## make screenshots: headless-Chromium pictures of built pages (needs Debian chromium)
screenshots: $(STAMP)
	$(BIN)/python -m hdogreg.book screenshots

clean:
	rm -rf _build build/notebooks build/results
