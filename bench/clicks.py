"""Benchmark the tracking links: what a click costs the web app, and `newsletter serve`'s rate.

    .venv/bin/python bench/clicks.py [--requests 20000] [--connections 32] [--calls 20000]

Makes a project with one mailing and 100 tracked links (rows written directly: a send is not
what is measured), then, in the same run:

- in process: the app (middleware, routing, the handler, the recorder) called as ASGI, no socket,
  `--calls` times each for a link already looked up, an id whose signature is wrong (404: the
  error page) and a client over `click_limit` (429): microseconds of CPU per request, the
  median of five runs (CPU time: the machine may be shared);
- the writer: `--calls` clicks written by the recorder in its batches: clicks per second;
- over HTTP: `newsletter serve` on 127.0.0.1, `--connections` keep-alive connections (asyncio,
  HTTP/1.1) sending GETs of the 100 links in turn until `--requests` are answered: requests per
  second; then SIGTERM, and the rows counted: every 302 must be written once, or the script
  exits 1. The reference, measured first the same way: uvicorn run as `serve` runs it, serving
  an app whose one route answers a constant 302 (the floor of any redirect served so).

The load generator shares the machine with the server: on few cores the rate is a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from newsletter.config import load_project  # noqa: E402
from newsletter.db import create_db_engine, database_url, upgrade  # noqa: E402
from newsletter.deliver.models import MAILING  # noqa: E402
from newsletter.deliver.tracking_ids import LinkSigner  # noqa: E402
from newsletter.engagement.clicks import ClickRecorder  # noqa: E402
from newsletter.engagement.models import TRACKED_LINK  # noqa: E402
from newsletter.engagement.store import Click  # noqa: E402
from newsletter.web.app import create_app  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
LINKS = 100
BROWSER = b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def make_project(folder: Path) -> Path:
    """A project whose database holds one mailing with LINKS tracked links, `click_limit` 0
    (one client, the benchmark, makes every request); its config file."""
    (folder / "config").mkdir(parents=True)
    config = folder / "config" / "newsletter.toml"
    config.write_text(
        'name = "Bench Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\npostal_address = "1 Main St"\n'
        'locales = ["en"]\ndatabase_url = "sqlite:///news.db"\ntransport_url = "null:"\n'
        "click_limit = 0\n",
        encoding="utf-8",
    )
    engine = create_db_engine(database_url(load_project(config, environ={})))
    upgrade(engine)
    with engine.begin() as connection:
        mailing = connection.execute(
            insert(MAILING).values(issue="bench", uid=secrets.token_hex(8), commit="",
                                   dirty=False, tag="", created_at=NOW).returning(MAILING.c.id)
        ).scalar_one()  # fmt: skip
        connection.execute(
            insert(TRACKED_LINK),
            [
                {"mailing_id": mailing, "locale": "en", "position": number,
                 "url": f"https://example.org/story/{number}?from=bench", "story": "",
                 "story_title": "", "label": ""}
                for number in range(LINKS)
            ],
        )  # fmt: skip
    engine.dispose()
    return config


def in_process(config: Path, calls: int) -> dict[str, float]:
    """Microseconds per request of the app called as ASGI: a link, a bad id (with no limit),
    and a client over the limit (of 120, set for this app alone)."""
    return {
        **_calls(config, calls, [("link (302)", 302), ("bad id (404)", 404)]),
        **_calls(config, calls, [("over the limit (429)", 429)], click_limit=120),
    }


def _calls(
    config: Path, calls: int, cases: list[tuple[str, int]], click_limit: int = 0
) -> dict[str, float]:
    project = load_project(
        config,
        environ={"NEWSLETTER_SECRET_KEY": SECRET, "NEWSLETTER_CLICK_LIMIT": str(click_limit)},
    )
    assert project.config.click_limit == click_limit
    app = create_app(project)
    link = LinkSigner(SECRET).link(1)
    paths = {302: f"/l/{link}", 404: f"/l/1-{'a' * 16}", 429: f"/l/{link}"}
    results = {}

    async def run() -> None:
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        async def call(path: str, client: str) -> int:
            messages.clear()
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "client": (client, 50000),
                "server": ("127.0.0.1", 8080), "app": app,
                "headers": [(b"host", b"news.example.org"), (b"user-agent", BROWSER)],
            }  # fmt: skip
            await app(scope, receive, send)
            return int(messages[0]["status"])

        async with app.router.lifespan_context(app):
            for name, status in cases:
                path, client = paths[status], "192.0.2.1"
                while status == 429 and await call(path, client) != 429:
                    pass
                assert await call(path, client) == status, name
                times = []
                for _ in range(5):
                    start = time.process_time()
                    for _ in range(calls // 5):
                        await call(path, client)
                    times.append((time.process_time() - start) / (calls // 5) * 1e6)
                results[name] = statistics.median(times)

    asyncio.run(run())
    return results


def writer(config: Path, calls: int) -> float:
    """Clicks per second the recorder writes, in its batches."""
    project = load_project(config, environ={})
    engine = create_db_engine(database_url(project))
    recorder = ClickRecorder(engine)
    recorder.start()
    start = time.perf_counter()
    for number in range(calls):
        recorder.record(Click(NOW, "browser", f"{number:016x}", link_id=1 + number % LINKS))
    recorder.close()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return calls / elapsed


async def _connection(port: int, paths: list[bytes], count: list[int], total: int) -> int:
    """One keep-alive connection sending GETs until `total` are answered; its 302s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    redirects = 0
    try:
        while count[0] < total:
            count[0] += 1
            path = paths[count[0] % len(paths)]
            writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: news.example.org\r\n"
                         b"User-Agent: " + BROWSER + b"\r\n\r\n")  # fmt: skip
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            redirects += head.startswith(b"HTTP/1.1 302")
    finally:
        writer.close()
    return redirects


async def _load(port: int, connections: int, total: int) -> tuple[int, float]:
    signer = LinkSigner(SECRET)
    paths = [f"/l/{signer.link(number + 1)}".encode() for number in range(LINKS)]
    count = [0]
    start = time.perf_counter()
    answered = await asyncio.gather(
        *(_connection(port, paths, count, total) for _ in range(connections))
    )
    return sum(answered), time.perf_counter() - start


# The reference: uvicorn as `newsletter serve` runs it (h11, asyncio, the access log at info)
# serving a Starlette app whose one route answers every /l/ with the same 302 and does nothing.
REFERENCE = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def redirect(request):
    return Response(status_code=302, headers={"Location": "https://example.org/story/1"})
app = Starlette(routes=[Route("/l/{link}", redirect)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def over_http(
    command: list[str], folder: Path, requests: int, connections: int
) -> tuple[float, int]:
    """Requests per second of the server `command` starts (its port appended), and how many
    answers were 302s; the server is stopped with SIGTERM and waited for."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, str(port)], env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET},
            cwd=folder, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(log_path.read_text())
                time.sleep(0.1)
        redirects, elapsed = asyncio.run(_load(port, connections, requests))
        server.send_signal(signal.SIGTERM)
        server.wait(120)
    finally:
        if server.poll() is None:
            server.kill()
    return requests / elapsed, redirects


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--calls", type=int, default=20_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-clicks-") as temporary:
        folder = Path(temporary)
        config = make_project(folder / "in-process")
        for name, micros in in_process(config, options.calls).items():
            print(f"in process, {name}: {micros:.0f} µs of CPU per request")
        print(f"the writer: {writer(config, options.calls):,.0f} clicks per second")
        reference, _ = over_http(
            [sys.executable, "-c", REFERENCE], folder, options.requests, options.connections
        )
        config = make_project(folder / "serve")
        serve = [sys.executable, "-m", "newsletter", "--config", str(config), "serve", "--port"]
        rate, redirects = over_http(
            serve, config.parent.parent, options.requests, options.connections
        )
        with closing(sqlite3.connect(config.parent.parent / "news.db")) as db:
            (written,) = db.execute("SELECT count(*) FROM link_click").fetchone()
        print(
            f"over HTTP, {options.connections} connections: newsletter serve {rate:,.0f} "
            f"requests per second, the reference {reference:,.0f} ({rate / reference:.2f}); "
            f"{redirects:,} redirects answered, {written:,} clicks written"
        )
        if redirects != options.requests or written != redirects:
            sys.exit("every request should have been answered with a 302 and written once")


if __name__ == "__main__":
    main()
