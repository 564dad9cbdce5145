"""A mailing records the audience it queues (mailing.audience): an interrupted queueing is
completed by `send --resume`, `resume`, and the API's and dashboard's Resume, with the same
segment, local time and fallback edition, and without the operator giving them again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, update

from newsletter.access.audit import recent
from newsletter.audience.recorded import segment_data, segment_from_data
from newsletter.audience.targets import target_of, topic_target
from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.audience import LocalTime, audience_record, recorded_audience
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.subscribers.models import SUBSCRIBER
from newsletter.web.app import create_app

from .conftest import SmtpServer
from .test_api import API, bearer, key
from .test_delivery import ISSUE, make_project, newsletter

READERS = [(f"r{n}@example.org", f"R{n}", "de" if n % 2 else "en") for n in range(12)]
"""Six readers of each locale; the segment of the tests is the German ones."""
SEGMENT = 'locale = "de"'


def test_every_kind_of_segment_is_recorded_and_read_back_the_same(project: Project) -> None:
    config = project.config
    given = (
        '(ai or topic = "not a word!") and not locale in ["ar", "zh"] and company = "ACME" '
        'and plan != "free" and exists plan and subscribed after 2026-01-01 '
        'and timezone = "Europe/Berlin" and not (status = "bounced" or tier in ["a", "b"]) '
        'and locale != "ar" and (subscribed before 2027-01-01 or not exists plan)'
    )
    for target in (target_of(given, config), topic_target("not a word!", config)):
        record = audience_record(target, None, "en")
        assert recorded_audience(record).to == target
    local = LocalTime(datetime(2026, 12, 7, 9, 0), "Asia/Tokyo")
    read = recorded_audience(audience_record(None, local, "de"))
    assert (read.to, read.local_time, read.default_locale) == (None, local, "de")


def recorded(segment: object, zone: object = "UTC", local: object = None) -> str:
    """A record of `segment` (as data), written as a hand or a bug could have written it."""
    to = {"text": "x", "zone": zone, "segment": segment}
    return json.dumps({"to": to, "local_time": local, "default_locale": "en"})


def too_deep_for_json() -> str:
    """A record nested deeper than the json module reads (and writes)."""
    segment = '{"test": "Not", "term": ' * 5000 + '{"test": "Topic", "name": "a"}' + "}" * 5000
    return recorded("SEGMENT").replace('"SEGMENT"', segment)


def nested(depth: int) -> dict[str, object]:
    segment: dict[str, object] = {"test": "Topic", "name": "a"}
    for _ in range(depth):
        segment = {"test": "Not", "term": segment}
    return segment


@pytest.mark.parametrize(
    "record",
    ["", "{}", "[]", "null", '"x"', '{"to": null}', '{"to": {"text": "x"}, "local_time": null}',
     '{"to": null, "local_time": null, "default_locale": null}',
     recorded({"test": "Eval"}), recorded({"test": ["Topic"]}),
     recorded({"test": "Topic", "name": 5}),
     # An `and` or `or` of no test would compile to no condition: everyone.
     recorded({"test": "All", "terms": []}), recorded({"test": "Any_", "terms": [nested(0)]}),
     # A column no segment can name; a flag that is no boolean would invert the audience.
     recorded({"test": "Column", "name": "email", "values": ["a@b.org"], "negated": False}),
     recorded({"test": "Column", "name": "locale", "values": ["de"], "negated": "yes"}),
     recorded({"test": "Column", "name": "locale", "values": [], "negated": False}),
     recorded({"test": "Subscribed", "day": "2026-01-01"}),
     recorded({"test": "Subscribed", "before": True, "day": 20260101}),
     recorded(nested(400)), too_deep_for_json(),
     recorded(nested(0), zone="Nowhere/Nope"), recorded(nested(0), zone=5),
     recorded(nested(0), local=["2026-12-07T09:00:00+05:00", "UTC"]),
     recorded(nested(0), local=["2026-12-07T09:00:00", "Nowhere/Nope"]),
     recorded(nested(0), local=["not a time", "UTC"]), recorded(nested(0), local="09:00")],
)  # fmt: skip
def test_what_the_parser_could_not_have_made_is_refused(record: str) -> None:
    """A record is only ever written by a queueing, but a database is edited by hand, restored
    from elsewhere, or damaged: what could not come from a segment is refused, never read as
    another audience nor raised as anything but ValueError."""
    with pytest.raises(ValueError):
        recorded_audience(record)


def test_a_segment_test_with_a_wrong_field_is_refused(project: Project) -> None:
    segment = target_of('locale in ["de", "en"]', project.config).segment
    data = segment_data(segment)
    assert segment_from_data(json.loads(json.dumps(data))) == segment
    for wrong in ({**data, "values": "de"}, {**data, "values": [1]}, {**data, "name": None}):
        with pytest.raises(ValueError):
            segment_from_data(wrong)


def test_send_resume_queues_the_rest_of_an_interrupted_segment_and_delivers_it(
    project: Project, smtp_server: SmtpServer
) -> None:
    """Before, `send --resume` delivered what was queued and called the send done."""
    code, output = newsletter(project, "send", ISSUE, "--to", SEGMENT)
    assert code == 0, output
    assert len(smtp_server.received) == 6
    engine = create_db_engine(database_url(project))
    lost = interrupt(engine, keep=2)  # As if killed after the first two were queued.
    code, output = newsletter(project, "status", ISSUE)
    assert f"`newsletter send --resume {ISSUE}` queues the rest" in " ".join(output.split())
    code, output = newsletter(project, "send", ISSUE, "--resume")
    assert code == 0, output
    assert "4 recipients added: the rest of the send's audience" in " ".join(output.split())
    again = [message.recipients[0] for message in smtp_server.received[6:]]
    assert sorted(again) == sorted(lost)  # The German readers not queued before, nobody else.
    assert delivered(engine) == (6, None)
    engine.dispose()


def test_sending_to_other_readers_leaves_the_interrupted_audience_marked_for_its_rest(
    project: Project, smtp_server: SmtpServer
) -> None:
    """Before, the other readers' queueing, once complete, cleared the mark the interrupted
    one had left: the rest of the German readers were never queued, and nothing said so. Nor
    does the new send queue them: the operator asked for other readers (a send to everyone
    stopped on purpose must not go on because a test group is sent the issue)."""
    assert newsletter(project, "send", ISSUE, "--to", SEGMENT)[0] == 0
    engine = create_db_engine(database_url(project))
    lost = interrupt(engine, keep=2)
    code, output = newsletter(project, "send", ISSUE, "--to", 'locale = "en"')
    assert code == 0, output
    told = " ".join(output.split())
    assert "6 recipients added" in told
    assert f"if that was interrupted, `newsletter send --resume {ISSUE}`" in told
    english = [email for email, _, locale in READERS if locale == "en"]
    assert sorted(m.recipients[0] for m in smtp_server.received[6:]) == sorted(english)
    code, output = newsletter(project, "send", ISSUE, "--resume")
    assert code == 0 and "4 recipients added" in output, output
    assert sorted(m.recipients[0] for m in smtp_server.received[12:]) == sorted(lost)
    assert delivered(engine) == (12, None)
    engine.dispose()


def test_the_rest_queued_is_the_audience_of_the_queueing_interrupted_last(
    project: Project, smtp_server: SmtpServer
) -> None:
    """The mailing was made for the German readers; then a send to the English ones, of the
    same mailing, was interrupted: its record is the one a resume follows."""
    assert newsletter(project, "send", ISSUE, "--to", SEGMENT)[0] == 0
    assert newsletter(project, "send", ISSUE, "--to", 'locale = "en"')[0] == 0
    engine = create_db_engine(database_url(project))
    lost = interrupt(engine, keep=3)  # Readers of both segments.
    english = {email for email, _, locale in READERS if locale == "en"}
    code, output = newsletter(project, "resume", ISSUE)
    assert code == 0, output
    assert f"{len(english & set(lost))} recipients added" in output
    with engine.connect() as connection:
        queued = select(SUBSCRIBER.c.email).join(
            DELIVERY, DELIVERY.c.subscriber_id == SUBSCRIBER.c.id
        )
        now_queued = set(connection.execute(queued).scalars())
    assert now_queued == {email for email, _, _ in READERS} - (set(lost) - english)
    engine.dispose()


def test_the_api_resume_queues_the_rest_and_the_audit_log_says_how_many(
    project: Project, smtp_server: SmtpServer
) -> None:
    token = bearer(key(project, "sends:write", "sends:read"))
    with TestClient(create_app(project)) as client:
        started = client.post(
            f"{API}/sends",
            json={"issue": ISSUE, "to": SEGMENT},
            headers={**token, "Idempotency-Key": "s"},
        )
        assert started.status_code == 202, started.text
        engine = create_db_engine(database_url(project))
        interrupt(engine, keep=1)
        interrupted = client.get(f"{API}/sends/{ISSUE}", headers=token).json()
        assert interrupted["queueing_since"] is not None and interrupted["states"] == {"queued": 1}
        resumed = client.post(f"{API}/sends/{ISSUE}/resume", headers=token).json()
    assert resumed["queueing_since"] is None and resumed["states"] == {"queued": 6}
    assert delivered(engine) == (6, None)
    [entry] = [entry for entry in recent(engine) if entry.action == "send.resume"]
    assert json.loads(entry.detail) == {"added": 5}
    assert smtp_server.received == []
    engine.dispose()


def test_a_send_started_before_the_audience_was_recorded_says_how_to_queue_the_rest(
    project: Project,
) -> None:
    """A mailing of migration 0019's schema interrupted while queueing has no record: resuming
    it goes on as before (nobody added, not everyone), and status says to send it again with
    its segment."""
    engine = create_db_engine(database_url(project))
    assert newsletter(project, "send", ISSUE, "--to", 'locale = "xx"')[0] == 0  # Nobody.
    with engine.begin() as connection:
        connection.execute(update(MAILING).values(queueing_since=datetime.now(UTC), audience=""))
    code, output = newsletter(project, "status", ISSUE)
    assert f"`newsletter send {ISSUE}` with the send's --to or --tag" in " ".join(output.split())
    code, output = newsletter(project, "resume", ISSUE)
    assert code == 0 and "added" not in output, output
    count, mark = delivered(engine)
    assert count == 0 and mark is not None
    engine.dispose()


def test_a_record_that_cannot_be_read_stops_a_resume_before_it_changes_anything(
    project: Project,
) -> None:
    engine = create_db_engine(database_url(project))
    assert newsletter(project, "send", ISSUE, "--to", 'locale = "xx"')[0] == 0  # Nobody.
    assert newsletter(project, "pause", ISSUE)[0] == 0
    damaged = recorded({"test": "All", "terms": []})
    with engine.begin() as connection:
        connection.execute(
            update(MAILING).values(queueing_since=datetime.now(UTC), audience=damaged)
        )
    for command in (["resume", ISSUE], ["send", ISSUE, "--resume"]):
        code, output = newsletter(project, *command)
        assert code == 1 and "the audience it recorded cannot be read" in output, output
    with engine.connect() as connection:
        assert connection.execute(select(MAILING.c.paused_at)).scalar_one() is not None
    assert delivered(engine)[0] == 0
    engine.dispose()


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    return make_project(tmp_path, f"{smtp_server.url}?connections=1", readers=READERS)


def interrupt(engine: Engine, keep: int) -> list[str]:
    """The send's queueing as if interrupted after its first `keep` readers: the deliveries
    after them taken away, the mark set again; the addresses taken away."""
    with engine.begin() as connection:
        ids = connection.execute(select(DELIVERY.c.subscriber_id).order_by("subscriber_id"))
        gone = list(ids.scalars())[keep:]
        connection.execute(delete(DELIVERY).where(DELIVERY.c.subscriber_id.in_(gone)))
        connection.execute(update(MAILING).values(queueing_since=datetime.now(UTC)))
        addresses = select(SUBSCRIBER.c.email).where(SUBSCRIBER.c.id.in_(gone))
        return list(connection.execute(addresses).scalars())


def delivered(engine: Engine) -> tuple[int, object]:
    """How many deliveries the send has, and its queueing mark."""
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(DELIVERY)).scalar_one()
        mark = connection.execute(select(MAILING.c.queueing_since)).scalar_one()
    return count, mark
