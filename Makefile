# Each command does its own set-up on a fresh machine (Python 3.11+):
#   make demo   install the runtime into .venv and start the gateway on SQLite with demo data
#   make test   add the test tools (dev and bench extras) and run lint, types and the whole suite
#   make bench  add the benchmark's (the bench extra) and run it
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# One stamp per layer: the runtime, then each extra on top of it.
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
BENCH  := $(VENV)/.installed-bench

# The npm projects the tests drive (codegen, Relay, the web example): installed from their
# lockfiles whenever those change; without npm their tests skip (and fail under .ci/run).
NPM_PROJECTS := clients examples/web
NPM_STAMPS   := $(addsuffix /node_modules/.package-lock.json,$(NPM_PROJECTS))

.PHONY: demo test lint install schema clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	$(BIN)/gateway install-graphiql || echo "GraphiQL assets not installed (npm missing?): the page will use the CDN"
	touch $(STAMP)

$(DEV): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV)

$(BENCH): $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $(BENCH)

%/node_modules/.package-lock.json: %/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $* --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the tests of $* will skip"; fi

install: $(DEV) $(BENCH) $(NPM_STAMPS)

demo: $(STAMP)
	$(BIN)/gateway serve --demo --db gateway-demo.db

# mypy checks bench/ too, which imports the bench extra (matplotlib).
lint: $(DEV) $(BENCH)
	$(BIN)/ruff check gateway tests examples bench
	$(BIN)/ruff format --check gateway tests examples bench
	$(BIN)/mypy

# The suite runs the benchmark's smoke test too: it needs the bench extra as well.
test: lint $(BENCH) $(NPM_STAMPS)
	$(BIN)/pytest

# The SDL, and what clients/ derives from it for normalized caches (graphcache, Apollo).
schema: $(STAMP) clients/node_modules/.package-lock.json
	$(BIN)/gateway schema > schema.graphql
	npm --prefix clients run --silent codegen

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache gateway-demo.db* test-artifacts \
		$(addsuffix /node_modules,$(NPM_PROJECTS))

# Every workload beside its baselines; writes docs/benchmarks/README.md and chart.png (~10 min).
bench: $(BENCH)
	$(BIN)/python -m bench --out docs/benchmarks
