"""Mailboxes: a pass over a Maildir or an mbox file, messages moved or kept, none lost or repeated."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path

import pytest

from newsletter.errors import NewsletterError
from newsletter.inbound.notices import Reading
from newsletter.inbound.processor import PassReport, process, process_source
from newsletter.inbound.sources import MaildirSource, open_source

from .inbound_mail import bounce_message, read_test_message
from .test_inbound_processor import NOW, Newsletter, make_newsletter


@pytest.fixture
def news(tmp_path: Path) -> Newsletter:
    return make_newsletter(tmp_path / "project")


def make_maildir(path: Path, messages: list[bytes]) -> Path:
    """A Maildir (as the MTA leaves it) holding `messages` in new/, oldest first."""
    box = mailbox.Maildir(path, create=True)
    for number, message in enumerate(messages):
        key = box.add(message)
        stamp = 1_700_000_000 + number  # Oldest first by the time they arrived.
        os.utime(path / "new" / key, (stamp, stamp))
    box.close()
    return path


def run_pass(news: Newsletter, url: str, limit: int | None = None) -> PassReport:
    source = open_source(url, news.project.secrets, news.project.root)
    try:
        return process_source(
            news.engine, source, settings=news.settings, now=NOW, limit=limit,
            read=read_test_message,
        )  # fmt: skip
    finally:
        source.close()


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_a_maildir_pass_moves_what_it_processed_and_flags_what_it_keeps(
    news: Newsletter, tmp_path: Path
) -> None:
    inbox = make_maildir(
        tmp_path / "bounces",
        [
            bounce_message(1, "hard", verp=news.verp("ada@example.org"), status="5.1.1"),
            bounce_message(2, "hard", recipient="stranger@example.net"),  # Matches nobody.
            b"\x00\xff binary junk, no headers at all",  # Unreadable.
            bounce_message(4, "delay", verp=news.verp("wei@example.cn")),
        ],
    )
    report = run_pass(news, f"maildir:{inbox}")
    assert (report.processed, report.duplicates, report.kept, report.failed) == (4, 0, 2, 0)
    assert (report.matched, report.unmatched) == (2, 1)
    assert report.kinds == {"hard": 2, "delay": 1}
    assert report.actions["suppressed"] == 1
    assert news.subscriber("ada@example.org").status == "bounced"
    assert files(inbox / "new") == []
    processed = files(inbox / ".Processed" / "cur")
    assert len(processed) == 2 and all(name.endswith(":2,S") for name in processed)
    assert (inbox / ".Processed" / "maildirfolder").exists()
    kept = files(inbox / "cur")
    assert len(kept) == 2 and all(name.endswith(":2,F") for name in kept)
    # The next pass finds nothing new: moved ones are gone, flagged ones wait for a human.
    again = run_pass(news, f"maildir:{inbox}")
    assert (again.processed, again.duplicates, again.kept) == (0, 0, 0)
    assert len(news.events()) == 3


def test_a_message_stored_but_not_moved_is_moved_by_the_next_pass(
    news: Newsletter, tmp_path: Path
) -> None:
    raw = bounce_message(1, "hard", verp=news.verp("ada@example.org"))
    inbox = make_maildir(tmp_path / "bounces", [raw])
    # A pass killed after storing the outcome, before moving the message.
    process(news.engine, read_test_message(raw, "x"), settings=news.settings, now=NOW)
    report = run_pass(news, f"maildir:{inbox}")
    assert (report.processed, report.duplicates, report.kept) == (0, 1, 0)
    assert files(inbox / "new") == [] and len(files(inbox / ".Processed" / "cur")) == 1
    assert len(news.events()) == 1


def test_a_message_that_makes_the_reader_fail_is_kept_and_the_pass_goes_on(
    news: Newsletter, tmp_path: Path
) -> None:
    inbox = make_maildir(
        tmp_path / "bounces",
        [bounce_message(1, "poison"), bounce_message(2, "hard", verp=news.verp("ada@example.org"))],
    )
    report = run_pass(news, f"maildir:{inbox}")
    assert (report.processed, report.kept) == (2, 1)
    assert news.subscriber("ada@example.org").status == "bounced"
    [kept] = files(inbox / "cur")
    assert kept.endswith(":2,F")


def test_a_pass_stops_at_its_limit(news: Newsletter, tmp_path: Path) -> None:
    messages = [bounce_message(n, "delay", verp=news.verp("ada@example.org")) for n in range(5)]
    inbox = make_maildir(tmp_path / "bounces", messages)
    assert run_pass(news, f"maildir:{inbox}", limit=2).processed == 2
    assert len(files(inbox / "new")) == 3
    assert run_pass(news, f"maildir:{inbox}").processed == 3


def test_an_mbox_replay_reads_every_message_and_changes_nothing_in_the_file(
    news: Newsletter,
) -> None:
    path = news.project.root / "replay.mbox"
    box = mailbox.mbox(path)
    box.add(bounce_message(1, "complaint", verp=news.verp("wei@example.cn")))
    box.add(bounce_message(2, "autoreply", recipient="ada@example.org"))
    box.close()
    before = path.read_bytes()
    report = run_pass(news, "mbox:replay.mbox")  # Relative to the project folder.
    assert (report.processed, report.duplicates) == (2, 0)
    assert news.subscriber("wei@example.cn").status == "complained"
    again = run_pass(news, "mbox:replay.mbox")
    assert (again.processed, again.duplicates) == (0, 2)
    assert path.read_bytes() == before and len(news.events()) == 2


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("pop3://mail.example.org", "is not an inbound source"),
        ("maildir:", "is not an inbound source"),
        ("maildir:nowhere", "is not a Maildir"),
        ("mbox:missing.mbox", "cannot read the mbox file"),
        ("mbox:.", "is not an mbox file"),
    ],
)
def test_a_source_that_cannot_be_opened_is_one_clear_error(
    tmp_path: Path, url: str, error: str
) -> None:
    with pytest.raises(NewsletterError, match=error):
        open_source(url, {}, tmp_path)


def test_a_huge_message_is_handed_over_whole(tmp_path: Path) -> None:
    big = bounce_message(1) + b"x" * (25 * 1024 * 1024)
    inbox = make_maildir(tmp_path / "bounces", [big])
    [(key, raw)] = list(MaildirSource(inbox).messages())
    assert key.startswith("new/") and raw == big


def test_finish_refuses_a_key_outside_the_maildir(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "bounces", [bounce_message(1)])
    with pytest.raises(KeyError):
        MaildirSource(inbox).finish("../../etc/passwd", kept=False)


def test_a_processed_folder_removed_during_a_pass_is_made_again(tmp_path: Path) -> None:
    inbox = make_maildir(tmp_path / "bounces", [bounce_message(1), bounce_message(2)])
    source = MaildirSource(inbox)
    first, second = [key for key, _ in source.messages()]
    source.finish(first, kept=False)
    for path in sorted((inbox / ".Processed").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (inbox / ".Processed").rmdir()
    source.finish(second, kept=False)
    assert len(files(inbox / ".Processed" / "cur")) == 1
    assert (inbox / ".Processed" / "maildirfolder").is_file()


def test_the_reader_stands_for_classify() -> None:
    reading = read_test_message(bounce_message(7, "soft", recipient="a@example.org"), "s")
    assert isinstance(reading, Reading) and reading.notices[0].recipient == "a@example.org"
