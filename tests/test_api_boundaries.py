"""The JSON API at its boundaries: rate and size limits, names that are paths, unknown paths,
search text taken as written, and the topics a signup form offers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from newsletter.config import Project, load_project
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_api import API, api_project, bearer, key
from .test_delivery import ISSUE, SECRET, add_reader, make_project


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return api_project(tmp_path, smtp_server)


@pytest.fixture
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project)) as made:
        yield made


def test_an_oversized_body_gets_413_before_it_is_read(client: TestClient, project: Project) -> None:
    token = bearer(key(project, "subscribers:write"))
    big = b'{"email": "' + b"a" * (5 * 1024 * 1024) + b'@example.org"}'
    answer = client.post(
        f"{API}/subscribers", content=big, headers={**token, "Content-Type": "application/json"}
    )
    assert (
        answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    )


def test_a_key_over_its_rate_limit_gets_429_and_another_key_does_not(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, smtp_server.url, readers=[], api_rate_limit="3")
    tokens = [bearer(key(project, "subscribers:read")) for _ in range(2)]
    with TestClient(create_app(project)) as client:
        answers = [client.get(f"{API}/tags", headers=tokens[0]) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].headers["retry-after"] == "60"
        assert answers[-1].headers["content-type"] == "application/problem+json"
        assert client.get(f"{API}/tags", headers=tokens[1]).status_code == 200


def test_topics_are_offered_with_their_names_per_locale(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, smtp_server.url, readers=[])
    with project.source.open("a", encoding="utf-8") as config:  # type: ignore[union-attr]
        config.write(
            '[topics.ai]\nen = "Artificial intelligence"\nde = "Künstliche Intelligenz"\n[topics.research]\nen = "Research"\n'
        )
    project = load_project(project.source, {"NEWSLETTER_SECRET_KEY": SECRET})  # type: ignore[arg-type]
    with TestClient(create_app(project)) as client:
        topics = client.get(
            f"{API}/topics", headers=bearer(key(project, "subscribers:read"))
        ).json()
    assert topics == [
        {
            "tag": "ai",
            "names": {
                "en": "Artificial intelligence",
                "zh": "Artificial intelligence",
                "de": "Künstliche Intelligenz",
                "ar": "Artificial intelligence",
            },
        },
        {
            "tag": "research",
            "names": {"en": "Research", "zh": "Research", "de": "Research", "ar": "Research"},
        },
    ]


def test_search_takes_wildcards_as_written_and_a_whole_address_as_that_subscriber(
    client: TestClient, project: Project
) -> None:
    for email in ("a1b@example.org", "a_b@example.org", "diana@example.org", "x%y@example.org"):
        add_reader(project, email, "", "en")
    token = bearer(key(project, "subscribers:read"))

    def found(text: str) -> list[str]:
        page = client.get(f"{API}/subscribers", params={"search": text}, headers=token).json()
        return [item["email"] for item in page["items"]]

    assert found("a_b") == ["a_b@example.org"]
    assert found("x%y") == ["x%y@example.org"]
    assert found("ANA@Example.org") == ["ana@example.org"]  # Not diana@: that subscriber.
    assert found("ana@") == ["ana@example.org", "diana@example.org"]  # Part of one: anywhere.


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../config/newsletter.toml", "issues/" + ISSUE, "config", "no-such-issue"],
)
def test_an_issue_is_named_by_its_slug_and_a_path_reveals_nothing(
    client: TestClient, project: Project, name: str
) -> None:
    token = bearer(key(project, "sends:read", "sends:write"))
    read = client.get(f"{API}/issues/{quote(name, safe='')}", headers=token)
    test = client.post(
        f"{API}/sends/{quote(name, safe='')}/test",
        json={"addresses": ["a@example.org"]},
        headers=token,
    )
    start = client.post(
        f"{API}/sends", json={"issue": name}, headers={**token, "Idempotency-Key": name}
    )
    pause = client.post(f"{API}/sends/{quote(name, safe='')}/pause", headers=token)
    for answer in (read, test, start, pause):
        assert answer.status_code == 404, (name, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        title = answer.json()["title"]
        assert title in (f"no issue {name!r}", f"no send of {name!r}") or (
            "/" in name and title.startswith("no route /api/v1/")  # Not a name at all.
        ), title


def test_an_unknown_api_path_is_a_problem_document_not_a_page(client: TestClient) -> None:
    for method in ("GET", "POST", "DELETE"):
        answer = client.request(method, f"{API}/nothing/here")
        assert (
            answer.status_code == 404
            and answer.headers["content-type"] == "application/problem+json"
        )
