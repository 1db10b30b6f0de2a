# cinderlite: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Tempest lives in a virtualenv of its own: its pins are not the service's.
TEMPEST_VENV := .venv-tempest
TEMPEST_LOCK := tests/tempest/requirements.lock
# A real Keystone and Glance for `make test-cloud`, in a virtualenv of their own.
CLOUD_VENV := .venv-cloud
CLOUD_LOCK := tests/cloud/requirements.lock
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

.DEFAULT_GOAL := help
.PHONY: help install install-dev qemu-img run worker migrate migration bootstrap test test-unit \
        test-integration test-e2e test-postgres test-e2e-postgres test-tempest test-cloud lint fmt typecheck check bench bench-api bench-scale wrk lock lock-tempest lock-cloud clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cinderlite needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

$(BIN)/.installed-dev: requirements-dev.lock $(BIN)/.installed
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.lock
	@touch $@

install: $(BIN)/.installed ## create .venv with the pinned runtime dependencies

install-dev: $(BIN)/.installed-dev ## add the test tools and the real OpenStack clients

qemu-img: ## make sure qemu-img is there (installs qemu-utils through apt when root)
	@if ! command -v qemu-img >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing qemu-utils (qemu-img)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >/dev/null; \
	  else \
	    echo "qemu-img is missing: install the Debian package qemu-utils (sudo apt-get install qemu-utils)"; exit 1; \
	  fi; \
	fi

run: install-dev qemu-img ## serve identity :5000, block storage :8776, image :9292 on 127.0.0.1 (data in ./data)
	$(BIN)/cinderlite serve

worker: install qemu-img ## run upload workers only, against the configured database
	$(BIN)/cinderlite worker

bootstrap: install ## create admin/demo users and data/openrc-* without serving
	$(BIN)/cinderlite bootstrap

migrate: install ## apply database migrations
	$(BIN)/cinderlite db-upgrade

migration: install ## autogenerate a migration: make migration name="add x"
	$(BIN)/alembic revision --autogenerate -m "$(name)"

# pytest exits 5 when it collected nothing. That fails a run, except in the
# PostgreSQL stage of `make test` (EMPTY_OK=1), which follows a SQLite stage that
# must itself have run tests.
PYTEST_OR_EMPTY = rc=0; $(1) || rc=$$?; \
  if [ $$rc = 5 ] && [ -n "$(EMPTY_OK)" ]; then echo "pytest: no tests selected here; accepted"; rc=0; fi; \
  exit $$rc

# The PostgreSQL pass runs beside the SQLite pass (its output goes to
# .test-logs/postgres.log and is printed when both end): much of either is
# waiting on leases, servers and subprocesses, so together they take little
# more than the longer one. The make fails if either fails.
test: install-dev qemu-img ## run the whole suite on SQLite and, at the same time, the integration tests on PostgreSQL
	@mkdir -p .test-logs; \
	$(MAKE) --no-print-directory test-postgres EMPTY_OK=1 > .test-logs/postgres.log 2>&1 & pg=$$!; \
	rc=0; $(BIN)/pytest tests || rc=$$?; \
	prc=0; wait $$pg || prc=$$?; \
	echo "=== PostgreSQL pass (exit $$prc), .test-logs/postgres.log:"; \
	if [ $$prc = 0 ]; then tail -n 5 .test-logs/postgres.log; else cat .test-logs/postgres.log; fi; \
	[ $$rc = 0 ] && [ $$prc = 0 ]

test-unit: install-dev ## unit tests only
	$(BIN)/pytest tests/unit

test-integration: install-dev qemu-img ## integration tests (SQLite)
	$(BIN)/pytest tests/integration

test-e2e: install-dev qemu-img ## end-to-end tests: the real openstack, cinder, glance clients and openstacksdk
	$(BIN)/pytest tests/e2e

# The e2e tests repeat on PostgreSQL only on request (they cost minutes, and the
# database layer is what differs): make test-postgres PG_TESTS=tests, or test-e2e-postgres.
# tests/integration/formats has no database: it runs in the SQLite pass only.
PG_TESTS ?= tests/integration --ignore=tests/integration/formats

test-postgres: install-dev qemu-img ## integration tests against PostgreSQL ($(PG_TEST_URL)); PG_TESTS=tests adds e2e
	@if $(BIN)/python -c 'import asyncio, asyncpg, sys; u = sys.argv[1].replace("+asyncpg", ""); asyncio.run(asyncpg.connect(u, timeout=3))' '$(PG_TEST_URL)' 2>/dev/null; then \
	  $(call PYTEST_OR_EMPTY,CINDERLITE_TEST_DATABASE_URL='$(PG_TEST_URL)' $(BIN)/pytest -m integration $(PG_TESTS)); \
	elif [ -n "$$CINDERLITE_TEST_SKIP_POSTGRES" ]; then \
	  echo "PostgreSQL not reachable at $(PG_TEST_URL): skipped because CINDERLITE_TEST_SKIP_POSTGRES is set"; \
	else \
	  echo "PostgreSQL not reachable at $(PG_TEST_URL). Start it, set PG_TEST_URL, or set CINDERLITE_TEST_SKIP_POSTGRES=1"; exit 1; \
	fi

test-e2e-postgres: ## the e2e tests with the served cinderlite on PostgreSQL
	$(MAKE) --no-print-directory test-postgres PG_TESTS=tests/e2e

$(TEMPEST_VENV)/.installed: $(TEMPEST_LOCK)
	$(PYTHON) -m venv $(TEMPEST_VENV)
	$(TEMPEST_VENV)/bin/pip install -q --disable-pip-version-check -r $(TEMPEST_LOCK)
	@touch $@

# OpenStack's own API tests (tempest.api.volume, tempest.api.image) against a served
# cinderlite; tests/tempest/ holds the config template, the skip list and the
# expected failures. Extra options: make test-tempest TEMPEST_ARGS="--workdir /tmp/t".
test-tempest: install-dev qemu-img $(TEMPEST_VENV)/.installed ## the Tempest conformance gate (about 1 min)
	$(BIN)/python -m tests.tempest.gate --tempest $(TEMPEST_VENV)/bin $(TEMPEST_ARGS)

$(CLOUD_VENV)/.installed: $(CLOUD_LOCK)
	$(PYTHON) -m venv $(CLOUD_VENV)
	$(CLOUD_VENV)/bin/pip install -q --disable-pip-version-check -r $(CLOUD_LOCK)
	@touch $@

# cinderlite joined to a real Keystone and Glance (tests/cloud/, docs/cloud.md): both
# installed from PyPI into .venv-cloud (about 4 min the first time), started on
# loopback ports with SQLite, and driven with the openstack and cinder clients.
test-cloud: install-dev qemu-img $(CLOUD_VENV)/.installed ## joined to a real Keystone 30 and Glance 33 (about 3 min once installed)
	CINDERLITE_CLOUD_VENV=$(CLOUD_VENV) $(BIN)/pytest -m cloud tests/cloud

lint: install-dev ## ruff, then the layer rules of [tool.importlinter] in pyproject.toml
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

fmt: install-dev ## ruff format and fixes
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

typecheck: install-dev ## mypy, strict ([tool.mypy] in pyproject.toml)
	$(BIN)/mypy src

check: lint typecheck test ## what CI runs

# Extra options: make bench BENCH_ARGS="--cases sparse25 --repeat 3" (see docs/benchmarks.md)
bench: install-dev qemu-img ## data-path benchmark: upload and copy times against their floors
	@if ! command -v mkfs.xfs >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing xfsprogs (the reflink rows copy on a loop-mounted XFS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs >/dev/null; \
	fi
	$(BIN)/python -m bench.upload $(BENCH_ARGS)
	$(BIN)/python -m bench.backup

wrk: ## make sure wrk is there (installs the Debian package through apt when root)
	@if ! command -v wrk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing wrk"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "wrk is missing: install the Debian package wrk (sudo apt-get install wrk)"; exit 1; \
	  fi; \
	fi

bench-api: install-dev qemu-img wrk ## API load test with wrk
	$(BIN)/python -m bench.api $(BENCH_ARGS)

bench-scale: install-dev qemu-img wrk ## 1 vs 2 API processes (GET volume) and 1 vs 2 workers (uploads) on PostgreSQL
	$(BIN)/python -m bench.scale $(BENCH_ARGS)

lock: ## re-pin dependencies into requirements*.lock
	rm -rf /tmp/cinderlite-lock && $(PYTHON) -m venv /tmp/cinderlite-lock
	/tmp/cinderlite-lock/bin/pip install -q . && /tmp/cinderlite-lock/bin/pip freeze --exclude cinderlite > requirements.lock
	/tmp/cinderlite-lock/bin/pip install -q '.[test]' && /tmp/cinderlite-lock/bin/pip freeze --exclude cinderlite > requirements-dev.lock

lock-tempest: ## re-pin Tempest (TEMPEST_VERSION, default 47.0.0) into tests/tempest/requirements.lock
	rm -rf /tmp/cinderlite-lock-tempest && $(PYTHON) -m venv /tmp/cinderlite-lock-tempest
	/tmp/cinderlite-lock-tempest/bin/pip install -q 'tempest==$(or $(TEMPEST_VERSION),47.0.0)'
	/tmp/cinderlite-lock-tempest/bin/pip freeze > $(TEMPEST_LOCK)

lock-cloud: ## re-pin Keystone and Glance (KEYSTONE_VERSION 30.0.0, GLANCE_VERSION 33.0.0) into tests/cloud/requirements.lock
	rm -rf /tmp/cinderlite-lock-cloud && $(PYTHON) -m venv /tmp/cinderlite-lock-cloud
	/tmp/cinderlite-lock-cloud/bin/pip install -q 'keystone==$(or $(KEYSTONE_VERSION),30.0.0)' \
	  'glance==$(or $(GLANCE_VERSION),33.0.0)' uwsgi
	/tmp/cinderlite-lock-cloud/bin/pip freeze > $(CLOUD_LOCK)

clean: ## remove the virtualenvs (keeps ./data)
	rm -rf $(VENV) $(TEMPEST_VENV) $(CLOUD_VENV) .pytest_cache .mypy_cache .ruff_cache .grimp_cache .import_linter_cache
