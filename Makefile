# The README's two commands are `make demo` and `make test`; both build the
# project-local virtualenv (.venv) from nothing but Python first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: plotly-bundle demo test unit browser notebooks lint typecheck format pytest bench bench-seed bench-dashboard bench-extract bench-extract-parquet bench-extract-loop bench-widget bench-load bench-import bench-browser bench-api bench-cache bench-replica redis db-stop clean

demo: $(STAMP)
	$(BIN)/gallery-analytics demo

test: $(STAMP) browser redis lint typecheck pytest

# The fast loop while editing: pure logic only, no database, no browser, no notebooks.
unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The report's browser test needs Debian's Chromium (no browser can be downloaded).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "note: chromium is missing and cannot be installed here; browser tests will skip"; \
	  fi; }

# The shared panel cache's tests start Debian's redis-server (no Redis can be downloaded).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's redis-server for the panel cache tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "note: redis-server is missing and cannot be installed here; Redis cache tests will skip"; \
	  fi; }

# Re-execute every notebook in place against the seeded demo database (after changing
# code that notebooks show), so their committed outputs keep up with the code.
notebooks: $(STAMP)
	$(BIN)/gallery-analytics notebooks

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

bench: bench-seed bench-dashboard bench-extract bench-widget bench-load bench-import

bench-seed: $(STAMP)
	$(BIN)/python benchmarks/seed_large.py

bench-dashboard: $(STAMP)
	$(BIN)/python benchmarks/dashboard.py

bench-import: $(STAMP)
	$(BIN)/python benchmarks/import_collection.py

bench-load: $(STAMP)
	$(BIN)/python benchmarks/load.py

bench-widget: $(STAMP)
	$(BIN)/python benchmarks/widget_latency.py

# The served dashboard in Chromium (medium data; quiet and with a CPU burner per core):
# first view, bytes per view, filter-change latency, kernel memory before/after culling.
bench-browser: $(STAMP) browser
	$(BIN)/python benchmarks/browser_dashboard.py

bench-extract: $(BENCH_STAMP)
	$(BIN)/python benchmarks/extract.py

# 10M rows to Parquet with bounded memory (builds a 10M-row table, 1.3 GB, once).
# The event loop during each extract: a 10 ms ticker's longest gap, quiet and with CPU
# burners (target: no gap over 50 ms).
bench-extract-loop: $(STAMP)
	$(BIN)/python benchmarks/extract_loop.py

# Quick look: make bench-extract-parquet BENCH_PARQUET_ARGS="--rows 200000"
bench-extract-parquet: $(BENCH_STAMP)
	$(BIN)/python benchmarks/extract_parquet.py $(BENCH_PARQUET_ARGS)

# The HTTP API under Debian's wrk (installed when missing, as root): GET /artworks/{id} and
# the user dashboard, 64 connections x 10 s per row, workers 1 and 2, side by side with a
# bare Starlette + asyncpg floor. Quick look: make bench-api BENCH_API_ARGS="--seconds 3"
bench-api: $(STAMP)
	$(BIN)/python benchmarks/api.py $(BENCH_API_ARGS)

# The whole overview on large data, cache cold, 30 filter sets: rollups (migration 0006)
# versus the base tables side by side, p50/p95 (targets 150/300 ms).
bench-overview-large: $(STAMP)
	$(BIN)/python benchmarks/overview_large.py

# 200 viewers of one dashboard and 50 loads of distinct filters, medium data: no cache,
# the in-process cache and Redis side by side (dashboards/s, panel queries that reached
# PostgreSQL). Quick look: make bench-cache BENCH_CACHE_ARGS="--rounds 1"
bench-cache: $(STAMP) redis
	$(BIN)/python benchmarks/cache_viewers.py $(BENCH_CACHE_ARGS)

# Reads on a streaming replica vs the primary, and the read-your-writes wait after an
# import (a primary and replica of its own in .gallery/bench-replica).
bench-replica: $(STAMP)
	$(BIN)/python benchmarks/replica.py

db-stop: $(STAMP)
	$(BIN)/gallery-analytics db stop

clean:
	-$(BIN)/gallery-analytics db stop
	rm -rf $(VENV) .gallery .pytest_cache .mypy_cache .ruff_cache

# The dashboard's plotly.js (core + the trace types the charts draw). Needs npm; the built
# file is committed, so installing the project does not.
plotly-bundle:
	cd frontend/plotly-bundle && npm ci --no-audit --no-fund && npm run build
