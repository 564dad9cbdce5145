"""The JSON API: every route with a real key, without one, with a key lacking its scope, and with
bad input; an external signup with double opt-in through to the confirmation link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.subscribers import registry
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_delivery import ISSUE, add_reader, make_project, newsletter

API = "/api/v1"
# What each route needs, and a request with a bad input it must refuse (path, body).
SCOPES = {
    ("GET", "/subscribers"): "subscribers:read",
    ("POST", "/subscribers"): "subscribers:write",
    ("POST", "/subscribers/import"): "subscribers:write",
    ("GET", "/subscribers/{ref}"): "subscribers:read",
    ("PATCH", "/subscribers/{ref}"): "subscribers:write",
    ("POST", "/subscribers/{ref}/unsubscribe"): "subscribers:write",
    ("DELETE", "/subscribers/{ref}"): "subscribers:write",
    ("GET", "/tags"): "subscribers:read",
    ("GET", "/topics"): "subscribers:read",
    ("GET", "/schedules"): "sends:read",
    ("POST", "/schedules"): "schedules:write",
    ("POST", "/schedules/{schedule_id}/pause"): "schedules:write",
    ("POST", "/schedules/{schedule_id}/resume"): "schedules:write",
    ("DELETE", "/schedules/{schedule_id}"): "schedules:write",
    ("GET", "/issues"): "sends:read",
    ("GET", "/issues/{name}"): "sends:read",
    ("GET", "/sends"): "sends:read",
    ("GET", "/sends/{issue}"): "sends:read",
    ("POST", "/sends"): "sends:write",
    ("POST", "/sends/{issue}/test"): "sends:write",
    ("POST", "/sends/{issue}/pause"): "sends:write",
    ("POST", "/sends/{issue}/resume"): "sends:write",
}
BAD = {
    ("GET", "/subscribers"): ("/subscribers?limit=0", None, 422),
    ("POST", "/subscribers"): ("/subscribers", {"email": "not an address"}, 422),
    ("POST", "/subscribers/import"): ("/subscribers/import", {"subscribers": []}, 422),
    ("GET", "/subscribers/{ref}"): ("/subscribers/nobody@example.org", None, 404),
    ("PATCH", "/subscribers/{ref}"): ("/subscribers/ana@example.org", {"locale": "xx"}, 422),
    ("POST", "/subscribers/{ref}/unsubscribe"): ("/subscribers/999999/unsubscribe", None, 404),
    ("DELETE", "/subscribers/{ref}"): ("/subscribers/nobody@example.org", None, 404),
    ("GET", "/tags"): ("/tags?x=1", None, 200),  # Takes no input: an unknown one is ignored.
    ("GET", "/topics"): ("/topics?x=1", None, 200),  # Likewise.
    ("GET", "/schedules"): ("/schedules?x=1", None, 200),  # Likewise.
    ("POST", "/schedules"): ("/schedules", {"weekly": "someday 25:00"}, 400),
    ("POST", "/schedules/{schedule_id}/pause"): ("/schedules/nope/pause", None, 404),
    ("POST", "/schedules/{schedule_id}/resume"): ("/schedules/nope/resume", None, 404),
    ("DELETE", "/schedules/{schedule_id}"): ("/schedules/nope", None, 404),
    ("GET", "/issues"): ("/issues?x=1", None, 200),  # Takes no input.
    ("GET", "/issues/{name}"): ("/issues/no-such-issue", None, 404),
    ("GET", "/sends"): ("/sends?limit=0", None, 422),
    ("GET", "/sends/{issue}"): ("/sends/no-such-issue", None, 404),
    ("POST", "/sends"): ("/sends", {"issue": ISSUE, "to": "plan = pro"}, 400),
    ("POST", "/sends/{issue}/test"): (
        f"/sends/{ISSUE}/test",
        {"addresses": ["not an address"]},
        400,
    ),
    ("POST", "/sends/{issue}/pause"): ("/sends/no-such-issue/pause", None, 404),
    ("POST", "/sends/{issue}/resume"): ("/sends/no-such-issue/resume", None, 404),
}
GOOD: dict[tuple[str, str], tuple[str, dict[str, Any] | None, int]] = {
    ("GET", "/subscribers"): ("/subscribers?status=active&limit=1", None, 200),
    ("POST", "/subscribers"): ("/subscribers", {"email": "new@example.org", "tags": ["ai"]}, 201),
    ("POST", "/subscribers/import"): ("/subscribers/import", {"subscribers": [{"email": "x@example.org"}]}, 200),
    ("GET", "/subscribers/{ref}"): ("/subscribers/ana@example.org", None, 200),
    ("PATCH", "/subscribers/{ref}"): ("/subscribers/ana@example.org", {"name": "Ana L."}, 200),
    ("POST", "/subscribers/{ref}/unsubscribe"): ("/subscribers/bob@example.org/unsubscribe", None, 200),
    ("DELETE", "/subscribers/{ref}"): ("/subscribers/cy@example.org", None, 204),
    ("GET", "/tags"): ("/tags", None, 200),
    ("GET", "/topics"): ("/topics", None, 200),
    ("GET", "/schedules"): ("/schedules", None, 200),
    ("POST", "/schedules"): ("/schedules", {"weekly": "tue 09:00", "timezone": "Europe/Berlin"}, 201),
    ("POST", "/schedules/{schedule_id}/pause"): ("/schedules/weekly-mon-0800/pause", None, 200),
    ("POST", "/schedules/{schedule_id}/resume"): ("/schedules/weekly-mon-0800/resume", None, 200),
    ("DELETE", "/schedules/{schedule_id}"): ("/schedules/weekly-mon-0800", None, 200),
    ("GET", "/issues"): ("/issues", None, 200),
    ("GET", "/issues/{name}"): (f"/issues/{ISSUE}", None, 200),
    ("GET", "/sends"): ("/sends", None, 200),
    ("GET", "/sends/{issue}"): (f"/sends/{ISSUE}", None, 200),
    ("POST", "/sends"): ("/sends", {"issue": ISSUE}, 202),
    ("POST", "/sends/{issue}/test"): (f"/sends/{ISSUE}/test", {"addresses": ["t@example.org"]}, 200),
    ("POST", "/sends/{issue}/pause"): (f"/sends/{ISSUE}/pause", None, 200),
    ("POST", "/sends/{issue}/resume"): (f"/sends/{ISSUE}/resume", None, 200),
}  # fmt: skip
HEADERS = {("POST", "/sends"): {"Idempotency-Key": "first-send"}}


def api_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path under /api/v1) of every API route that needs a key."""
    from .test_routes import routes_of

    found = {
        (m, path.removeprefix(API)) for m, path in routes_of(app.routes) if path.startswith(API)
    }
    anything = {(m, "/{anything:path}") for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
    return found - {("GET", "/openapi.json"), ("GET", "/docs")} - anything


def key(project: Project, *scopes: str) -> str:
    """A real key, made by `newsletter api-key create` as an operator would."""
    args = [arg for scope in scopes for arg in ("--scope", scope)]
    code, output = newsletter(project, "api-key", "create", "test program", *args)
    assert code == 0, output
    found = re.search(r"^nl_[0-9a-f]{8}_\S{32}$", output, re.MULTILINE)
    assert found, output
    return found.group(0)


def api_project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    """A project with three readers (ana, bob, cy) and mail to the test's SMTP server."""
    return make_project(
        tmp_path, f"{smtp_server.url}?connections=1",
        readers=[("ana@example.org", "Ana", "en"), ("bob@example.org", "Bob", "de"), ("cy@example.org", "Cy", "en")],
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return api_project(tmp_path, smtp_server)


@pytest.fixture
def client(project: Project) -> Iterator[TestClient]:
    with TestClient(create_app(project)) as made:
        yield made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_table_above_lists_every_api_route(client: TestClient) -> None:
    assert api_routes(client.app) == set(SCOPES) == set(BAD) == set(GOOD)


@pytest.mark.parametrize(("method", "path"), sorted(SCOPES))
def test_each_route_without_a_key_with_the_wrong_scope_with_bad_input_and_right(
    client: TestClient, project: Project, method: str, path: str
) -> None:
    url, body, status = GOOD[(method, path)]
    if "{schedule_id}" in path:
        assert newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", "UTC")[0] == 0
    if path in ("/sends/{issue}", "/sends/{issue}/pause", "/sends/{issue}/resume"):
        assert newsletter(project, "send", ISSUE)[0] == 0
    extra = HEADERS.get((method, path), {})
    for headers in ({}, bearer("nl_00000000_" + "x" * 32), {"Authorization": "Basic YTpi"}):
        answer = client.request(method, API + url, json=body, headers={**headers, **extra})
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"
    needed = SCOPES[(method, path)]
    other = next(scope for scope in ("sends:read", "schedules:write") if scope != needed)
    answer = client.request(
        method, API + url, json=body, headers={**bearer(key(project, other)), **extra}
    )
    assert answer.status_code == 403 and needed in answer.json()["title"], answer.text
    right = key(project, needed)
    bad_url, bad_body, bad_status = BAD[(method, path)]
    answer = client.request(
        method, API + bad_url, json=bad_body, headers={**bearer(right), **extra}
    )
    assert answer.status_code == bad_status, answer.text
    if bad_status >= 400:
        assert answer.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in answer.text and answer.json()["title"]
    answer = client.request(method, API + url, json=body, headers={**bearer(right), **extra})
    assert answer.status_code == status, answer.text


def test_a_page_follows_its_cursor_and_filters_without_counting_the_table(
    client: TestClient, project: Project
) -> None:
    for number in range(7):
        add_reader(project, f"reader{number}@example.org", "", "de")
    token = bearer(key(project, "subscribers:read"))
    seen: list[str] = []
    url = f"{API}/subscribers?locale=de&limit=3"
    while url:
        page = client.get(url, headers=token).json()
        seen += [item["email"] for item in page["items"]]
        url = (
            f"{API}/subscribers?locale=de&limit=3&cursor={page['next_cursor']}"
            if page["next_cursor"]
            else ""
        )
    assert seen == ["bob@example.org", *(f"reader{n}@example.org" for n in range(7))]
    forged = client.get(f"{API}/subscribers?cursor=aWQ6eA", headers=token)
    assert forged.status_code == 400 and forged.json()["title"].startswith("cursor")


def test_a_revoked_key_is_refused(client: TestClient, project: Project) -> None:
    token = key(project, "subscribers:read")
    assert client.get(f"{API}/tags", headers=bearer(token)).status_code == 200
    code, output = newsletter(project, "api-key", "revoke", token[:11])
    assert code == 0 and "revoked" in output, output
    answer = client.get(f"{API}/tags", headers=bearer(token))
    assert answer.status_code == 401
    listed = newsletter(project, "api-key", "list")[1]
    assert token[:11] in listed and token not in listed  # Only the prefix is ever shown again.


def test_an_external_signup_with_double_opt_in_sends_the_confirmation_and_the_link_confirms(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    token = bearer(key(project, "subscribers:write"))
    answer = client.post(
        f"{API}/subscribers",
        json={"email": "Dora@Example.org", "locale": "de", "double_opt_in": True, "attributes": {"company": "ACME"}},
        headers=token,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "pending" and answer.json()["attributes"] == {
        "company": "ACME"
    }
    [received] = smtp_server.received
    assert received.recipients == ["Dora@example.org"]
    text = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"https://news\.example\.org(/confirm/\S+)", text)
    assert link, text
    page = client.get(link.group(1))
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    assert client.post(link.group(1), data={"csrf": csrf.group(1)}).status_code == 200
    with Session(create_db_engine(database_url(project))) as session:
        dora = registry.find(session, "dora@example.org")
        assert dora is not None and dora.status == "active" and dora.consent_method == "api"
    again = client.post(f"{API}/subscribers", json={"email": "dora@example.org"}, headers=token)
    assert again.status_code == 409, again.text


def test_the_openapi_document_and_its_page_are_served(client: TestClient) -> None:
    document = client.get(f"{API}/openapi.json").json()
    assert set(document["paths"]) == {API + path for _, path in SCOPES}
    page = client.get(f"{API}/docs")
    assert (
        page.status_code == 200
        and "<script" not in page.text
        and "/api/v1/subscribers" in page.text
    )


def test_a_bulk_import_merges_skips_and_reports_each_item_like_a_csv_import(
    client: TestClient, project: Project
) -> None:
    token = bearer(key(project, "subscribers:write", "subscribers:read"))
    items = [
        {"email": "Eve@Example.org", "name": "Eve", "locale": "de", "tags": ["ai"],
         "attributes": {"company": "ACME", "seats": 12}},
        {"email": "eve@example.org", "tags": ["research"]},  # The same address: merged.
        {"email": "not an address"},
        {"email": "ana@example.org", "name": "Someone else"},  # Exists: merged, status kept.
    ]  # fmt: skip
    answer = client.post(
        f"{API}/subscribers/import", json={"subscribers": items, "tags": ["api"]}, headers=token
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["items"], result["created"], result["duplicates"]) == (4, 1, 1)
    assert [item["item"] for item in result["invalid"]] == [2]
    eve = client.get(f"{API}/subscribers/eve@example.org", headers=token).json()
    assert eve["tags"] == ["ai", "api", "research"] and eve["locale"] == "de"
    assert eve["attributes"] == {"company": "ACME", "seats": "12"}  # Text, as from CSV.
    too_many = {"subscribers": [{"email": f"r{n}@example.org"} for n in range(10_001)]}
    answer = client.post(f"{API}/subscribers/import", json=too_many, headers=token)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "subscribers"


def test_schedules_are_added_paused_resumed_and_cancelled_as_the_cli_does_them(
    client: TestClient, project: Project
) -> None:
    token = bearer(key(project, "schedules:write", "sends:read"))
    added = client.post(
        f"{API}/schedules",
        json={"issue": "2024-03-10-ai-revolution-accelerates", "at": "2099-01-05 08:00", "to": "locale = \"de\""},
        headers=token,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json()["next_run"] == "2099-01-05T08:00:00Z"
    again = client.post(
        f"{API}/schedules",
        json={"issue": "2024-03-10-ai-revolution-accelerates", "at": "2099-01-06 08:00"},
        headers=token,
    )
    assert again.status_code == 409 and "exists already" in again.json()["title"], again.text
    assert client.delete(f"{API}/schedules/{added.json()['id']}", headers=token).status_code == 200
    weekly = client.post(
        f"{API}/schedules", json={"weekly": "mon,thu 07:30", "to": "ai or research"}, headers=token
    )
    assert weekly.status_code == 201, weekly.text
    made = weekly.json()
    assert (made["kind"], made["to"], made["paused"]) == ("weekly", "ai or research", False)
    listed = newsletter(project, "schedule", "list")[1]
    assert made["id"] in listed  # The CLI sees the schedule the API made.
    paused = client.post(f"{API}/schedules/{made['id']}/pause", headers=token).json()
    assert paused["paused"] is True and paused["next_run"] is None
    assert (
        client.post(f"{API}/schedules/{made['id']}/resume", headers=token).json()["paused"] is False
    )
    both = client.post(
        f"{API}/schedules", json={"weekly": "tue 08:00", "at": "2099-01-01 08:00"}, headers=token
    )
    assert both.status_code == 422
    bad_segment = client.post(
        f"{API}/schedules", json={"weekly": "wed 08:00", "to": "plan = pro"}, headers=token
    )
    assert bad_segment.status_code == 400 and "segment" in bad_segment.json()["title"]
    assert client.delete(f"{API}/schedules/{made['id']}", headers=token).status_code == 200
    assert client.get(f"{API}/schedules", headers=token).json() == []


def test_a_send_starts_once_whatever_its_retries_and_is_read_back_with_its_outcomes(
    client: TestClient, project: Project
) -> None:
    token = bearer(key(project, "sends:write", "sends:read"))
    first = client.post(
        f"{API}/sends", json={"issue": ISSUE}, headers={**token, "Idempotency-Key": "a1"}
    )
    assert first.status_code == 202 and first.json() == {"issue": ISSUE, "added": 3}, first.text
    retry = client.post(
        f"{API}/sends", json={"issue": ISSUE}, headers={**token, "Idempotency-Key": "a1"}
    )
    assert retry.status_code == 202 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    other = client.post(
        f"{API}/sends",
        json={"issue": ISSUE, "to": "ai"},
        headers={**token, "Idempotency-Key": "a1"},
    )
    assert other.status_code == 422 and "another request" in other.json()["title"]
    missing = client.post(f"{API}/sends", json={"issue": ISSUE}, headers=token)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["title"]
    again = client.post(
        f"{API}/sends", json={"issue": ISSUE}, headers={**token, "Idempotency-Key": "a2"}
    )
    assert again.json() == {"issue": ISSUE, "added": 0}  # The send exists: nobody twice.
    read = client.get(f"{API}/sends/{ISSUE}", headers=token).json()
    assert read["states"] == {"queued": 3} and read["locales"] == {"en": {"queued": 3}}  # de: en
    assert read["report"]["issue"] == ISSUE
    listed = client.get(f"{API}/sends", headers=token).json()
    assert [item["issue"] for item in listed["items"]] == [ISSUE] and listed["next_cursor"] is None


def test_a_test_send_reaches_the_address_and_an_issue_shows_its_findings(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    token = bearer(key(project, "sends:write", "sends:read"))
    answer = client.post(
        f"{API}/sends/{ISSUE}/test",
        json={"addresses": ["me@example.org"], "locales": ["en"]},
        headers=token,
    )
    assert answer.status_code == 200, answer.text
    assert [(o["address"], o["edition"], o["state"]) for o in answer.json()] == [
        ("me@example.org", "en", "sent")
    ]
    [received] = smtp_server.received
    assert received.recipients == ["me@example.org"] and str(
        received.message["Subject"]
    ).startswith("[TEST] ")
    issues = client.get(f"{API}/issues", headers=token).json()
    assert [issue["slug"] for issue in issues] == [ISSUE] and issues[0]["sent_at"] is None
    one = client.get(f"{API}/issues/{ISSUE}", headers=token).json()
    assert one["warnings"] == len([f for f in one["findings"] if f["severity"] == "warning"]) > 0
    assert {e["locale"] for e in one["editions"]} == {"en", "zh"}


def test_a_paused_send_sends_nothing_until_it_is_resumed(
    client: TestClient, project: Project, smtp_server: SmtpServer
) -> None:
    token = bearer(key(project, "sends:write", "sends:read"))
    assert (
        client.post(
            f"{API}/sends", json={"issue": ISSUE}, headers={**token, "Idempotency-Key": "p"}
        ).status_code
        == 202
    )
    paused = client.post(f"{API}/sends/{ISSUE}/pause", headers=token).json()
    assert paused["paused_at"] is not None and paused["states"] == {"queued": 3}
    code, output = newsletter(project, "send", ISSUE)  # Adds nobody, delivers nothing.
    assert code == 0 and "paused since" in output, output
    assert smtp_server.received == []
    code, output = newsletter(project, "resume", ISSUE)
    assert code == 0 and "resumed the send" in output, output
    assert client.get(f"{API}/sends/{ISSUE}", headers=token).json()["paused_at"] is None
    assert newsletter(project, "pause", ISSUE)[0] == 0  # The CLI pauses as the API does.
    code, output = newsletter(project, "send", ISSUE, "--resume")  # Resumes and delivers.
    assert code == 0, output
    assert len(smtp_server.received) == 3
    assert client.get(f"{API}/sends/{ISSUE}", headers=token).json()["states"] == {"sent": 3}


def test_every_change_through_the_api_is_in_the_audit_log_with_no_address(
    client: TestClient, project: Project
) -> None:
    from newsletter.access.audit import recent

    token = key(project, "subscribers:write", "schedules:write", "sends:write")
    headers = bearer(token)
    client.post(f"{API}/subscribers", json={"email": "eve@example.org"}, headers=headers)
    client.patch(f"{API}/subscribers/eve@example.org", json={"name": "Eve"}, headers=headers)
    client.post(f"{API}/subscribers/ana@example.org/unsubscribe", headers=headers)
    client.delete(f"{API}/subscribers/eve@example.org", headers=headers)
    client.post(f"{API}/schedules", json={"weekly": "mon 08:00"}, headers=headers)
    client.post(f"{API}/schedules/weekly-mon-0800/pause", headers=headers)
    client.post(f"{API}/sends", json={"issue": ISSUE}, headers={**headers, "Idempotency-Key": "x"})
    client.post(f"{API}/sends/{ISSUE}/pause", headers=headers)
    entries = recent(create_db_engine(database_url(project)))
    assert [entry.action for entry in reversed(entries)] == [
        "subscriber.add", "subscriber.change", "subscriber.unsubscribe", "subscriber.forget",
        "schedule.add", "schedule.pause", "send.start", "send.pause",
    ]  # fmt: skip
    assert {entry.actor for entry in entries} == {f"key:{token[:11]}"}
    logged = " ".join(f"{e.target} {e.detail}" for e in entries)
    assert "@" not in logged  # Subscribers by id: forgetting one leaves nothing of them here.
