from __future__ import annotations

import functools
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import typer.testing
import uvicorn
from hypothesis import strategies as st
from playwright.sync_api import Browser, Playwright

from newsletter.config import Config
from newsletter.content.loader import IssueLoader

# typer's CliRunner builds the app's click commands again at every invoke (30 ms; the tests
# invoke the CLI a few thousand times): built once per app and process.
typer.testing._get_command = functools.cache(typer.testing._get_command)  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = FIXTURES / "seeds"
POSTS = FIXTURES / "posts"
SEED_EN = SEEDS / "000_757798905b0cf973.txt"
SEED_ZH = SEEDS / "001_c00ac035439ed75e.txt"
SEED_HUGO = SEEDS / "002_15811cd5dc432df1.txt"
LOCALES = ["en", "zh", "ja", "de", "fr", "es", "pt_BR", "ar"]

UNICODE = st.characters(exclude_categories=("Cs",))
"""The characters st.text() draws by default (all that UTF-8 can encode), given by category: the
default's codec="utf-8" makes Hypothesis encode all 1,114,112 code points once in each process
on a machine without its cache (.hypothesis/, as on CI): 20 s of CPU on a busy runner."""

# Debian's Chromium, headless as root, never dialling out (RECIPES.md).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
]


class Chromium:
    """Debian's Chromium through Playwright, started when a test asks for it, kept for the tests
    that follow and need it too, stopped before the first test that does not.

    Starting Playwright and Chromium takes seconds, so one browser serves a run of browser tests.
    It is not kept for the whole session: while Playwright's sync API lives, it marks an asyncio
    loop as running in this thread, and asyncio.run() in any other test would fail.
    """

    def __init__(self) -> None:
        self.playwright: Playwright | None = None
        self.running: Browser | None = None

    def browser(self) -> Browser:
        """The running browser, started if it is not."""
        if self.running is None:
            from playwright.sync_api import sync_playwright

            if not Path(CHROMIUM).exists():
                pytest.fail(
                    "Chromium is not installed: run `make test`, which installs Debian's chromium"
                )
            self.playwright = sync_playwright().start()
            self.running = self.playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        return self.running

    def stop(self) -> None:
        """Closes the browser and Playwright, if they run."""
        if self.running is not None:
            self.running.close()
            self.running = None
        if self.playwright is not None:
            self.playwright.stop()
            self.playwright = None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    keeper = Chromium()
    try:
        yield keeper
    finally:
        keeper.stop()


@pytest.fixture
def browser(chromium: Chromium) -> Browser:
    """Debian's Chromium through Playwright (shared with the browser tests next to this one)."""
    return chromium.browser()


@pytest.fixture(autouse=True)
def _browser_only_for_browser_tests(request: pytest.FixtureRequest, chromium: Chromium) -> None:
    """Stops the browser before a test that does not use it (see Chromium)."""
    if "browser" not in request.fixturenames:
        chromium.stop()


def pytest_configure(config: pytest.Config) -> None:
    """Commands the tests start get Ctrl-C as from a terminal. A suite started in the
    background by a script (`make test &`) inherits SIGINT ignored, and so would each command:
    Python then never raises KeyboardInterrupt, and a test that presses Ctrl-C waits for
    nothing. A handler of this process's own goes back to the default in each command."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Orders the modules: those marked slow first, then those that use the browser (in each,
    its browser tests last, so that one browser serves them in a row), then the others; every
    module's tests stay together and in their order.

    In a parallel run (make test keeps this order: --no-loadscope-reorder) a slow module that
    went out last would leave one worker alone with it at the end, the other idle."""
    modules: dict[Path, int] = {}
    uses: dict[Path, set[bool]] = {}
    slow: set[Path] = set()
    for item in items:
        modules.setdefault(item.path, len(modules))
        uses.setdefault(item.path, set()).add(_uses_browser(item))
        if item.get_closest_marker("slow") is not None:
            slow.add(item.path)

    def place(item: pytest.Item) -> tuple[int, int, bool]:
        browser = uses[item.path]
        if item.path in slow:
            group = 0
        elif browser == {True, False}:
            group = 1  # Before the modules of browser tests only: each stops it once.
        elif browser == {True}:
            group = 2
        else:
            group = 3
        return group, modules[item.path], _uses_browser(item)

    items.sort(key=place)


def _uses_browser(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


POSTGRES_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def as_postgres(*command: str) -> None:
    """Runs a PostgreSQL program as the `postgres` user (Debian's server refuses to run as root)."""
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120
    )


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Path]:
    """A running PostgreSQL cluster for the whole session (initdb takes seconds), on a Unix
    socket in the folder it yields (no TCP port, so parallel sessions never collide); each
    test makes its own database in it."""
    if POSTGRES_BIN is None:
        pytest.fail("PostgreSQL is not installed: run `make test`, which installs it")
    folder = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    initdb = [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    as_postgres(*initdb, "-E", "UTF8")
    options = f"-k {folder} -h '' -c fsync=off -c full_page_writes=off"
    log = folder / "server.log"  # The server must not hold our pipes open.
    pg_ctl = str(POSTGRES_BIN / "pg_ctl")
    as_postgres(pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    try:
        yield folder
    finally:
        as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: Path) -> str:
    """The name of a database in the session's cluster that the migrations made: `createdb -T`
    copies it in a sixth of a second, a third of what a new database and its migrations take."""
    from newsletter.db import create_db_engine
    from newsletter.db_schema import upgrade

    assert POSTGRES_BIN is not None
    as_postgres(str(POSTGRES_BIN / "createdb"), "-h", str(postgres_cluster), "migrated")
    engine = create_db_engine(f"postgresql+psycopg://postgres@/migrated?host={postgres_cluster}")
    upgrade(engine)
    engine.dispose()  # A template must have no connection while it is copied.
    return "migrated"


@pytest.fixture
def config() -> Config:
    return Config(locales=LOCALES, default_locale="en", timezone="Europe/Berlin")


@pytest.fixture
def loader(config: Config) -> IssueLoader:
    return IssueLoader(config)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An empty project: config/newsletter.toml and an issues/ folder."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'name = "Test Weekly"\n'
        'base_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\n'
        'locales = ["en", "zh", "ja", "de", "fr", "es", "pt_BR", "ar"]\n'
        'timezone = "Europe/Berlin"\n'
        'issues_dir = "issues"\n',
        encoding="utf-8",
    )
    (tmp_path / "issues").mkdir()
    return tmp_path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/ from the current rendering (review the diff before committing).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@dataclass
class Received:
    """One message a test SMTP server accepted."""

    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Recorder:
    """An aiosmtpd handler that keeps every message (and can refuse recipients by address).

    `replies` answers every RCPT of an address; `next_replies` answers its next RCPTs, one
    reply each, then the address is accepted (a server that defers, then takes the message).
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.replies: dict[str, str] = {}
        self.next_replies: dict[str, list[str]] = {}
        self.broken_data: set[str] = set()  # Recipients whose message makes the handler fail.

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        upcoming = self.next_replies.get(address)
        reply = upcoming.pop(0) if upcoming else self.replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.broken_data & set(envelope.rcpt_tos):
            raise OSError("disk full")  # aiosmtpd answers 500 and keeps the transaction open.
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 OK: queued"


@dataclass
class SmtpServer:
    host: str
    port: int
    recorder: Recorder

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


@contextmanager
def serving(recorder: Recorder) -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) on a free port, handled by `recorder`."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, recorder)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it receives."""
    with serving(Recorder()) as server:
        yield server


@contextmanager
def web_server(app: Any, port: int) -> Iterator[str]:
    """`app` on a real uvicorn server on 127.0.0.1:`port`, in a thread; its origin."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
