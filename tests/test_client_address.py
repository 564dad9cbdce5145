"""The client address the per-client limit counts and consent records name: the socket's peer,
unless the peer is a proxy the configuration trusts (`trusted_proxies`); then the address the
proxy reports. Real `newsletter serve` processes, real HTTP."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.subscribers.models import ConsentEvent

from .conftest import SmtpServer
from .test_confirmations import _csrf, _project, _serve, _wait_for
from .test_service import free_port


def _posts(project: Project, tmp_path: Path, headers: list[dict[str, str]]) -> list[int]:
    """The status of each post to the subscribe form of a served app, one per header set."""
    port, log = free_port(), tmp_path / "serve.log"
    server = _serve(project, port, log)
    try:
        csrf = _csrf(_wait_for(port, server, log))
        statuses = []
        for number, header in enumerate(headers):
            body = {"email": f"reader{number}@example.org", "csrf": csrf}
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/subscribe",
                data=urllib.parse.urlencode(body).encode(),
                headers=header,
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    statuses.append(int(answer.status))
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        return statuses
    finally:
        server.terminate()
        server.wait(30)


def _sources(project: Project) -> list[str]:
    engine = create_db_engine(database_url(project))
    with Session(engine) as session:
        events = session.exec(select(ConsentEvent).where(ConsentEvent.kind == "subscribe"))
        sources = [event.source for event in events]
    engine.dispose()
    return sources


FORGED = [
    {
        "X-Forwarded-For": f"198.51.100.{n}",
        "X-Real-IP": f"192.0.2.{n}",
        "Forwarded": f"for=192.0.2.{n}",
    }
    for n in range(7)
]


def test_forwarded_headers_are_ignored_unless_a_proxy_is_trusted(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """By default nobody is a proxy, not even 127.0.0.1: headers that rotate addresses neither
    get round the limit of 5 attempts per client nor end up in the consent record."""
    project = _project(tmp_path, smtp_server)
    assert _posts(project, tmp_path, FORGED) == [200] * 5 + [429] * 2
    assert set(_sources(project)) == {"127.0.0.1"}


def test_a_trusted_proxy_reports_the_client(tmp_path: Path, smtp_server: SmtpServer) -> None:
    project = _project(tmp_path, smtp_server)
    with project.source.open("a", encoding="utf-8") as config:
        config.write('trusted_proxies = ["127.0.0.0/8"]\n')
    assert _posts(project, tmp_path, FORGED) == [200] * 7
    assert _sources(project) == [f"198.51.100.{n}" for n in range(7)]


def test_a_proxy_setting_that_is_not_an_address_is_refused(tmp_path: Path) -> None:
    from newsletter.config import load_project
    from newsletter.errors import NewsletterError

    (tmp_path / "newsletter.toml").write_text('trusted_proxies = ["*"]\n', encoding="utf-8")
    with pytest.raises(NewsletterError) as refused:
        load_project(tmp_path / "newsletter.toml", environ={})
    assert "trusted_proxies" in str(refused.value)
    assert "is not an IP address or network such as 10.0.0.5" in str(refused.value)
