# zorghub: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/zorghub demo

lint: $(STAMP)
	$(VENV)/bin/ruff check hub mappings tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# the suite on SQLite, then every store-touching test again on PostgreSQL
test: $(STAMP) lint
	$(PY) -m pytest -q
	ZORGHUB_TEST_STORE=postgres $(PY) -m pytest -q --ignore=tests/test_bench_smoke.py \
		--ignore-glob='tests/test_mappings_*' --ignore=tests/test_settings.py \
		--ignore-glob='tests/test_http_*'

# only the tests marked slow (each is part of `make test` too): to rerun them on their own
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) -m bench.run

bench-quick: $(STAMP)
	$(PY) -m bench.run --quick

clean:
	rm -rf $(VENV) .zorghub .pytest_cache .mypy_cache .ruff_cache
