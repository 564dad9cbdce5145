"""A subscriber's dashboard page for admins: change their details as the API's PATCH does (a
refused value shown at its field, nothing changed), and forget them as `subscribers forget`
does, once their address is typed; viewers and editors only read. A real SQLite database, an
issue sent for real (eml:) with clicks stored against a delivery."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from newsletter.access.audit import recent
from newsletter.access.users import Role, add_user
from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY
from newsletter.engagement.models import LINK_CLICK, TRACKED_LINK
from newsletter.engagement.store import Click, write_clicks
from newsletter.subscribers import registry
from newsletter.subscribers.addresses import address_hash
from newsletter.subscribers.models import ConsentEvent, Subscriber, SubscriberTag, Suppression
from newsletter.web.app import create_app

from .test_admin import BASE, PASSWORD, Clock, form_token, log_in
from .test_api import API, bearer, key
from .test_delivery import ISSUE, make_project, newsletter

TOPICS = '{research = {en = "Research papers"}, tools = {en = "Tools"}}'
ZOE = "zoe@example.org"  # In the send, with a click: the one forgotten.
NUMBERS = itertools.count()


@dataclass
class Dashboard:
    """The project, its database, and a logged-in browser per role."""

    project: Project
    engine: Engine
    app: FastAPI
    admin: TestClient
    editor: TestClient
    viewer: TestClient


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    root = tmp_path_factory.mktemp("people")
    project = make_project(
        root, "eml:outbox", readers=[(ZOE, "Zoe", "en")], tracking='"individual"', topics=TOPICS
    )
    engine = create_db_engine(database_url(project))
    clock = Clock()
    for name, role in (("ana", Role.ADMIN), ("eve", Role.EDITOR), ("vic", Role.VIEWER)):
        add_user(engine, name, role, PASSWORD, clock())
    assert newsletter(project, "send", ISSUE)[0] == 0
    app = create_app(project, clock=clock, monotonic=clock.monotonic)
    clients = [TestClient(app, base_url=BASE) for _ in range(3)]
    for client, name in zip(clients, ("ana", "eve", "vic"), strict=True):
        client.__enter__()
        assert log_in(client, name) == 303
    yield Dashboard(project, engine, app, *clients)
    for client in clients:
        client.__exit__(None, None, None)
    engine.dispose()


def add(dashboard: Dashboard, email: str, attributes: dict[str, Any] | None = None) -> int:
    """A subscriber tagged with a topic and a tag of the operator's, with attributes."""
    with Session(dashboard.engine) as session:
        profile = registry.make_profile(
            email, "Old Name", "en", "UTC", ["research", "vip"], ["en", "zh", "de", "ar"], "en",
            "UTC",
        )  # fmt: skip
        subscriber = registry.add(
            session, profile, status="active", method="test", source="test", now=Clock()()
        )
        registry.update_details(
            session, subscriber, name=None, attributes=attributes or {"company": "ACME"},
            method="test", source="test", now=Clock()(),
        )  # fmt: skip
        session.commit()
        assert subscriber.id is not None
        return subscriber.id


def stored(dashboard: Dashboard, subscriber_id: int) -> dict[str, Any] | None:
    """What the database holds about the subscriber (None: nothing), consent events counted."""
    with Session(dashboard.engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        events = session.exec(
            select(func.count()).where(col(ConsentEvent.subscriber_id) == subscriber_id)
        ).one()
        tags = session.exec(
            select(func.count()).where(col(SubscriberTag.subscriber_id) == subscriber_id)
        ).one()
        if subscriber is None:
            assert events == tags == (0,)
            return None
        return {
            "name": subscriber.name, "locale": subscriber.locale,
            "timezone": subscriber.timezone, "attributes": subscriber.attributes,
            "tags": registry.tags_of(session, subscriber), "events": events[0],
        }  # fmt: skip


def logged(dashboard: Dashboard, subscriber_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit entries about the subscriber: actor, action, detail."""
    return [
        (entry.actor, entry.action, json.loads(entry.detail))
        for entry in recent(dashboard.engine)
        if entry.target == f"subscriber:{subscriber_id}"
    ]


def edit_form(**fields: Any) -> dict[str, Any]:
    form = {"name": "Old Name", "locale": "en", "timezone": "UTC", "tags": ["research"]}
    form |= {"key": ["company", ""], "value": ["ACME", ""]}
    return form | fields


def test_an_admin_changes_each_field_and_the_database_and_the_log_say_what(
    dashboard: Dashboard,
) -> None:
    browser = dashboard.admin
    ada = add(dashboard, "ada@example.org", {"company": "ACME", "seats": 12})
    page = browser.get(f"/admin/subscribers/{ada}").text
    assert 'value="research" checked' in page and 'value="tools">' in page
    assert "Other tags, kept as they are: vip" in page and 'value="12"' in page
    token = form_token(browser, f"/admin/subscribers/{ada}")
    form = edit_form(
        csrf=token, name="  Ada   King ", locale="de", timezone="europe/berlin", tags=["tools"],
        key=["company", "seats", "plan", ""], value=["ACME Corp", "12", "pro\r\nyearly", ""],
    )  # fmt: skip
    answer = browser.post(f"/admin/subscribers/{ada}/edit", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/admin/subscribers/{ada}?saved=1"
    after = stored(dashboard, ada)
    assert after is not None
    assert (after["name"], after["locale"], after["timezone"]) == (
        "Ada King",
        "de",
        "Europe/Berlin",
    )
    assert after["tags"] == ["tools", "vip"]  # The operator's tag kept, the topics as chosen.
    # The number left as it was stays a number; what was typed is text.
    assert after["attributes"] == {"company": "ACME Corp", "seats": 12, "plan": "pro\nyearly"}
    [(actor, action, detail)] = logged(dashboard, ada)
    assert (actor, action) == ("ana", "subscriber.change")
    assert detail == {
        "subscriber_id": ada, "fields": ["attributes", "locale", "name", "tags", "timezone"],
    }  # fmt: skip
    page = browser.get(answer.headers["location"]).text
    assert (
        "Saved." in page and "<td>preferences changed</td><td>admin</td><td>admin:ana</td>" in page
    )
    assert "<td>details changed</td><td>admin</td><td>admin:ana</td>" in page

    # Emptying a value removes the attribute; a save that changes nothing logs nothing.
    form = edit_form(
        csrf=token, name="Ada King", locale="de", timezone="Europe/Berlin", tags=["tools"],
        key=["company", "seats", "plan"], value=["", "12", "pro\nyearly"],
    )  # fmt: skip
    assert browser.post(f"/admin/subscribers/{ada}/edit", data=form).status_code == 200
    attributes = (stored(dashboard, ada) or {})["attributes"]
    assert attributes == {"seats": 12, "plan": "pro\nyearly"}
    browser.post(f"/admin/subscribers/{ada}/edit", data=form)
    assert [a for _, a, _ in logged(dashboard, ada)] == ["subscriber.change"] * 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"locale": "fr"}, "locale", "&#39;fr&#39; is not one of the newsletter&#39;s locales"),
        ({"timezone": "Mars/Olympus"}, "timezone", "is not an IANA time zone"),
        ({"name": "N" * 201}, "name", "longer than 200 characters"),
        ({"tags": ["vip"]}, "tags", "&#39;vip&#39; is not one of the topics"),
        ({"key": ["bad\x07key"], "value": ["x"]}, "attributes", "contains a control character"),
        ({"key": ["a", "a"], "value": ["1", "2"]}, "attributes", "&#39;a&#39; twice"),
        ({"key": ["", "b"], "value": ["1", "2"]}, "attributes", "a value without a name"),
    ],
    ids=["locale", "timezone", "name", "tags", "key", "twice", "unnamed"],
)
def test_a_refused_value_is_shown_at_its_field_with_422_and_nothing_changes(
    dashboard: Dashboard, fields: dict[str, Any], field: str, message: str
) -> None:
    browser = dashboard.admin
    bob = add(dashboard, f"bob{next(NUMBERS)}@example.org")
    before = stored(dashboard, bob)
    token = form_token(browser, f"/admin/subscribers/{bob}")
    # Valid changes go with the refused value: they are not stored either.
    form = edit_form(csrf=token, **({"name": "Robert", "locale": "de"} | fields))
    answer = browser.post(f"/admin/subscribers/{bob}/edit", data=form)
    assert answer.status_code == 422
    assert f'<p class="nl-error" id="problem-{field}">' in answer.text
    problem = answer.text.split(f'id="problem-{field}">', 1)[1].split("</p>", 1)[0]
    assert message in problem, problem
    assert f'aria-describedby="problem-{field}"' in answer.text
    if field != "tags":  # A fieldset of checkboxes is described, not marked invalid.
        assert 'aria-invalid="true"' in answer.text
    assert '<details class="nl-edit" open>' in answer.text
    if field != "name":
        assert 'value="Robert"' in answer.text  # What was typed is kept to correct.
    assert stored(dashboard, bob) == before
    assert logged(dashboard, bob) == []


def test_the_apis_patch_refuses_an_attribute_name_as_the_dashboard_does(
    dashboard: Dashboard,
) -> None:
    cy = add(dashboard, "cy@example.org")
    token = bearer(key(dashboard.project, "subscribers:write"))
    answer = dashboard.admin.patch(
        f"{API}/subscribers/{cy}", json={"attributes": {"bad\x07key": "x"}}, headers=token
    )
    assert answer.status_code == 422
    assert answer.json()["title"].startswith("attributes: the name 'bad\\x07key' contains a")
    assert (stored(dashboard, cy) or {})["attributes"] == {"company": "ACME"}


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_viewer_or_an_editor_reads_the_page_and_can_neither_change_nor_forget(
    dashboard: Dashboard, role: str
) -> None:
    browser = getattr(dashboard, role)
    dan = add(dashboard, f"dan-{role}@example.org")
    before = stored(dashboard, dan)
    page = browser.get(f"/admin/subscribers/{dan}")
    assert page.status_code == 200 and f"dan-{role}@example.org" in page.text
    assert "company: <span>ACME</span>" in page.text  # The details, read-only.
    assert "/edit" not in page.text and "/forget" not in page.text
    token = form_token(browser, f"/admin/subscribers/{dan}")
    for action, form in (
        ("edit", edit_form(csrf=token, name="Changed")),
        ("forget", {"csrf": token, "address": f"dan-{role}@example.org"}),
    ):
        answer = browser.post(f"/admin/subscribers/{dan}/{action}", data=form)
        assert answer.status_code == 403 and "Your role does not allow this" in answer.text
    assert stored(dashboard, dan) == before
    assert logged(dashboard, dan) == []


def test_a_change_or_forget_without_the_sessions_token_is_refused(dashboard: Dashboard) -> None:
    browser = dashboard.admin
    eli = add(dashboard, "eli@example.org")
    before = stored(dashboard, eli)
    own = form_token(browser, f"/admin/subscribers/{eli}")
    others = form_token(dashboard.editor, f"/admin/subscribers/{eli}")
    for data, headers in [
        ({}, {}),  # No token.
        ({"csrf": "0" * 64}, {}),  # A forged one.
        ({"csrf": others}, {}),  # Another session's.
        ({"csrf": own}, {"Origin": "https://evil.example"}),  # Posted from another site.
    ]:
        for action, form in (
            ("edit", edit_form(name="Changed")),
            ("forget", {"address": "eli@example.org"}),
        ):
            answer = browser.post(
                f"/admin/subscribers/{eli}/{action}", data=form | data, headers=headers
            )
            assert answer.status_code == 403 and "This form has expired" in answer.text
    assert stored(dashboard, eli) == before
    assert logged(dashboard, eli) == []


def test_forgetting_takes_the_typed_address_and_erases_the_person_and_their_clicks(
    dashboard: Dashboard,
) -> None:
    browser, engine = dashboard.admin, dashboard.engine
    with Session(engine) as session:
        zoe = registry.find(session, ZOE)
        assert zoe is not None and zoe.id is not None
        zoe_id, digest = zoe.id, address_hash(zoe.email_key)
    with engine.connect() as connection:
        delivery = connection.execute(
            select(DELIVERY.c.id).where(DELIVERY.c.subscriber_id == zoe_id)
        ).scalar_one()
        link = connection.execute(select(TRACKED_LINK.c.id).limit(1)).scalar_one()
    write_clicks(engine, [Click(Clock()(), "browser", "c1", link_id=link, delivery_id=delivery)])
    page = browser.get(f"/admin/subscribers/{zoe_id}").text
    assert "Forget this person" in page and "SHA-256 hash of the address" in page
    token = form_token(browser, f"/admin/subscribers/{zoe_id}")
    before = stored(dashboard, zoe_id)
    for typed in ("", "someone@example.org", "zoe@example"):
        wrong = browser.post(
            f"/admin/subscribers/{zoe_id}/forget", data={"csrf": token, "address": typed}
        )
        assert wrong.status_code == 422 and "nothing was deleted" in wrong.text
        assert 'aria-invalid="true" aria-describedby="problem-forget"' in wrong.text
    assert stored(dashboard, zoe_id) == before and logged(dashboard, zoe_id) == []

    answer = browser.post(
        f"/admin/subscribers/{zoe_id}/forget",
        data={"csrf": token, "address": " Zoe@Example.ORG "},  # Any spelling of it.
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/subscribers?forgotten=1"
    assert "The subscriber was forgotten" in browser.get(answer.headers["location"]).text
    assert stored(dashboard, zoe_id) is None  # The subscriber, their tags and history.
    assert browser.get(f"/admin/subscribers/{zoe_id}").status_code == 404
    with Session(engine) as session:
        assert session.get(Suppression, digest) is not None  # Never mailed again.
    with engine.connect() as connection:
        assert connection.execute(
            select(DELIVERY.c.subscriber_id).where(DELIVERY.c.id == delivery)
        ).scalar_one() is None  # fmt: skip
        clicks = connection.execute(
            select(LINK_CLICK.c.delivery_id).where(LINK_CLICK.c.link_id == link)
        ).all()
    assert [row.delivery_id for row in clicks] == [None]  # Counted, tied to no one.
    assert logged(dashboard, zoe_id) == [("ana", "subscriber.forget", {"subscriber_id": zoe_id})]
