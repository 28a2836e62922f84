# hdogreg — two commands on a fresh machine:  make book   |   make test
PYTHON ?= python3
SHELL  := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip's notes about this machine's extra local indexes are noise; its exit status is kept.
QUIET_PIP := 2>&1 | { grep -v -e "is ignored: it is neither" -e "^$$" || true; }
# setuptools' boxed note on every editable install says nothing about this project.
NO_EDITABLE_NOTE := PYTHONWARNINGS="ignore:Editable installation"
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: book test lint lock notebook data screenshots clean

# Installs the exact versions of requirements.lock, then the package itself without resolving.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet -r $(LOCK) $(QUIET_PIP)
	$(NO_EDITABLE_NOTE) $(BIN)/python -m pip install --quiet --no-deps -e . $(QUIET_PIP)
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

## make lock: re-resolve pyproject.toml (".[dev]") in a temporary fresh venv and write its exact
## versions to requirements.lock (about 6 GB in a temporary folder for a few minutes, then removed)
lock:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "resolving .[dev] in $$tmp/venv" && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip $(QUIET_PIP) && \
	$(NO_EDITABLE_NOTE) "$$tmp/venv/bin/python" -m pip install --quiet -e ".[dev]" $(QUIET_PIP) && \
	{ echo "# Exact versions of everything 'pip install -e .[dev]' installs (Python 3.11, Linux x86-64)."; \
	  echo "# make book / make test install these, then hdogreg itself with --no-deps."; \
	  echo "# Written by 'make lock' from pyproject.toml; do not edit by hand."; \
	  "$$tmp/venv/bin/python" -m pip freeze --exclude-editable; } > $(LOCK).new && \
	mv $(LOCK).new $(LOCK) && echo "wrote $(LOCK) ($$(grep -c '==' $(LOCK)) packages)"

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
