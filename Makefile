# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

.PHONY: demo test lint typecheck install bytecode packages browsers postgres mailservers webcheckers catalogs translations clean serve-demo run-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The bytecode and catalogs of the package's sources, where they are here (a project folder
# that only uses this Makefile, as tests/test_demo.py's copy does, has none).
SOURCES_READY := $(if $(wildcard newsletter/__init__.py),bytecode catalogs)

install: $(STAMP) $(SOURCES_READY)

# The project's own modules compiled ahead. Where PYTHONDONTWRITEBYTECODE is set (containers
# often set it, as does this project's development machine), Python otherwise compiles every
# module a command imports at each start: 40 ms of `newsletter status`, 90 ms of `archive`.
# Python uses it only while its module keeps the time (to the second) and size it was compiled
# from; an edit changes them, unless it keeps the size within that second (a script that edits
# right after `make`): run `make bytecode` again after such a scripted edit.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q newsletter

DEMO_KEY := demo-only-key-never-use-it-for-real-mail
DEMO_ISSUE := 2024-05-07-this-month-in-ai
# The demo runs on this machine: its links point at the web app of `make serve-demo`, and its
# mail goes to a local SMTP server (aiosmtpd) that keeps each message in build/demo-inbox/.
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8080
DEMO_SMTP_PORT ?= 8025
DEMO_URL = http://$(DEMO_HOST):$(DEMO_PORT)
demo serve-demo run-demo: export NEWSLETTER_BASE_URL = $(DEMO_URL)
demo serve-demo run-demo: export NEWSLETTER_TRANSPORT_URL = smtp://$(DEMO_HOST):$(DEMO_SMTP_PORT)
demo serve-demo run-demo: export NEWSLETTER_SECRET_KEY = $(DEMO_KEY)
# Starts the local SMTP server in the background (stopped when the recipe's shell ends) and
# waits until it answers.
DEMO_SMTP = $(BIN)/aiosmtpd -n -l $(DEMO_HOST):$(DEMO_SMTP_PORT) -c aiosmtpd.handlers.Mailbox build/demo-inbox & sink=$$!; \
	  trap 'kill $$sink 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	  for i in $$(seq 100); do $(BIN)/python -c "import socket; socket.create_connection(('$(DEMO_HOST)', $(DEMO_SMTP_PORT)), 1).close()" 2>/dev/null && break; sleep 0.1; done

## demo: check and build the sample issues, import sample subscribers into newsletter.db, send
## the newest issue to them through a local SMTP server that keeps what it receives, and export
## the archive site of the sent issues; the demo's links point at the web app of `make serve-demo`
## (NEWSLETTER_BASE_URL=http://127.0.0.1:8080) and its mail goes to the local SMTP server
demo: $(STAMP) $(SOURCES_READY)
	$(BIN)/newsletter check
	$(BIN)/newsletter list
	$(BIN)/newsletter build --all-locales --out build
	$(BIN)/newsletter db upgrade
	$(BIN)/newsletter subscribers import config/sample-subscribers.csv --tag sample
	$(BIN)/newsletter subscribers list
	@mkdir -p build
	@# A local SMTP server (aiosmtpd), storing each message in a maildir.
	@$(DEMO_SMTP); \
	  $(BIN)/newsletter send $(DEMO_ISSUE)
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
	@echo "See what happened to the send: $(BIN)/newsletter status $(DEMO_ISSUE)"
	@echo
	$(BIN)/newsletter archive
	@echo "The archive of the sent issues (index pages, issue pages in en/zh/ar, feeds, sitemap) is in"
	@echo "build/archive/; its links are relative, so any static web server shows it:"
	@echo "  $(BIN)/python -m http.server -d build/archive 8000     then open http://127.0.0.1:8000/"
	@echo
	@echo "Start the web app of the demo, with the local SMTP server again (Ctrl+C stops both):"
	@echo "  make serve-demo"
	@echo "then open $(DEMO_URL)/subscribe: subscribe, and the confirmation email arrives in"
	@echo "build/demo-inbox/new/ with its link to $(DEMO_URL)/confirm/...; the unsubscribe and"
	@echo "preferences links of the demo messages above work there too, and $(DEMO_URL)/ is the archive."
	@echo "Their other links go through $(DEMO_URL)/l/..., which counts each click (no reader named):"
	@echo "  .venv/bin/newsletter report $(DEMO_ISSUE)"
	@echo "Send the next issue marked 'status: ready' every Monday 08:00, then run the service"
	@echo "(schedule, delivery and the web app in one process, with the demo's links, key and local"
	@echo "SMTP server; Ctrl+C stops both; README: Running a weekly newsletter):"
	@echo "  $(BIN)/newsletter schedule weekly \"mon 08:00\" --tz Europe/Berlin"
	@echo "  make run-demo"

## serve-demo: the demo's web app at http://127.0.0.1:8080 (the archive, subscribe, confirm,
## unsubscribe, preferences), its confirmation emails caught by the local SMTP server in
## build/demo-inbox/new/, with the demo's key and links; Ctrl+C stops both
## run-demo: `newsletter run` for the demo (its schedules, deliveries and the same web app), its
## mail caught by the same local SMTP server, with the demo's key and links; Ctrl+C stops both
serve-demo run-demo: $(STAMP)
	@$(BIN)/newsletter db upgrade
	@mkdir -p build
	@$(DEMO_SMTP); \
	  echo "mail goes to the local SMTP server on $(DEMO_HOST):$(DEMO_SMTP_PORT): build/demo-inbox/new/"; \
	  $(BIN)/newsletter $(@:-demo=) --host $(DEMO_HOST) --port $(DEMO_PORT)

## packages: the Debian packages the tests need, those missing, in one apt-get: chromium and fonts
## (CJK, Arabic) for the browser tests; PostgreSQL's server (the tests start their own cluster);
## Postfix (a real relay that writes DSNs) and Dovecot (a real IMAP server) for the bounce tests,
## whose system services the packages start are stopped again (the tests start their own);
## java for the Nu HTML Checker. browsers, postgres and mailservers are its older names.
packages:
	@missing=""; \
	  command -v chromium >/dev/null 2>&1 && test -d /usr/share/fonts/opentype/noto || \
	    missing="$$missing chromium fonts-dejavu-core fonts-noto-cjk"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  command -v postfix >/dev/null 2>&1 || missing="$$missing postfix"; \
	  command -v dovecot >/dev/null 2>&1 || missing="$$missing dovecot-imapd"; \
	  command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	  test -z "$$missing" || { \
	  echo "installing$$missing for the tests (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections; \
	  echo "postfix postfix/mailname string newsletter.test" | debconf-set-selections; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  postfix stop >/dev/null 2>&1 || true; \
	  doveadm stop >/dev/null 2>&1 || true; }

browsers postgres mailservers: packages

## webcheckers: the Nu HTML Checker (vnu.jar, run with java from `packages`) and axe-core from tests/node/package.json,
## for the archive quality tests, when missing (npm runs no install script: nothing else is downloaded)
WEBCHECKERS := tests/node/node_modules/vnu-jar/build/dist/vnu.jar tests/node/node_modules/axe-core/axe.min.js
webcheckers:
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
# Without fuzzy entries, as the code compiles a .po itself: an unchecked translation never shows.
catalogs: $(STAMP)
	$(BIN)/pybabel -q compile -d newsletter/translations

lint: $(STAMP)
	$(BIN)/ruff check newsletter tests
	$(BIN)/ruff format --check newsletter tests

typecheck: $(STAMP)
	$(BIN)/mypy

## test: install everything the tests need, lint, type-check and run the whole suite
# One worker more than there are cores (pytest-xdist): many tests wait on processes, servers and
# Chromium, and a third worker on two cores took the suite from 440 to 407 s (same machine,
# quiet, one run each; a fourth was slower while the tests were CPU-bound). --dist loadfile
# keeps each test module in one worker, so
# its module-scoped set-ups are made once and its tests never run at the same time as each other;
# the modules go out in the order tests/conftest.py gives them (the slowest first), not by count.
# What comes before the tests runs at the same time (make -j): apt-get and npm download and
# unpack while pip installs, then ruff and mypy run.
test:
	@$(MAKE) --no-print-directory -j4 lint typecheck catalogs bytecode packages webcheckers
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find newsletter -name __pycache__ -prune -exec rm -rf {} +
