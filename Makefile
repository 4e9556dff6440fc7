# Geumcheon Welfare — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL leg of the tests: a server where the suite may create throw-away databases.
WELFARE_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck contracts test-sqlite test-postgres browser-notice screenshots bench faults rotation clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo ""
	@echo "Variables (make run PORT=8080 HOST=0.0.0.0):"
	@echo "  HOST=$(HOST)  PORT=$(PORT)  where make run serves"
	@echo "  WELFARE_TEST_DATABASE_URL=$(WELFARE_TEST_DATABASE_URL)"
	@echo "                 the PostgreSQL leg of make test (creates and drops its own databases)"
	@echo "  PYTEST_ARGS     extra pytest arguments, e.g. PYTEST_ARGS='-k cursors -x'"

$(STAMP): pyproject.toml constraints.txt
	@echo "==> installing into $(VENV) (pinned by constraints.txt)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP) ## Create .venv and install the service with its dev tools

run: install ## Migrate, seed the demo district once, serve on http://127.0.0.1:8000 with schedulers
	$(BIN)/welfare db upgrade
	$(BIN)/welfare demo seed
	$(BIN)/welfare serve --host $(HOST) --port $(PORT)

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy, strict on the packages
	$(BIN)/mypy

contracts: install ## import-linter layer contracts
	$(BIN)/lint-imports

test-sqlite: install ## Test suite on SQLite
	@echo "==> tests on SQLite"
	env -u WELFARE_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install ## Test suite on PostgreSQL (skipped with a notice when none answers)
	@if $(BIN)/python -m tests.support.pg_probe "$(WELFARE_TEST_DATABASE_URL)"; then \
		echo "==> tests on PostgreSQL"; \
		WELFARE_TEST_DATABASE_URL="$(WELFARE_TEST_DATABASE_URL)" $(BIN)/pytest $(PYTEST_ARGS); \
	elif [ -n "$$WELFARE_REQUIRE_POSTGRES" ]; then \
		echo "!! PostgreSQL is required (WELFARE_REQUIRE_POSTGRES) but did not answer"; exit 1; \
	else \
		echo ""; \
		echo "!! PostgreSQL leg SKIPPED: no server answered at the URL above."; \
		echo "!! Start PostgreSQL or set WELFARE_TEST_DATABASE_URL to run it; CI always runs it."; \
	fi

browser-notice:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo ""; \
		echo "!! Browser tests (tests/browser) SKIPPED: chromium and chromium-driver are not installed."; \
		echo "!! apt-get install chromium chromium-driver to run them; CI always runs them."; \
	fi

screenshots: install ## Retake the console screenshots in docs/screenshots/ (needs chromium)
	WELFARE_SCREENSHOT_DIR=docs/screenshots WELFARE_REQUIRE_BROWSER=1 env -u WELFARE_TEST_DATABASE_URL \
		$(BIN)/pytest -q tests/browser

test: lint typecheck contracts test-sqlite test-postgres browser-notice ## Everything CI runs: lint, types, contracts, tests on both databases (and in chromium)

bench: install ## Run the benchmarks in bench/ (prints figures beside their references)
	@for b in bench/bench_*.py; do echo "==> $$b"; $(BIN)/python $$b || exit 1; done

faults: install ## Fault run: own PostgreSQL, 2 web + 2 scheduler nodes, kills and a restart (bench/faults)
	$(BIN)/python bench/faults/fault_run.py

rotation: install ## Key rotation under load on 2 web nodes, no restart (bench/faults)
	$(BIN)/python bench/faults/rotation_under_load.py

clean: ## Remove caches (keeps .venv and instance/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
