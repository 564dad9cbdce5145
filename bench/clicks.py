"""Benchmark the click redirect (`/l/ID-SIG`) against a static file of the same app.

    .venv/bin/python bench/clicks.py [--clients 16] [--seconds 5] [--rounds 3] [--links 200]

Makes a project with a sent mailing whose edition has `--links` tracked links (rows written
directly) and starts `newsletter serve` (uvicorn, one process) on a loopback port. Then, in the
same run, `--clients` concurrent keep-alive HTTP/1.1 connections (asyncio, in this process)
request for `--seconds` each, in alternating rounds:

- the reference: `/robots.txt`, a static file of the archive the same app serves;
- ours: `/l/ID-SIG` of the mailing's links in turn (302 to the link's URL, the click recorded);
- a second reference, the floor of any redirect served so: uvicorn run as `serve` runs it
  (h11, asyncio, the access log) with a bare Starlette app whose one route answers every /l/
  with the same 302 and does nothing else.

It prints requests per second and latencies (median, p99) of each and the ratios. After the
rounds the server is stopped with SIGINT (as Ctrl+C or a service manager would), which writes
the clicks still in memory, and the link_click rows are counted against the 302 answers: the
counters must lose nothing. Goal (issue 15): the redirect at least half the static file's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from newsletter.config import load_project  # noqa: E402
from newsletter.db import create_db_engine, database_url  # noqa: E402
from newsletter.db_schema import upgrade  # noqa: E402
from newsletter.deliver.models import MAILING  # noqa: E402
from newsletter.deliver.tracking_ids import LinkSigner  # noqa: E402
from newsletter.engagement.models import LINK_CLICK, TRACKED_LINK  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
ENV = {
    "NEWSLETTER_SECRET_KEY": SECRET,
    "NEWSLETTER_CLICK_LIMIT": "0",  # Every request comes from 127.0.0.1: no flood limit.
    "NEWSLETTER_BASE_URL": "https://news.example.org",
}


def make_project(root: Path, links: int) -> tuple[Path, list[str]]:
    """The project with a sent mailing of `links` tracked links; their paths."""
    (root / "config").mkdir(parents=True)
    config = root / "config" / "newsletter.toml"
    config.write_text(
        'name = "AI Weekly"\nsender_address = "weekly@news.example.org"\n'
        'database_url = "sqlite:///news.db"\n',
        encoding="utf-8",
    )
    project = load_project(config, dict(ENV))
    engine = create_db_engine(database_url(project))
    upgrade(engine)
    signer = LinkSigner(SECRET)
    with engine.begin() as connection:
        mailing = connection.execute(
            insert(MAILING).values(
                issue="bench", uid="0f1e2d3c4b5a6978", commit="", dirty=False, tag=""
            )
        ).inserted_primary_key[0]
        rows = [
            {
                "mailing_id": mailing,
                "locale": "en",
                "position": n,
                "url": f"https://example.com/story/{n}?utm=x&lang=en",
                "story": f"story-{n % 10}",
                "story_title": f"Story {n % 10}",
                "label": f"Link {n}",
            }
            for n in range(links + 1)
        ]
        connection.execute(insert(TRACKED_LINK), rows)
        ids = connection.execute(select(TRACKED_LINK.c.id).order_by(TRACKED_LINK.c.id)).scalars()
        paths = [f"/l/{signer.link(link_id)}" for link_id in ids][1:]  # Not the honeypot.
    engine.dispose()
    return config, paths


# The floor: uvicorn as `newsletter serve` runs it, serving a constant 302 and nothing else.
BARE_REDIRECT = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def redirect(request):
    return Response(status_code=302, headers={"Location": "https://example.com/story/1"})
app = Starlette(routes=[Route("/l/{link}", redirect)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(config: Path, port: int, bare: bool = False) -> subprocess.Popen[bytes]:
    """`newsletter serve` (with `bare`: the bare redirect) on 127.0.0.1:`port`, once it answers."""
    command = [sys.executable, "-m", "newsletter", "--config", str(config), "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    if bare:
        command = [sys.executable, "-c", BARE_REDIRECT, str(port)]
    environ = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        command,
        cwd=config.parent.parent,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            if server.poll() is not None:
                problem = server.stderr.read().decode() if server.stderr else ""
                raise SystemExit(f"newsletter serve stopped: {problem}") from None
            time.sleep(0.1)
    server.kill()
    raise SystemExit("newsletter serve did not answer within 60 s")


async def client(
    port: int, paths: list[str], offset: int, until: float, latencies: list[float]
) -> dict[int, int]:
    """One keep-alive connection requesting `paths` in turn until `until`; answers by status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses: dict[int, int] = {}
    number = offset
    user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    try:
        while time.perf_counter() < until:
            path = paths[number % len(paths)]
            number += 1
            request = (
                f"GET {path} HTTP/1.1\r\nHost: news.example.org\r\nUser-Agent: {user_agent}\r\n\r\n"
            )
            started = time.perf_counter()
            writer.write(request.encode("ascii"))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()
    return statuses


async def round_of(port: int, paths: list[str], clients: int, seconds: float) -> dict[str, float]:
    """`clients` connections for `seconds`: requests per second, latencies, answers."""
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    started = time.perf_counter()
    results = await asyncio.gather(
        *(client(port, paths, n * 7, until, latencies) for n in range(clients))
    )
    elapsed = time.perf_counter() - started
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result.items():
            statuses[status] = statuses.get(status, 0) + count
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "median": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "requests": len(latencies),
        **{f"status {status}": count for status, count in statuses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--links", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config, paths = make_project(Path(folder) / "project", args.links)
        port, bare_port = free_port(), free_port()
        server = start_server(config, port)
        bare = start_server(config, bare_port, bare=True)
        figures: dict[str, list[dict[str, float]]] = {"static": [], "redirect": [], "bare": []}
        warm_up: list[dict[str, float]] = []
        try:
            warm_up.append(asyncio.run(round_of(port, ["/robots.txt", *paths], args.clients, 1.0)))
            asyncio.run(round_of(bare_port, paths, args.clients, 1.0))
            for _ in range(args.rounds):
                for name, wanted, at in (
                    ("static", ["/robots.txt"], port),
                    ("redirect", paths, port),
                    ("bare", paths, bare_port),
                ):
                    figures[name].append(
                        asyncio.run(round_of(at, wanted, args.clients, args.seconds))
                    )
        finally:
            bare.kill()
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                raise SystemExit("newsletter serve did not stop within 60 s of SIGINT") from None
        for name, rounds in figures.items():
            wanted_status = "status 200" if name == "static" else "status 302"
            if name == "bare":
                continue
            for figure in rounds:
                if figure.get(wanted_status, 0) != figure["requests"]:
                    raise SystemExit(f"{name}: unexpected answers {figure}")
        every = [*warm_up, *figures["redirect"]]
        redirects = sum(int(figure.get("status 302", 0)) for figure in every)
        engine = create_db_engine(f"sqlite:///{config.parent.parent / 'news.db'}")
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(LINK_CLICK)).scalar_one()
        report(figures, args, redirects, stored)


def report(
    figures: dict[str, list[dict[str, float]]],
    args: argparse.Namespace,
    redirects: int,
    stored: int,
) -> None:
    print(
        f"{args.clients} clients, {args.rounds} rounds of {args.seconds:g} s each, "
        f"{args.links} links; server: newsletter serve (uvicorn, 1 process)"
    )
    print(f"{'':10} {'req/s':>8} {'median ms':>10} {'p99 ms':>8}")
    best = {}
    for name, rounds in figures.items():
        for figure in rounds:
            print(f"{name:10} {figure['rate']:8.0f} {figure['median']:10.2f} {figure['p99']:8.2f}")
        best[name] = statistics.median(figure["rate"] for figure in rounds)
    print(f"redirect / static file (median of rounds): {best['redirect'] / best['static']:.2f}")
    print(f"redirect / bare uvicorn 302 (median of rounds): {best['redirect'] / best['bare']:.2f}")
    print(
        f"clicks answered with 302 (warm-up included): {redirects}; rows stored: {stored}"
        + ("" if stored >= redirects else f"  LOST {redirects - stored}")
    )


if __name__ == "__main__":
    main()
