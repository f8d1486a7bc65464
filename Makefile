# Two commands do all the set-up on a fresh machine (Python 3.11+):
#   make demo   install into .venv and start the gateway on SQLite with demo data
#   make test   install into .venv and run lint, types and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install schema clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/gateway install-graphiql || echo "GraphiQL assets not installed (npm missing?): the page will use the CDN"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway serve --demo --db gateway-demo.db

lint: $(STAMP)
	$(BIN)/ruff check gateway tests examples bench
	$(BIN)/ruff format --check gateway tests examples bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

schema: $(STAMP)
	$(BIN)/gateway schema > schema.graphql

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache gateway-demo.db*

# Every workload beside its baselines; writes docs/benchmarks/README.md and chart.png (~10 min).
bench: $(STAMP)
	$(BIN)/python -m bench --out docs/benchmarks
