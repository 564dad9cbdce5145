# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck install browsers postgres webcheckers catalogs translations clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

DEMO_KEY := demo-only-key-never-use-it-for-real-mail
DEMO_ISSUE := 2024-05-07-this-month-in-ai

## demo: check and build the sample issues, import sample subscribers into newsletter.db, send
## the newest issue to them through a local SMTP server that keeps what it receives, and export
## the archive site of the sent issues
demo: $(STAMP)
	$(BIN)/newsletter check
	$(BIN)/newsletter list
	$(BIN)/newsletter build --all-locales --out build
	$(BIN)/newsletter db upgrade
	$(BIN)/newsletter subscribers import config/sample-subscribers.csv --tag sample
	$(BIN)/newsletter subscribers list
	@# A local SMTP server (aiosmtpd) on the configured port, storing each message in a maildir.
	@$(BIN)/aiosmtpd -n -l 127.0.0.1:8025 -c aiosmtpd.handlers.Mailbox build/demo-inbox & sink=$$!; \
	  trap "kill $$sink" EXIT; sleep 1; \
	  NEWSLETTER_SECRET_KEY=$(DEMO_KEY) $(BIN)/newsletter send $(DEMO_ISSUE)
	@echo
	@echo "The messages the local SMTP server received, one file each: build/demo-inbox/new/"
	@echo "  (each reader gets the edition in their language when the issue has one: this issue is in"
	@echo "   English and Arabic, so Arabic readers got Arabic and everyone else English)"
	@echo
	@echo "Open the results in a browser:"
	@echo "  build/2024-03-10-ai-revolution-accelerates/en/email.html    the email as a reader gets it"
	@echo "  build/2024-03-10-ai-revolution-accelerates/en/email.txt     its plain-text part"
	@echo "  build/2024-05-07-this-month-in-ai/ar/web/index.html         the web version, in Arabic"
	@echo "Or preview with live reload: $(BIN)/newsletter preview"
	@echo "Start the subscribe/unsubscribe web app (then open http://127.0.0.1:8080/subscribe);"
	@echo "with the demo key, a demo message's unsubscribe link works there once its"
	@echo "https://news.example.org is replaced by http://127.0.0.1:8080:"
	@echo "  NEWSLETTER_SECRET_KEY=$(DEMO_KEY) $(BIN)/newsletter serve"
	@echo "See what happened to the send: $(BIN)/newsletter status $(DEMO_ISSUE)"
	@echo
	$(BIN)/newsletter archive
	@echo "The archive of the sent issues (index pages, issue pages in en/zh/ar, feeds, sitemap) is in"
	@echo "build/archive/; its links are relative, so any static web server shows it:"
	@echo "  $(BIN)/python -m http.server -d build/archive 8000     then open http://127.0.0.1:8000/"
	@echo "  (newsletter serve, above, serves the same pages at http://127.0.0.1:8080/ and keeps them current)"
	@echo "Send the next issue marked 'status: ready' every Monday 08:00, then run the service"
	@echo "(schedule, delivery and the web app in one process; README: Running a weekly newsletter):"
	@echo "  $(BIN)/newsletter schedule weekly \"mon 08:00\" --tz Europe/Berlin"
	@echo "  NEWSLETTER_SECRET_KEY=$(DEMO_KEY) $(BIN)/newsletter run"

## browsers: Debian's chromium and fonts (CJK, Arabic) for the browser tests, when missing
browsers:
	@command -v chromium >/dev/null 2>&1 && test -d /usr/share/fonts/opentype/noto || { \
	  echo "installing chromium and fonts for the browser tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-cjk >/dev/null; }

## postgres: Debian's PostgreSQL server for the PostgreSQL tests, when missing (they start their own cluster)
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql for the PostgreSQL tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }

## webcheckers: the Nu HTML Checker (vnu.jar, run with java) and axe-core from tests/node/package.json,
## for the archive quality tests, when missing (npm runs no install script: nothing else is downloaded)
WEBCHECKERS := tests/node/node_modules/vnu-jar/build/dist/vnu.jar tests/node/node_modules/axe-core/axe.min.js
webcheckers:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing java for the Nu HTML Checker (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null; }
	@ls $(WEBCHECKERS) >/dev/null 2>&1 || { \
	  echo "installing the Nu HTML Checker and axe-core (npm, into tests/node/node_modules)"; \
	  if test -f tests/node/package-lock.json; \
	  then npm ci --prefix tests/node --no-audit --no-fund --ignore-scripts; \
	  else npm install --prefix tests/node --no-audit --no-fund --ignore-scripts; fi; }

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
test: lint typecheck catalogs browsers postgres webcheckers
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
