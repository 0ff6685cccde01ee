# The two commands: `make run` (serve on SQLite at http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# The dashboard (frontend/): npm ci when the lockfile changes, a build when its sources do.
WEB := frontend
NPM_STAMP := $(WEB)/node_modules/.installed
WEB_EXPORT := $(WEB)/out/index.html
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public -type f ! -name '*.test.ts' 2>/dev/null) \
	$(addprefix $(WEB)/,package.json next.config.ts tsconfig.json postcss.config.mjs)

.PHONY: run test lint format bench install clean web node

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the package with its dev tools

node:  ## fail early, and plainly, without Node.js >= 20.9 (the dashboard's build needs it)
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=9)?0:1)' \
	  2>/dev/null || { echo "Node.js >= 20.9 is needed to build the dashboard (https://nodejs.org)"; exit 1; }

$(NPM_STAMP): $(WEB)/package-lock.json | node
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB_EXPORT): $(NPM_STAMP) $(WEB_SOURCES)
	cd $(WEB) && npm run build
	touch $@

web: $(WEB_EXPORT)  ## install the dashboard's packages and build it (only when its sources changed)

run: $(STAMP) $(WEB_EXPORT)  ## set up, migrate, load the offline snapshot (idempotent), serve on SQLite
	$(BIN)/cryptopredict import-prices --snapshot
	$(BIN)/cryptopredict serve --host $(HOST) --port $(PORT)

lint: $(STAMP) $(WEB_EXPORT)  ## ruff, mypy --strict, the import contracts; ESLint and tsc
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	cd $(WEB) && npm run lint

test: $(STAMP) $(WEB_EXPORT) lint  ## set up, lint, and run the whole suite (Python, unit, browser)
	$(BIN)/pytest
	cd $(WEB) && npm test && npm run e2e

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(STAMP) $(WEB_EXPORT)  ## run every benchmark under bench/ and rewrite BENCHMARKS.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(WEB)/node_modules $(WEB)/.next $(WEB)/out
