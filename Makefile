# The two README commands are `make run` and `make test`; everything else is a helper.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The environment is (re)installed whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
ARGS ?=

.PHONY: run test lint typecheck imports pytest bench goldens clean help

help:
	@echo "make run      start the daemon on the embedded default (loopback)"
	@echo "make test     ruff, mypy --strict, import contracts and pytest"
	@echo "make bench    compile-time benchmarks (bench/README.md); ARGS=--quick for a smoke run"

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "qconductor needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/qconductor serve $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# pytest exits 5 when it collected no test: that is a failure here, said out loud.
pytest: $(STAMP)
	status=0; $(BIN)/pytest $(ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no tests; failing" >&2; exit 1; fi; \
	exit $$status

test: lint typecheck imports pytest

# Rewrite every golden file (tests/golden/expected/, docs/compiled-job.schema.json) from the
# compiler's current output; review the diff before committing.
goldens: $(STAMP)
	$(BIN)/python -m tests.golden.regenerate

bench: $(STAMP)
	$(BIN)/python -m bench.compile_scaling $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
