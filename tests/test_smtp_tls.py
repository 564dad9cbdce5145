"""STARTTLS and authentication against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from newsletter.deliver.transports import open_transport

from .conftest import Recorder
from .mailservers import self_signed_certificate

USER, PASSWORD = "news", "s3cret-pass"


def check_login(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: a refused login gets its 535 reply, as from a real server (aiosmtpd's
    # default answers nothing, and the client would wait out its 30-second timeout).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Recorder]]:
    cert_file, key_file = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # The client trusts this certificate.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=check_login,
    )
    controller.start()
    try:
        yield port, recorder
    finally:
        controller.stop()


MESSAGE = b"Subject: hi\r\nTo: b@example.org\r\n\r\nhello\r\n"


def test_starttls_and_login_from_the_environment(tls_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port, recorder = tls_server
    secrets = {"NEWSLETTER_SMTP_USERNAME": USER, "NEWSLETTER_SMTP_PASSWORD": PASSWORD}
    transport = open_transport(f"smtp://127.0.0.1:{port}?starttls=require", secrets, tmp_path)
    try:
        result = transport.send("a@example.org", "b@example.org", MESSAGE)
    finally:
        transport.close()
    assert result.state == "sent", result
    assert [r.recipients for r in recorder.received] == [["b@example.org"]]
