# zorghub: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# the AsyncAPI JSON Schemas that tests check docs/asyncapi.json against (npm package @asyncapi/specs)
ASYNCAPI_SPECS := $(VENV)/asyncapi/node_modules/@asyncapi/specs/schemas/3.0.0-without-$$id.json

.PHONY: demo test test-slow lint bench bench-quick screenshots clean

$(STAMP): pyproject.toml receiver/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]' -e ./receiver
	touch $(STAMP)

$(ASYNCAPI_SPECS): | $(STAMP)
	npm install --silent --no-audit --no-fund --prefix $(VENV)/asyncapi @asyncapi/specs@6.11.1

demo: $(STAMP)
	$(VENV)/bin/zorghub demo

lint: $(STAMP)
	$(VENV)/bin/ruff check hub mappings tests bench receiver
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# the suite on SQLite, then every store-touching test again on PostgreSQL (the HTTP and console tests
# use PostgreSQL already); test-slow: the same for the tests marked slow (crash, fault and cluster runs),
# which `make test` leaves out and `.ci/run` runs after it
PG_PASS := --ignore=tests/test_bench_smoke.py --ignore-glob='tests/test_mappings_*' --ignore=tests/test_settings.py \
	--ignore-glob='tests/test_http_*' --ignore-glob='tests/test_console_*'

test: $(STAMP) $(ASYNCAPI_SPECS) lint
	$(PY) -m pytest -q -m 'not slow'
	ZORGHUB_TEST_STORE=postgres $(PY) -m pytest -q -m 'not slow' $(PG_PASS)

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow
	ZORGHUB_TEST_STORE=postgres $(PY) -m pytest -q -m slow $(PG_PASS)

# the console's screenshots in docs/console/, taken by its browser tests
screenshots: $(STAMP)
	ZORGHUB_SCREENSHOTS=docs/console $(PY) -m pytest -q tests/test_console_browser.py tests/test_console_portals.py

bench: $(STAMP)
	$(PY) -m bench.run

bench-quick: $(STAMP)
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .zorghub .pytest_cache .mypy_cache .ruff_cache
