# eoforge: `make demo` and `make test` work on a fresh machine (Python 3.11, CPU only).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.eoforge-installed
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: install demo test lint format bench clean

install: $(STAMP)

# Idempotent: re-runs only when the package metadata changes. The constraints file pins the
# CPU build of torch so no CUDA packages are downloaded.
$(STAMP): pyproject.toml constraints-cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints-cpu.txt -e '.[test]'
	touch $(STAMP)

demo: install
	$(BIN)/eoforge demo --out runs/demo

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests benchmarks

bench: install
	$(BIN)/python benchmarks/extremes_planted.py --seeds 10
	$(BIN)/python benchmarks/extremes_ensemble.py
	$(BIN)/python benchmarks/extremes.py

clean:
	rm -rf runs .pytest_cache
