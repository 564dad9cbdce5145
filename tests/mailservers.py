"""Real mail servers for the tests: a throwaway Dovecot (IMAP) and a throwaway Postfix relay.

Both follow the measured recipes of RECIPES-bounces.md: their own config, spool, ports and
logs in a temporary folder, nothing under /etc used, stopped and removed on exit. The folder is
made with mode 0755 outside pytest's tmp_path, because the servers' unprivileged processes
(Dovecot's imap as nobody, Postfix's virtual(8) and smtpd) must traverse it and tmp_path lies
below a 0700 folder. `make mailservers` installs both packages.

    running_dovecot()                      -> Dovecot (plain and STARTTLS port, imaps port)
    postfix_relay(sink_port, ...)          -> PostfixRelay (SMTP port, the Maildir of DSNs)
    smtp_sink()                            -> Postfix's smtp-sink: its URL, the folder of messages
    dovecot (pytest fixture, module scope)    a running Dovecot for a test module
"""

from __future__ import annotations

import contextlib
import datetime
import imaplib
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NOBODY = 65534  # Dovecot's users and Postfix's virtual(8) must not be root; nobody will do.
IMAP_USER = "alice"
IMAP_PASSWORD = "s3cret pass"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server_folder(prefix: str) -> Iterator[Path]:
    """A fresh folder the servers' unprivileged processes can traverse, removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1 (its IP in subjectAltName), valid two days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Dovecot:
    """A running Dovecot: one user with a Maildir, reachable plain, by STARTTLS and by TLS."""

    folder: Path
    port: int
    """Plain IMAP with STARTTLS offered (plain LOGIN is allowed: it is loopback)."""
    tls_port: int
    """IMAP over TLS from the first byte (imaps)."""
    cafile: Path
    user: str = IMAP_USER
    password: str = IMAP_PASSWORD

    def url(self, mailbox: str = "INBOX", query: str = "", scheme: str = "imap") -> str:
        """The imap:// (or imaps://) URL of `mailbox` for the user, with `query` appended."""
        port = self.tls_port if scheme == "imaps" else self.port
        return f"{scheme}://{self.user}@127.0.0.1:{port}/{mailbox}" + (f"?{query}" if query else "")

    @contextlib.contextmanager
    def client(self, mailbox: str = "INBOX") -> Iterator[imaplib.IMAP4]:
        """A logged-in plain IMAP connection with `mailbox` selected (what a mail client sees)."""
        connection = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        try:
            connection.login(self.user, self.password)
            connection.create(mailbox)  # NO when it exists: fine.
            assert connection.select(mailbox)[0] == "OK"
            yield connection
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                connection.logout()

    def append(self, raw: bytes, mailbox: str = "INBOX") -> None:
        """Deliver `raw` into `mailbox` (IMAP APPEND: each message gets the next UID)."""
        with self.client(mailbox) as connection:
            status, said = connection.append(mailbox, "", None, raw)
            assert status == "OK", said

    def empty(self, *mailboxes: str) -> None:
        """Remove every message of `mailboxes` (a clean start for the next test)."""
        for mailbox in mailboxes:
            with self.client(mailbox) as connection:
                if connection.select(mailbox)[1] == [b"0"]:
                    continue
                connection.store("1:*", "+FLAGS", r"(\Deleted)")
                connection.expunge()


def _dovecot_config(folder: Path, port: int, tls_port: int, cert: Path, key: Path) -> str:
    return f"""\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_failure_delay = 0
mail_location = maildir:{folder}/mail/%u
passdb {{
  driver = passwd-file
  args = {folder}/users
}}
userdb {{
  driver = passwd-file
  args = {folder}/users
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
  }}
}}
"""


@contextlib.contextmanager
def running_dovecot(imap_capability: str = "") -> Iterator[Dovecot]:
    """A Dovecot of its own on two free loopback ports; stopped (and waited for) on exit.

    `imap_capability` replaces what it announces once logged in (e.g. without MOVE, as
    older servers do); "" keeps Dovecot's own list.
    """
    if not shutil.which("dovecot"):
        pytest.fail("Dovecot is not installed: run `make mailservers` (or `make test`)")
    with server_folder("dovecot.") as folder:
        cert, key = self_signed_certificate(folder)
        home = folder / "mail" / IMAP_USER
        for sub in ("cur", "new", "tmp"):
            (home / sub).mkdir(parents=True)
        os.chown(folder / "mail", NOBODY, NOBODY)
        for path in [home, *home.iterdir()]:
            os.chown(path, NOBODY, NOBODY)
        (folder / "users").write_text(
            f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}:{NOBODY}:{NOBODY}::{home}::\n"
        )
        for _attempt in range(5):  # A port taken between the probe and the start: try others.
            port, tls_port = free_port(), free_port()
            config = folder / "dovecot.conf"
            text = _dovecot_config(folder, port, tls_port, cert, key)
            if imap_capability:
                text += f"imap_capability = {imap_capability}\n"
            config.write_text(text)
            if _daemon(["dovecot", "-c", str(config)], folder / "start.log") == 0:
                break
        else:
            pytest.fail(f"dovecot did not start: {(folder / 'start.log').read_text()}")
        pid = _wait_for_pid(folder / "run" / "master.pid")
        try:
            yield Dovecot(folder, port, tls_port, cert)
        finally:
            # The master and every process it started share its process group; a throwaway
            # server has nothing to save, and a clean stop (SIGTERM) takes Dovecot 2-3 s.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _stop(pid)


def _daemon(command: list[str], log: Path) -> int:
    """Run a command that starts (or stops) a daemon; its exit status.

    Its output goes to a file, not a pipe: the daemon inherits the pipe and keeps it open, so
    reading it to its end would wait for the daemon to exit.
    """
    with log.open("ab") as output:
        return subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        ).returncode


def _wait_for_pid(path: Path) -> int:
    # Dovecot returns with its ports bound, but writes master.pid a little later.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().strip())
        time.sleep(0.05)
    pytest.fail(f"dovecot wrote no {path}")


def _stop(pid: int) -> None:
    """SIGTERM, then wait until the process is gone (Dovecot's master takes 2-3 s)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot IMAP server on loopback for the tests of one module."""
    with running_dovecot() as server:
        yield server


@dataclass
class PostfixRelay:
    """A running Postfix: relays mail for `dest_domain` to the sink, writes DSNs to `dsn_maildir`."""

    folder: Path
    port: int
    """Its SMTP port on 127.0.0.1: send here."""
    dest_domain: str
    bounce_domain: str
    dsn_maildir: Path
    """The Maildir (its new/ holds one file per message) every address of `bounce_domain` gets:
    the DSNs Postfix writes; empty when `bounces_to` sends them to an SMTP server instead."""

    def dsns(self) -> list[Path]:
        """The delivered DSN files, oldest first (virtual(8) writes tmp/, renames into new/)."""
        new = self.dsn_maildir / "new"
        return sorted(new.iterdir(), key=lambda path: path.stat().st_mtime) if new.is_dir() else []

    def wait_for_dsns(self, count: int, timeout: float = 60.0) -> list[Path]:
        """The DSN files once at least `count` have arrived; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(found := self.dsns()) < count:
            if time.monotonic() > deadline:
                log = (self.folder / "maillog").read_text(errors="replace")[-3000:]
                pytest.fail(f"{len(found)} of {count} DSNs after {timeout} s; maillog:\n{log}")
            time.sleep(0.05)
        return found


@contextlib.contextmanager
def postfix_relay(
    sink_port: int,
    *,
    dest_domain: str = "dest.test",
    bounce_domain: str = "bounces.test",
    lifetime: str = "0",
    bounces_to: int | None = None,
) -> Iterator[PostfixRelay]:
    """A Postfix relaying `dest_domain` to 127.0.0.1:`sink_port`, stopped on exit.

    The DSNs it writes for senders on `bounce_domain` land in one catch-all Maildir, or, with
    `bounces_to`, go by SMTP to 127.0.0.1:`bounces_to` (an inbound listener). `lifetime` is
    the queue lifetime: "0" bounces a 4xx at the first try (a DSN in ~0.1 s), "30s" retries.
    """
    if not shutil.which("postfix"):
        pytest.fail("Postfix is not installed: run `make mailservers` (or `make test`)")
    with server_folder("postfix.") as folder:
        etc, vmail = folder / "etc", folder / "vmail"
        for path in (etc, folder / "spool", vmail):
            path.mkdir()
        os.chown(vmail, NOBODY, NOBODY)
        (etc / "main.cf").touch()
        shutil.copy("/usr/share/postfix/master.cf.dist", etc / "master.cf")
        port = free_port()
        transports = f"{dest_domain}=smtp:[127.0.0.1]:{sink_port}"
        relay_domains = dest_domain
        if bounces_to is not None:
            transports += f",{bounce_domain}=smtp:[127.0.0.1]:{bounces_to}"
            relay_domains += f",{bounce_domain}"
        settings = [
            "compatibility_level=3.6",
            f"queue_directory={folder}/spool",
            f"data_directory={folder}/data",
            f"maillog_file={folder}/maillog",
            f"maillog_file_prefixes={folder}",
            "myhostname=relay.pf.test",
            "alias_maps=",
            "mydestination=",
            "inet_interfaces=127.0.0.1",
            "smtpd_peername_lookup=no",
            f"relay_domains={relay_domains}",
            f"transport_maps=inline:{{{transports}}}",
            f"maximal_queue_lifetime={lifetime}",
            f"bounce_queue_lifetime={lifetime}",
            "queue_run_delay=5s",
            "minimal_backoff_time=5s",
            "maximal_backoff_time=10s",
        ]
        if bounces_to is None:
            settings += [
                f"virtual_mailbox_domains={bounce_domain}",
                f"virtual_mailbox_base={vmail}",
                "virtual_mailbox_maps=static:bounces/",
                f"virtual_uid_maps=static:{NOBODY}",
                f"virtual_gid_maps=static:{NOBODY}",
            ]
        postconf = ["postconf", "-c", str(etc)]
        subprocess.run([*postconf, "-e", *settings], check=True)
        subprocess.run([*postconf, "-F", "*/*/chroot = n"], check=True)  # No chroot to set up.
        subprocess.run([*postconf, "-MX", "smtp/inet"], check=True)  # Not port 25.
        service = f"127.0.0.1:{port}/inet = 127.0.0.1:{port} inet n - n - - smtpd"
        subprocess.run([*postconf, "-Me", service], check=True)
        control = ["postfix", "-c", str(etc)]
        if _daemon([*control, "start"], folder / "start.log") != 0:
            log = (
                (folder / "maillog").read_text(errors="replace")
                if (folder / "maillog").exists()
                else ""
            )
            pytest.fail(f"postfix did not start: {log[-2000:]}")
        try:
            yield PostfixRelay(folder, port, dest_domain, bounce_domain, vmail / "bounces")
        finally:
            _daemon([*control, "stop"], folder / "stop.log")
            _wait_for_stop(folder / "data" / "master.lock")


def _wait_for_stop(lock: Path) -> None:
    # `postfix stop` returns before the master has exited; its pid is in master.lock.
    with contextlib.suppress(OSError, ValueError):
        _stop(int(lock.read_text().split()[0]))


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[str, Path]]:
    """Postfix's smtp-sink (a C server) on a free loopback port, writing each message to a file
    of its own (its time of change: when the message ended); its URL and that folder. Unlike
    the Python server of conftest.py, it keeps up with a steady rate however busy the machine."""
    program = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"  # sbin: not on every PATH
    if not Path(program).is_file():
        pytest.fail("Postfix is not installed: run `make mailservers` (or `make test`)")
    with server_folder("smtp-sink.") as folder:
        received = folder / "received"
        received.mkdir()
        os.chown(received, NOBODY, -1)
        port = free_port()
        command = [program, "-u", "nobody", "-d", f"{received}/%H%M%S.", f"127.0.0.1:{port}"]
        sink = subprocess.Popen([*command, "100"])
        try:
            deadline = time.monotonic() + 10
            while not _answers(port):
                assert time.monotonic() < deadline, "smtp-sink did not start"
                time.sleep(0.05)
            yield f"smtp://127.0.0.1:{port}", received
        finally:
            sink.terminate()
            sink.wait()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


def arrivals(folder: Path) -> tuple[list[float], list[str]]:
    """When each message smtp-sink wrote to `folder` ended, and its (first) recipient."""
    times, recipients = [], []
    for dump in folder.iterdir():
        times.append(dump.stat().st_mtime)
        found = re.search(r"^X-Rcpt-Args: <([^>]*)>", dump.read_text(errors="replace"), re.M)
        recipients.append(found[1] if found else "")
    return times, recipients
