# The two commands a newcomer needs:
#   make run    -- Azurite + the iTwin emulator + sample drops, through the real pipeline
#   make test   -- install everything and run the whole test suite
# Everything installs into this folder (.venv, node_modules); nothing downloads at run time.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed

.PHONY: setup run run-keep test lint check bench infra-check clean

setup: $(STAMP_PY) $(STAMP_NODE)

$(STAMP_PY): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(PY) -m devkit.demo

run-keep: setup
	$(PY) -m devkit.demo --keep

# Four pytest workers (pytest-xdist), each with its own Azurite: the tests spend much of their time
# waiting on real services and subprocesses, so two workers per core keep both cores busy (fresh clone,
# 2 cores: 133 s with 4 workers, 156-170 s with one per core). TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 4

test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared devkit function_app.py bench infra/typecheck.py infra/checkov_report.py infra/workbook.py
	$(VENV)/bin/lint-imports

infra-check:
	bash infra/check.sh

check: test lint infra-check

bench: setup
	$(PY) bench/normalize_bench.py

clean:
	rm -rf $(VENV) node_modules .local .pytest_cache .mypy_cache .ruff_cache
