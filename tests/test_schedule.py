"""Schedules: the commands, and firings driven by APScheduler's own triggers with an injected clock.

The service that runs them (`newsletter run`, real processes and real time) is in
test_service.py; here each firing is started the way the service's scheduler starts it, at the
times the schedule's trigger yields, with the clock set to those times.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from newsletter.config import Project
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.deliver.worker import Job, run_job
from newsletter.schedule.firing import Firer, claim_firing, complete_interrupted, fire, firings
from newsletter.schedule.leader import Lease, leader
from newsletter.schedule.models import JOBS
from newsletter.schedule.specs import Schedule
from newsletter.schedule.store import editing, planned, scheduler_for
from newsletter.sends import load_issue, start_send
from newsletter.subscribers.models import SUBSCRIBER

from .conftest import ROOT, SmtpServer
from .test_delivery import add_reader, make_project, newsletter

FIRST = "2024-03-10-ai-revolution-accelerates"  # en, zh; the oldest issue
SECOND = "2024-05-07-this-month-in-ai"  # en, ar


def mark_ready(project: Project, slug: str) -> None:
    """Copy the sample issue into the project if needed and set `status: ready` on it."""
    folder = project.issues_path / slug
    if not folder.exists():
        shutil.copytree(ROOT / "issues" / slug, folder)
    main = folder / "issue.md"
    text = main.read_text(encoding="utf-8").replace("status: sent\n", "")  # The samples were sent.
    main.write_text(text.replace("---\n", "---\nstatus: ready\n", 1), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    made = make_project(
        tmp_path, smtp_server.url + "?connections=1", readers=[],
        timezone='"Europe/Berlin"', editor_address='"editor@news.example.org"',
    )  # fmt: skip
    add_reader(made, "ada@example.org", "Ada", "en", "Europe/London")
    add_reader(made, "wei@example.cn", "伟", "zh", "Asia/Shanghai")
    return made


def engine_of(project: Project):  # type: ignore[no-untyped-def]
    return create_db_engine(database_url(project))


def the_job(project: Project, job_id: str):  # type: ignore[no-untyped-def]
    engine = engine_of(project)
    with editing(engine, project.config) as scheduler:
        job = scheduler.get_job(job_id)
    engine.dispose()  # After the scheduler's last look at the job store (see store.editing).
    return job


def weekly_with_one_ready_issue(project: Project):  # type: ignore[no-untyped-def]
    """FIRST marked ready, a `mon 08:00` schedule; its job, its next time, an engine."""
    mark_ready(project, FIRST)
    assert newsletter(project, "schedule", "weekly", "mon 08:00")[0] == 0
    job = the_job(project, "weekly-mon-0800")
    return job, job.next_run_time, engine_of(project)


def deliver_due(project: Project, now: datetime) -> None:
    """Run a delivery worker over every mailing, with the clock at `now`."""
    engine = engine_of(project)
    with engine.connect() as connection:
        mailings = connection.execute(select(MAILING.c.id, MAILING.c.uid)).all()
    engine.dispose()
    for mailing_id, uid in mailings:
        run_job(Job.of(project, mailing_id, uid, clock=lambda: now), lambda: False)


def recipients_of(smtp_server: SmtpServer) -> Counter[tuple[str, str]]:
    """(recipient, subject) of each message received, counted."""
    return Counter((r.recipients[0], str(r.message["Subject"])) for r in smtp_server.received)


def test_schedule_commands_add_list_pause_resume_and_cancel(project: Project) -> None:
    code, output = newsletter(project, "schedule", "weekly", "mon 08:00", "--tz", "Asia/Shanghai")
    assert code == 0, output
    assert "scheduled weekly-mon-0800" in output and "Asia/Shanghai" in output
    code, output = newsletter(project, "schedule", "add", FIRST, "--at", "2031-12-01 08:00")
    assert code == 0, output
    assert "2031-12-01 07:00 UTC" in output  # 08:00 in the configured Europe/Berlin.
    code, output = newsletter(project, "schedule", "list")
    assert code == 0, output
    assert "weekly-mon-0800" in output and f"send-{FIRST}" in output
    assert "Mon" in output and "Asia/Shanghai" in output and "00:00 UTC" in output
    assert "no `newsletter run` is running" in output

    assert newsletter(project, "schedule", "pause", "weekly-mon-0800") == (
        0, "paused weekly-mon-0800\n"
    )  # fmt: skip
    schedules = {p.id: p for p in planned_now(project)}
    assert schedules["weekly-mon-0800"].next_run is None
    code, output = newsletter(project, "schedule", "resume", "weekly-mon-0800")
    assert code == 0 and "resumed weekly-mon-0800: next Mon" in output
    code, output = newsletter(project, "schedule", "cancel", f"send-{FIRST}")
    assert code == 0 and f"cancelled send-{FIRST}" in output
    assert [p.id for p in planned_now(project)] == ["weekly-mon-0800"]


def planned_now(project: Project):  # type: ignore[no-untyped-def]
    engine = engine_of(project)
    with editing(engine, project.config) as scheduler:
        found = planned(scheduler)
    engine.dispose()
    return found


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["weekly", "someday 08:00"], "'someday 08:00' is not a weekly time"),
        (["weekly", "mon 25:00"], "no such time of day"),
        (
            ["weekly", "mon 08:00", "--tz", "Mars/Olympus"],
            "--tz: 'Mars/Olympus' is not an IANA time zone",
        ),
        (["add", FIRST, "--at", "2020-01-01 08:00"], "has passed"),
        (["add", FIRST, "--at", "next tuesday"], "is not a date and time"),
        (["add", "no-such-issue", "--at", "2031-01-01 08:00"], "no-such-issue"),
        (["cancel", "weekly-tue-0900"], "no schedule 'weekly-tue-0900'"),
        (["pause", "weekly-tue-0900"], "no schedule 'weekly-tue-0900'"),
    ],
)
def test_schedule_commands_refuse_bad_input_in_one_line(
    project: Project, args: list[str], message: str
) -> None:
    code, output = newsletter(project, "schedule", *args)
    assert code == 1 and output.startswith("error: ") and message in output
    assert "fix: " in output
    assert planned_now(project) == []


def test_the_same_schedule_twice_and_an_issue_sent_already_are_refused(
    project: Project,
) -> None:
    assert newsletter(project, "schedule", "weekly", "fri 07:30")[0] == 0
    code, output = newsletter(project, "schedule", "weekly", "fri 07:30")
    assert code == 1 and "schedule weekly-fri-0730 exists already" in output
    assert newsletter(project, "send", FIRST)[0] == 0
    code, output = newsletter(project, "schedule", "add", FIRST, "--at", "2031-01-01 08:00")
    assert code == 1 and f"issue {FIRST} has been sent already" in output


def test_weekly_0230_berlin_over_the_autumn_dst_change_sends_each_issue_once(
    project: Project, smtp_server: SmtpServer
) -> None:
    mark_ready(project, FIRST)
    mark_ready(project, SECOND)
    assert newsletter(project, "schedule", "weekly", "sun 02:30", "--tz", "Europe/Berlin")[0] == 0
    job = the_job(project, "weekly-sun-0230")

    # The firings APScheduler's trigger yields from Sunday 18 October to Sunday 1 November
    # 2026: the clocks go back at 03:00 on the 25th, and 02:30 comes twice that night.
    times, previous = [], None
    now = datetime(2026, 10, 17, tzinfo=UTC)
    while (due := job.trigger.get_next_fire_time(previous, now)) < datetime(
        2026, 11, 2, tzinfo=UTC
    ):
        times.append(due)
        previous, now = due, due
    assert [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in times] == [
        "10-18 00:30", "10-25 00:30", "10-25 01:30", "11-01 01:30",
    ]  # fmt: skip

    engine = engine_of(project)
    for due in times:
        firer = Firer(project, engine, clock=lambda due=due: due + timedelta(seconds=2))
        fire(firer, job.id, due, **job.kwargs)
        deliver_due(project, due + timedelta(seconds=3))

    received = recipients_of(smtp_server)
    readers = ["ada@example.org", "wei@example.cn"]
    for reader in readers:
        to_reader = [
            subject for (to, subject), n in received.items() for _ in range(n) if to == reader
        ]
        assert len(to_reader) == 2, to_reader  # One message per issue, none twice.
    record = [(f.wall_time, f.state, f.issue) for f in reversed(firings(engine))]
    assert record == [
        ("2026-10-18 02:30:00", "queued", FIRST),
        ("2026-10-25 02:30:00", "queued", SECOND),
        ("2026-11-01 02:30:00", "no-issue", ""),
    ]
    # The third week had nothing ready: the editor was told.
    notice = [r for r in smtp_server.received if r.recipients == ["editor@news.example.org"]]
    assert len(notice) == 1
    assert "No issue ready for the send of 2026-11-01 02:30" in str(notice[0].message["Subject"])
    assert "status: ready" in notice[0].message.get_body(("plain",)).get_content()


def test_local_time_delivery_reaches_tokyo_before_new_york(
    project: Project, smtp_server: SmtpServer
) -> None:
    add_reader(project, "yuki@example.jp", "Yuki", "en", "Asia/Tokyo")
    add_reader(project, "sam@example.com", "Sam", "en", "America/New_York")
    code, output = newsletter(
        project, "schedule", "add", FIRST, "--at", "2031-12-01 08:00", "--local-time"
    )
    assert code == 0, output
    assert "2031-11-30 18:00 UTC" in output  # 08:00 first comes at UTC+14.
    job = the_job(project, f"send-{FIRST}")
    due = job.next_run_time
    engine = engine_of(project)
    fire(Firer(project, engine, clock=lambda: due), job.id, due, **job.kwargs)

    with engine.connect() as connection:
        due_at = dict(
            connection.execute(
                select(SUBSCRIBER.c.email, DELIVERY.c.not_before).join(
                    SUBSCRIBER, SUBSCRIBER.c.id == DELIVERY.c.subscriber_id
                )
            ).all()
        )
    tokyo = datetime(2031, 11, 30, 23, 0, tzinfo=UTC)  # 08:00 JST
    new_york = datetime(2031, 12, 1, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert due_at == {
        "wei@example.cn": datetime(2031, 12, 1, 0, 0, tzinfo=UTC),  # 08:00 in Shanghai
        "yuki@example.jp": tokyo,
        "ada@example.org": datetime(2031, 12, 1, 8, 0, tzinfo=UTC),  # 08:00 in London
        "sam@example.com": new_york,
    }

    deliver_due(project, tokyo - timedelta(seconds=1))
    before_tokyo = {r.recipients[0] for r in smtp_server.received}
    assert "yuki@example.jp" not in before_tokyo and "sam@example.com" not in before_tokyo
    deliver_due(project, tokyo + timedelta(seconds=1))
    got = [r.recipients[0] for r in smtp_server.received]
    assert "yuki@example.jp" in got and "sam@example.com" not in got
    deliver_due(project, new_york + timedelta(seconds=1))
    got = [r.recipients[0] for r in smtp_server.received]
    assert got.index("yuki@example.jp") < got.index("sam@example.com")
    assert Counter(got) == Counter(
        ["ada@example.org", "wei@example.cn", "yuki@example.jp", "sam@example.com"]
    )


def test_a_firing_later_than_the_grace_period_is_reported_and_not_sent(
    project: Project, smtp_server: SmtpServer
) -> None:
    job, due, engine = weekly_with_one_ready_issue(project)
    late = due + timedelta(seconds=project.config.misfire_grace + 60)
    assert fire(Firer(project, engine, clock=lambda: late), job.id, due, **job.kwargs) == "missed"
    # Firing again for the same time (a restart) changes nothing.
    fire(Firer(project, engine, clock=lambda: late), job.id, due, **job.kwargs)
    [missed] = firings(engine)
    assert missed.state == "missed" and "missed by 361 minutes" in missed.detail
    with engine.connect() as connection:
        assert connection.execute(select(MAILING.c.id)).all() == []
    assert [r.recipients for r in smtp_server.received] == [["editor@news.example.org"]]
    assert "was missed" in str(smtp_server.received[0].message["Subject"])
    # Within the grace period, the same schedule's next firing sends.
    next_due = due + timedelta(days=7)
    fire(
        Firer(project, engine, clock=lambda: next_due + timedelta(hours=5)),
        job.id,
        next_due,
        **job.kwargs,
    )
    assert firings(engine)[0].state == "queued"


@pytest.mark.parametrize(
    ("audience", "command"),
    [([], f"newsletter send {FIRST}"),
     (["--tag", "weekly"], f"newsletter send {FIRST} --tag weekly"),
     (["--to", 'locale = "de"'], f"newsletter send {FIRST} --to 'locale = \"de\"'")],
    ids=["everyone", "tag", "segment"],
)  # fmt: skip
def test_an_issue_that_fails_to_load_at_firing_time_fails_the_firing_and_tells_the_editor(
    project: Project, smtp_server: SmtpServer, audience: list[str], command: str
) -> None:
    """The notice says how to send it: to the schedule's readers (before, the command it gave
    had no --to or --tag, and would have queued every subscriber)."""
    add = ["schedule", "add", FIRST, "--at", "2031-12-01 08:00", *audience]
    assert newsletter(project, *add)[0] == 0
    [made] = planned_now(project)
    job = the_job(project, made.id)
    shutil.rmtree(project.issues_path / FIRST)
    due = job.next_run_time
    engine = engine_of(project)
    assert fire(Firer(project, engine, clock=lambda: due), job.id, due, **job.kwargs) == "failed"
    [failed] = firings(engine)
    assert failed.state == "failed" and FIRST in failed.detail
    [notice] = smtp_server.received
    assert notice.recipients == ["editor@news.example.org"]
    assert f"The send of {FIRST} failed" in str(notice.message["Subject"])
    body = " ".join(notice.message.get_content().split())
    assert f"send it with `{command}`: it queues whoever of the schedule's readers" in body


def test_one_lease_holder_at_a_time_and_takeover_when_it_ends(project: Project) -> None:
    engine = engine_of(project)
    now = datetime(2031, 1, 1, tzinfo=UTC)
    first, second = Lease(engine, "other-host:1", 10), Lease(engine, "other-host:2", 10)
    assert first.hold(now) and not second.hold(now)
    assert leader(engine, now) == "other-host:1"
    assert first.hold(now + timedelta(seconds=8))  # Renewed: now until 18 s.
    assert not second.hold(now + timedelta(seconds=15))
    assert second.hold(now + timedelta(seconds=19))  # Not renewed in time: taken over.
    assert not first.hold(now + timedelta(seconds=20))
    second.release()
    assert leader(engine, now + timedelta(seconds=21)) is None
    assert first.hold(now + timedelta(seconds=21))
    # A holder on this host whose process is gone loses the lease at once.
    Lease(engine, "ghost", 10).release()
    dead = Lease(engine, f"{__import__('socket').gethostname()}:999999", 10)
    first.release()
    assert dead.hold(now + timedelta(seconds=22))
    assert first.hold(now + timedelta(seconds=23))


def test_a_firing_interrupted_half_way_is_completed_by_the_next_leader(
    project: Project, smtp_server: SmtpServer
) -> None:
    job, due, engine = weekly_with_one_ready_issue(project)
    # A leader killed right after it chose the issue: the firing is recorded, nothing queued.
    firing, new = claim_firing(engine, job.id, Schedule(**job.kwargs), due, due, FIRST)
    assert new and firing.state == "started"
    with engine.connect() as connection:
        assert connection.execute(select(MAILING.c.id)).all() == []

    assert complete_interrupted(Firer(project, engine, clock=lambda: due)) == 1
    [done] = firings(engine)
    assert (done.state, done.issue, done.detail[:20]) == ("queued", FIRST, "2 recipients queued ")
    assert complete_interrupted(Firer(project, engine, clock=lambda: due)) == 0
    deliver_due(project, due + timedelta(seconds=1))
    assert sorted(r.recipients[0] for r in smtp_server.received) == [
        "ada@example.org", "wei@example.cn",
    ]  # fmt: skip


def test_a_pause_or_cancel_racing_the_leaders_write_back_wins(project: Project) -> None:
    assert newsletter(project, "schedule", "weekly", "mon 08:00")[0] == 0
    engine = engine_of(project)
    leader = scheduler_for(engine, project.config, Firer(project, engine))
    leader.start(paused=True)
    try:
        store = leader._jobstores["default"]
        with engine.begin() as connection:  # The schedule comes due.
            connection.execute(update(JOBS).values(next_run_time=1.0))
        [due] = store.get_due_jobs(datetime.now(UTC))
        # The leader hands it to the executor; meanwhile the editor pauses it...
        assert newsletter(project, "schedule", "pause", "weekly-mon-0800")[0] == 0
        due._modify(next_run_time=datetime(2031, 1, 6, 7, tzinfo=UTC))
        store.update_job(due)  # ...and the leader writes back next week's time.
        assert planned_now(project)[0].next_run is None  # Still paused.
        # Cancelled meanwhile: writing back or removing it is no error.
        assert newsletter(project, "schedule", "cancel", "weekly-mon-0800")[0] == 0
        store.update_job(due)
        leader.remove_job(due.id)
        assert planned_now(project) == []
    finally:
        leader.shutdown(wait=False)
        engine.dispose()


def test_a_firing_interrupted_until_past_the_grace_period_is_missed_and_reported(
    project: Project, smtp_server: SmtpServer
) -> None:
    job, due, engine = weekly_with_one_ready_issue(project)
    claim_firing(engine, job.id, Schedule(**job.kwargs), due, due, FIRST)
    late = due + timedelta(seconds=project.config.misfire_grace + 60)
    assert complete_interrupted(Firer(project, engine, clock=lambda: late)) == 1
    [missed] = firings(engine)
    assert (missed.state, missed.issue) == ("missed", FIRST)
    with engine.connect() as connection:
        assert connection.execute(select(MAILING.c.id)).all() == []
    [notice] = smtp_server.received
    assert notice.recipients == ["editor@news.example.org"]
    assert "was missed" in str(notice.message["Subject"])
    listed = newsletter(project, "schedule", "list")[1]
    assert f"last: {missed.wall_time[:16]} missed {FIRST} missed by 361 minutes" in listed


def test_a_firing_interrupted_once_part_of_its_audience_was_queued_is_completed_however_late(
    project: Project, smtp_server: SmtpServer
) -> None:
    """Its first readers may have the issue by then: the rest get it too, and the editor is
    not told that nothing was sent."""
    job, due, engine = weekly_with_one_ready_issue(project)
    claim_firing(engine, job.id, Schedule(**job.kwargs), due, due, FIRST)
    # As a leader killed after the first part of the audience leaves it: one reader queued.
    start_send(project, engine, load_issue(project, FIRST), to=None, clock=lambda: due)
    with engine.begin() as connection:
        last = select(DELIVERY.c.id).order_by(DELIVERY.c.id.desc()).limit(1).scalar_subquery()
        connection.execute(delete(DELIVERY).where(DELIVERY.c.id == last))
        connection.execute(update(MAILING).values(queueing_since=due))
    late = due + timedelta(seconds=project.config.misfire_grace + 60)
    assert complete_interrupted(Firer(project, engine, clock=lambda: late)) == 1
    [done] = firings(engine)
    assert (done.state, done.issue, done.detail[:20]) == ("queued", FIRST, "1 recipients queued ")
    with engine.connect() as connection:
        assert connection.execute(select(MAILING.c.queueing_since)).all() == [(None,)]
    deliver_due(project, late + timedelta(seconds=1))
    assert sorted(r.recipients[0] for r in smtp_server.received) == [
        "ada@example.org", "wei@example.cn",
    ]  # fmt: skip


def test_schedule_commands_never_run_or_remove_a_due_schedule(
    project: Project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A command's scheduler was started paused and shut down; shutdown left it stopped, not
    paused, and its thread looked for due jobs once more: it handed a due one-off to its shut
    executor (an error in a thread) and could remove it, though only the leader fires it."""
    mark_ready(project, "2024-03-10-ai-revolution-accelerates")
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    code, output = newsletter(
        project, "schedule", "add", "2024-03-10-ai-revolution-accelerates",
        "--at", f"{due:%Y-%m-%d %H:%M:%S}", "--tz", "UTC",
    )  # fmt: skip
    assert code == 0, output
    failures: list[BaseException | None] = []
    monkeypatch.setattr("threading.excepthook", lambda args: failures.append(args.exc_value))
    while datetime.now(UTC) <= due:  # No `run` process: the schedule is due and waits for one.
        time.sleep(0.1)
    engine = engine_of(project)
    for _ in range(40):  # Each change wakes the command's scheduler thread just before shutdown.
        with editing(engine, project.config) as scheduler:
            scheduler.wakeup()
    time.sleep(0.5)  # Threads that outlive their command finish meanwhile.
    engine.dispose()
    assert failures == []
    assert not [r for r in caplog.records if r.name.startswith("apscheduler") and r.levelno >= 30]
    [left] = planned_now(project)
    assert left.id == "send-2024-03-10-ai-revolution-accelerates"
    assert firings(engine_of(project)) == []
