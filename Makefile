# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: load and check every sample issue, then print the table of issues and locales
demo: $(STAMP)
	$(BIN)/newsletter check
	$(BIN)/newsletter list
	@echo
	@echo "Sample issues are in issues/; edit one and run '$(BIN)/newsletter check' again."

lint: $(STAMP)
	$(BIN)/ruff check newsletter tests
	$(BIN)/ruff format --check newsletter tests

typecheck: $(STAMP)
	$(BIN)/mypy

## test: install everything the tests need, lint, type-check and run the whole suite
test: lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
