# Fieldline. `make run` serves the demo on the embedded default; `make test` runs the suite on
# the embedded default and again on real PostgreSQL, Redis and S3 started on loopback.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCKS := requirements/base.lock requirements/dev.lock
PYTEST := FIELDLINE_ENV=test $(PY) -m pytest
WATERMELON := tests/sync/watermelon
WATERMELON_STAMP := $(WATERMELON)/node_modules/.installed

.PHONY: run test test-embedded test-services lint typecheck check bench lock clean

$(STAMP): $(LOCKS)
	@python=$$(infra/dev/find-python.sh) && \
	  { [ -x $(PY) ] || $$python -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes $(addprefix -r ,$(LOCKS))
	@touch $(STAMP)

# The real WatermelonDB client the sync tests drive (Node with the LokiJS adapter).
$(WATERMELON_STAMP): $(WATERMELON)/package-lock.json
	@command -v node >/dev/null || { echo "fieldline: node (Node.js 20+) is required for the WatermelonDB client tests: apt-get install nodejs npm" >&2; exit 1; }
	cd $(WATERMELON) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WATERMELON_STAMP)

run: $(STAMP)
	infra/dev/run.sh

test: test-embedded test-services

test-embedded: $(STAMP) $(WATERMELON_STAMP)
	@echo "== leg 1: embedded default (SQLite, in-memory channel layer, local files)"
	$(PYTEST) -m "not services"

test-services: $(STAMP) $(WATERMELON_STAMP)
	@echo "== leg 2: real services (PostgreSQL, Redis, S3-compatible) on loopback"
	infra/testservices/with-services.sh env FIELDLINE_EXPECT_SERVICES=1 $(PYTEST)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

check: lint typecheck

bench: $(STAMP)
	$(PY) -m infra.bench.run_all

# Re-resolve the pinned dependencies from requirements/*.in.
lock: $(STAMP)
	cd requirements && ../$(VENV)/bin/uv pip compile --python-version 3.12 --generate-hashes base.in -o base.lock
	cd requirements && ../$(VENV)/bin/uv pip compile --python-version 3.12 --generate-hashes dev.in -o dev.lock

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
