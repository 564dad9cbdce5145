"""Benchmark a send against Postfix's smtp-source, both into Postfix's smtp-sink, same run.

    .venv/bin/python bench/send.py [--messages 20000] [--connections 4] [--dkim [ed25519]]
                                   [--service]
    .venv/bin/python bench/send.py --database postgresql   # SQLite against PostgreSQL

Starts `smtp-sink` (Debian package postfix; installed with apt-get when missing and running as
root) on a loopback port, then:

- ours: `newsletter send` of a generated issue (each message about 20 KB) to `--messages`
  subscribers, personalized (unsubscribe and preferences tokens, To, Message-ID), with
  `transport_url = smtp://127.0.0.1:PORT?connections=N`; timed from the command's start to its
  end (render, audience snapshot, delivery, status), and its delivery phase alone;
- the reference: `smtp-source -d -s N -m COUNT -F MESSAGE` sending one of our messages (same
  size) the same number of times with the same number of connections to the same sink.

- with --service, also `newsletter run` (the long-running service): a second issue of the same
  size is scheduled a few seconds ahead, the service fires it and its workers deliver it; timed
  from the firing's queueing of the audience to the last message sent.

- with --dkim (an RSA-2048 key) or --dkim ed25519, also the same send DKIM-signed: a second
  project, same issue, same number of subscribers, same connections, same sink, right after
  the unsigned send; then another unsigned send and another signed one (--rounds 2): the
  best of each counts. And the time to sign one message with dkimpy's `dkim.sign` and ours.

Prints the rates and the ratios ours/reference; with --dkim, the last line is the ratio of the
signed send's delivery rate to the unsigned send's, `ratio signed/unsigned: 0.NN`. With
--database postgresql, the same send by two `newsletter run` processes on SQLite and on
PostgreSQL instead (bench/send_databases.py), ending with `ratio PostgreSQL/SQLite: 0.NN`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from newsletter.db import create_db_engine  # noqa: E402
from newsletter.db_schema import upgrade  # noqa: E402
from newsletter.deliver.models import Delivery, Mailing  # noqa: E402
from newsletter.subscribers.csv_import import import_csv  # noqa: E402

SINK, SOURCE = Path("/usr/sbin/smtp-sink"), Path("/usr/sbin/smtp-source")
SECRET = "bench-secret-key-0123456789abcdef"
PARAGRAPH = (
    "Researchers released a model that writes, reasons and plans across long documents, "
    "and the week brought new chips, new funding rounds and a debate about open weights. "
)


def ensure_postfix() -> None:
    """smtp-sink and smtp-source, from Debian's postfix package (installed if missing)."""
    if SINK.exists() and SOURCE.exists():
        return
    if os.geteuid() != 0:
        sys.exit(
            "install Postfix first: apt-get install postfix (it ships smtp-sink and smtp-source)"
        )
    print("installing postfix (apt-get) for smtp-sink and smtp-source")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for line in ("postfix postfix/main_mailer_type select Local only",
                 "postfix postfix/mailname string newsletter.test"):  # fmt: skip
        subprocess.run(["debconf-set-selections"], input=line.encode(), check=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postfix"],
        check=True,
        env=environment,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_project(
    folder: Path, port: int, connections: int, messages: int, dkim: bool, database: str = ""
) -> Path:
    """A project with one issue of about 20 KB per message and `messages` subscribers, in
    `database` (a URL; by default bench.db, an SQLite file in `folder`)."""
    database = database or f"sqlite:///{folder / 'bench.db'}"
    (folder / "config").mkdir()
    settings = (
        'name = "Bench Weekly"\nbase_url = "https://news.example.org"\n'
        'sender_address = "weekly@news.example.org"\npostal_address = "1 Main St, Berlin"\n'
        f'locales = ["en"]\ndatabase_url = "{database}"\ncss_inliner = "css-inline"\n'
        f'transport_url = "smtp://127.0.0.1:{port}?connections={connections}"\n'
    )
    if dkim:
        settings += 'dkim_selector = "bench"\n'
    (folder / "config" / "newsletter.toml").write_text(settings, encoding="utf-8")
    issue = folder / "issues" / "2026-11-23-bench-weekly"
    (issue / "stories").mkdir(parents=True)
    (issue / "issue.md").write_text(
        '---\ntitle: "Bench Weekly: the week in AI"\ndate: 2026-11-23\nstatus: ready\n'
        "description: Models, chips and money, in three stories.\n---\n\n" + PARAGRAPH + "\n",
        encoding="utf-8",
    )
    for n in range(1, 4):
        (issue / "stories" / f"{n:02d}-story-{n}.md").write_text(
            f"---\ntitle: Story number {n}\nurl: https://example.org/{n}\n---\n\n"
            + "\n\n".join([PARAGRAPH * 2] * 2)
            + "\n",
            encoding="utf-8",
        )
    shutil.copytree(issue, folder / "issues" / "2026-11-30-bench-weekly")  # For --service.
    engine = create_db_engine(database)
    upgrade(engine)
    readers = folder / "readers.csv"
    readers.write_text(
        "email,name\n"
        + "".join(f"reader{n}@example.net,Reader Number {n}\n" for n in range(messages)),
        encoding="utf-8",
    )
    import_csv(engine, readers, locales=["en"], default_locale="en", default_timezone="UTC")
    engine.dispose()
    return folder / "config" / "newsletter.toml"


def dkim_key(folder: Path, kind: str) -> str:
    """The path of a new private key: RSA-2048 or Ed25519."""
    key = folder / "dkim.pem"
    command = (
        ["openssl", "genrsa", "-out", str(key), "2048"]
        if kind == "rsa"
        else ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)]
    )
    subprocess.run(command, check=True, capture_output=True)
    return str(key)


def signed_send(
    folder: Path, port: int, args: argparse.Namespace, environment: dict[str, str], name: str
) -> tuple[float, float]:
    """Seconds of the same send DKIM-signed (a project of its own, in `name`): whole, and
    delivery."""
    signed = folder / name
    signed.mkdir()
    config = make_project(signed, port, args.connections, args.messages, dkim=True)
    key = dkim_key(signed, args.dkim)
    print(f"signed send (DKIM, {'RSA-2048' if args.dkim == 'rsa' else 'Ed25519'}):")
    environment = {**environment, "NEWSLETTER_DKIM_PRIVATE_KEY": key}
    whole, delivery, sent = ours(config, signed, environment)
    assert sent == args.messages, f"only {sent} of {args.messages} signed messages sent"
    return whole, delivery


def signed_rounds(
    folder: Path,
    port: int,
    args: argparse.Namespace,
    environment: dict[str, str],
    unsigned: tuple[float, float],
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The best (whole, delivery) seconds of the unsigned and of the signed send over
    --rounds rounds, each an unsigned send then a signed one (the first unsigned is given):
    on a shared machine one run in a few is a third slower, on either side."""
    unsigned_runs, signed_runs = [unsigned], []
    for round_ in range(args.rounds):
        if round_:
            again = folder / f"unsigned-{round_}"
            again.mkdir()
            config = make_project(again, port, args.connections, args.messages, dkim=False)
            whole, delivery, _ = ours(config, again, environment)
            unsigned_runs.append((whole, delivery))
        signed_runs.append(signed_send(folder, port, args, environment, f"signed-{round_}"))
    return best_of(unsigned_runs), best_of(signed_runs)


def best_of(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The shortest whole send and the shortest delivery among `runs`."""
    return min(whole for whole, _ in runs), min(delivery for _, delivery in runs)


def signing_times(message: bytes, kind: str, key: Path) -> None:
    """Prints the microseconds to sign one message, dkimpy's `dkim.sign` against ours."""
    import timeit

    import dkim

    from newsletter.deliver.signing import SIGNED_HEADERS, Signer

    pem = key.read_bytes()
    ours = Signer("news.example.org", "bench", pem)
    candidates = {"ours": lambda: ours.sign(message)}
    if kind == "rsa":  # dkimpy signs Ed25519 only with PyNaCl and a raw key, not a PEM one.
        candidates["dkimpy"] = lambda: dkim.sign(
            message, b"bench", b"news.example.org", pem, include_headers=list(SIGNED_HEADERS)
        )
    spent = {
        name: min(timeit.repeat(sign, number=20, repeat=5)) / 20 * 1e6
        for name, sign in candidates.items()
    }
    print(f"signing one message of {len(message) / 1024:.1f} KB (best of 5 x 20): "
          + ", ".join(f"{name} {us:,.0f} us" for name, us in spent.items()))  # fmt: skip


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ours(config: Path, folder: Path, environment: dict[str, str]) -> tuple[float, float, int]:
    """Seconds of the whole `newsletter send`, of its delivery phase, and the messages sent."""
    cpu = cpu_of_children()
    started = datetime.now(UTC)
    start = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "newsletter"), "--config", str(config), "send",
         "2026-11-23-bench-weekly"],
        check=True, env=environment, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    whole = time.perf_counter() - start
    print(f"ours: {cpu_of_children() - cpu:.2f} s of CPU in {whole:.2f} s")
    queued, first, last, sent = delivered(folder, "2026-11-23-bench-weekly")
    phases = {
        "start and render": queued - started,
        "audience and workers": first - queued,
        "sending": last - first,
        "status and exit": started + timedelta(seconds=whole) - last,
    }
    print(
        "ours: "
        + ", ".join(f"{name} {span.total_seconds():.2f} s" for name, span in phases.items())
    )
    return whole, (last - queued).total_seconds(), sent


def delivered(
    folder: Path, issue: str, database: str = ""
) -> tuple[datetime, datetime, datetime, int]:
    """When the issue's audience was queued, its first and last message sent, and how many."""
    engine = create_db_engine(database or f"sqlite:///{folder / 'bench.db'}")
    with engine.connect() as connection:
        row = connection.execute(
            select(
                func.min(Delivery.queued_at),
                func.min(Delivery.sent_at),
                func.max(Delivery.sent_at),
                func.count(),
            )
            .join(Mailing, Mailing.id == Delivery.mailing_id)  # type: ignore[arg-type]
            .where(Delivery.state == "sent", Mailing.issue == issue)  # type: ignore[arg-type]
        ).one()
    engine.dispose()
    return row[0], row[1], row[2], row[3]


def service(config: Path, folder: Path, environment: dict[str, str], messages: int) -> float:
    """Seconds from the firing's queueing to the last message, under `newsletter run`."""
    command = [str(ROOT / ".venv" / "bin" / "newsletter"), "--config", str(config)]
    issue = "2026-11-30-bench-weekly"
    at = f"{datetime.now(UTC) + timedelta(seconds=4):%Y-%m-%d %H:%M:%S}"
    subprocess.run(
        [*command, "schedule", "add", issue, "--at", at, "--tz", "UTC"],
        check=True, env=environment, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    running = subprocess.Popen(
        [*command, "run", "--no-web", "--log-level", "warning"], env=environment
    )
    try:
        deadline = time.monotonic() + 600
        while delivered(folder, issue)[3] < messages:
            assert time.monotonic() < deadline, "the service did not finish the send"
            time.sleep(0.5)
    finally:
        running.send_signal(signal.SIGTERM)
        running.wait()
    queued, first, last, _ = delivered(folder, issue)
    print(f"service: audience and workers {(first - queued).total_seconds():.2f} s, "
          f"sending {(last - first).total_seconds():.2f} s")  # fmt: skip
    return (last - queued).total_seconds()


def sample_message(config: Path, folder: Path, port: int, environment: dict[str, str]) -> Path:
    """One of our messages, as a file for smtp-source (a test send to a file transport)."""
    out = folder / "sample"
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "newsletter"), "--config", str(config), "send",
         "2026-11-23-bench-weekly", "--test", "reader0@example.net"],
        check=True, stdout=subprocess.DEVNULL,
        env={**environment, "NEWSLETTER_TRANSPORT_URL": f"eml:{out}"},
    )  # fmt: skip
    return next(out.glob("*.eml"))


def reference(port: int, connections: int, messages: int, message: Path) -> float:
    """Seconds of smtp-source sending `message` `messages` times over `connections` connections."""
    cpu = cpu_of_children()
    start = time.perf_counter()
    subprocess.run(
        [str(SOURCE), "-d", "-s", str(connections), "-m", str(messages), "-F", str(message),
         "-f", "weekly@news.example.org", "-t", "reader@example.net", f"127.0.0.1:{port}"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    print(f"smtp-source: {cpu_of_children() - cpu:.2f} s of CPU in {seconds:.2f} s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--dkim", nargs="?", const="rsa", choices=["rsa", "ed25519"],
        help="also send signed with DKIM (an RSA-2048 key, or ed25519), same run",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=2, choices=range(1, 11), metavar="1-10",
        help="with --dkim: unsigned then signed, this many times; the best of each counts",
    )  # fmt: skip
    parser.add_argument("--service", action="store_true", help="also time `newsletter run`")
    parser.add_argument(
        "--database",
        choices=("postgresql",),
        help="the same send by two `run` processes on SQLite and on PostgreSQL, compared",
    )
    args = parser.parse_args()
    ensure_postfix()
    port = free_port()
    sink = subprocess.Popen([str(SINK), "-u", "nobody", f"127.0.0.1:{port}", "1024"])
    try:
        time.sleep(0.3)
        if args.database:
            from send_databases import compare

            return compare(port, args.connections, args.messages)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            shutil.chown(folder, "nobody") if os.geteuid() == 0 else None
            config = make_project(folder, port, args.connections, args.messages, dkim=False)
            environment = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}
            message = sample_message(config, folder, port, environment)
            size = message.stat().st_size
            print(f"{args.messages:,} messages of {size / 1024:.1f} KB, {args.connections} connections"
                  + (", unsigned, then DKIM-signed" if args.dkim else ""))  # fmt: skip
            whole, delivery, sent = ours(config, folder, environment)
            assert sent == args.messages, f"only {sent} of {args.messages} sent"
            signed = None
            if args.dkim:
                (whole, delivery), signed = signed_rounds(
                    folder, port, args, environment, (whole, delivery)
                )
            served = service(config, folder, environment, args.messages) if args.service else 0
            baseline = reference(port, args.connections, args.messages, message)
            print(f"ours (whole send):    {whole:6.2f} s  {args.messages / whole:8,.0f} msg/s")
            print(
                f"ours (delivery):      {delivery:6.2f} s  {args.messages / delivery:8,.0f} msg/s"
            )
            print(
                f"smtp-source:          {baseline:6.2f} s  {args.messages / baseline:8,.0f} msg/s"
            )
            if served:
                print(
                    f"ours (service):       {served:6.2f} s  {args.messages / served:8,.0f} msg/s"
                )
            print(f"ratio ours/smtp-source: {baseline / whole:.2f} (whole send), "
                  f"{baseline / delivery:.2f} (delivery)"
                  + (f", {baseline / served:.2f} (service delivery)" if served else ""))  # fmt: skip
            if signed:
                signing_times(message.read_bytes(), args.dkim, folder / "signed-0" / "dkim.pem")
                for label, seconds in zip(("(whole send):", "(delivery):"), signed, strict=True):
                    print(
                        f"signed {label:14} {seconds:6.2f} s  {args.messages / seconds:8,.0f} msg/s"
                    )
                print(f"ratio signed/unsigned (whole send): {whole / signed[0]:.2f}")
                print(f"ratio signed/unsigned: {delivery / signed[1]:.2f}")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
