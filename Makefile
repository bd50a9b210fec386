# The README's two commands are `make demo` and `make test`; both build the
# project-local virtualenv (.venv) from nothing but Python first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck format pytest bench bench-seed bench-dashboard bench-extract db-stop clean

demo: $(STAMP)
	$(BIN)/gallery-analytics demo

test: $(STAMP) lint typecheck pytest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: bench-seed bench-dashboard bench-extract

bench-seed: $(STAMP)
	$(BIN)/python benchmarks/seed_large.py

bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/dashboard.py

bench-extract: $(BENCH_STAMP)
	$(BIN)/python benchmarks/extract.py

db-stop: $(STAMP)
	$(BIN)/gallery-analytics db stop

clean:
	-$(BIN)/gallery-analytics db stop
	rm -rf $(VENV) .gallery .pytest_cache .mypy_cache .ruff_cache
