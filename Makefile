# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck install browsers catalogs translations clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: check and build the sample issues, import sample subscribers into newsletter.db
demo: $(STAMP)
	$(BIN)/newsletter check
	$(BIN)/newsletter list
	$(BIN)/newsletter build --all-locales --out build
	$(BIN)/newsletter db upgrade
	$(BIN)/newsletter subscribers import config/sample-subscribers.csv --tag sample
	$(BIN)/newsletter subscribers list
	@echo
	@echo "Open the results in a browser:"
	@echo "  build/2024-03-10-ai-revolution-accelerates/en/email.html    the email as a reader gets it"
	@echo "  build/2024-03-10-ai-revolution-accelerates/en/email.txt     its plain-text part"
	@echo "  build/2024-05-07-this-month-in-ai/ar/web/index.html         the web version, in Arabic"
	@echo "Or preview with live reload: $(BIN)/newsletter preview"
	@echo "Start the subscribe/unsubscribe web app (then open http://127.0.0.1:8080/subscribe):"
	@echo "  NEWSLETTER_SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))') $(BIN)/newsletter serve"

## browsers: Debian's chromium and fonts (CJK, Arabic) for the browser tests, when missing
browsers:
	@command -v chromium >/dev/null 2>&1 && test -d /usr/share/fonts/opentype/noto || { \
	  echo "installing chromium and fonts for the browser tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-cjk >/dev/null; }

## translations: extract template strings and merge them into every catalog (then translate)
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -o newsletter/translations/messages.pot --no-location --sort-output \
	  --project=newsletter --copyright-holder="newsletter authors" --msgid-bugs-address=editors@example.org .
	$(BIN)/pybabel update -i newsletter/translations/messages.pot -d newsletter/translations --no-wrap --no-fuzzy-matching

## catalogs: compile the catalogs (fails on a broken .po; the code also reads .po directly)
catalogs: $(STAMP)
	$(BIN)/pybabel -q compile -d newsletter/translations -f

lint: $(STAMP)
	$(BIN)/ruff check newsletter tests
	$(BIN)/ruff format --check newsletter tests

typecheck: $(STAMP)
	$(BIN)/mypy

## test: install everything the tests need, lint, type-check and run the whole suite
test: lint typecheck catalogs browsers
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
