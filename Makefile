# The usual targets. `make test` is the one command that runs every test (CI runs it).
PY ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
# import-linter has no `python -m` entry point: use the script next to $(PY), or the one on PATH.
LINT_IMPORTS ?= $(if $(findstring /,$(PY)),$(dir $(PY))lint-imports,lint-imports)
COMPOSE ?= docker compose

.PHONY: install up down logs ps rebuild-catalog reconcile-catalog catalog-snapshot test unit integration e2e chaos bench lint format clean

install:  ## a virtualenv with the runtime and test dependencies
	python3 -m venv .venv
	.venv/bin/pip install -q -r requirements-dev.txt

up:  ## build and start the whole stack in the background
	$(COMPOSE) up --build -d

down:  ## stop the stack and remove its volumes
	$(COMPOSE) down -v --remove-orphans

logs:
	$(COMPOSE) logs --tail=100

ps:
	$(COMPOSE) ps

rebuild-catalog:  ## empty the order service's catalog copy: order-catalog replays the stream (docs/catalog.md)
	$(COMPOSE) exec order-catalog python -m order_service.catalog_follower rebuild

reconcile-catalog:  ## print how the catalog copy differs from the inventory's GET /products (exit 1 if it does)
	$(COMPOSE) exec order-catalog python -m order_service.catalog_follower reconcile

catalog-snapshot:  ## the inventory publishes every product's state now (product.snapshot), not at its next daily one
	$(COMPOSE) exec inventory-expirer python -m inventory_service.snapshot

lint:  ## style, layer rules (pyproject's [tool.importlinter]) and types (pyproject's [tool.mypy])
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(LINT_IMPORTS)
	$(PY) -m mypy

format:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

unit:
	$(PY) -m pytest -m unit

integration:
	$(PY) -m pytest -m integration

e2e: up
	$(PY) -m pytest -m e2e

chaos: up  ## break the stack on purpose; prints the reliability table (CHAOS_SEED=... to replay)
	$(PY) -m pytest -m chaos -s

bench: up  ## throughput, latency, event lag, backlog drain, resources (BENCH_QUICK=1 for a short run)
	$(PY) -m bench.run

test: lint up  ## everything: lint, unit, integration (throwaway containers), e2e and chaos (the stack)
	$(PY) -m pytest -m "unit or integration or e2e or chaos" --durations=15

clean: down
	rm -rf .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
