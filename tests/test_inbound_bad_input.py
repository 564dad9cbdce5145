"""Bad input in the bounce mailbox, as an attacker or a broken MTA sends it: a DSN to a forged
or unknown return path, a truncated or non-MIME message, 25 MB, an ARF report without the
original headers, binary junk. Each is recorded with a reason, kept (flagged) for a human,
never crashes the pass, never changes a subscriber; the good message beside them is processed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.deliver.return_path import ReturnPaths

from .conftest import FIXTURES
from .test_inbound_cli import newsletter
from .test_inbound_commands import dsn
from .test_inbound_processor import BOUNCES, READERS, Newsletter, make_newsletter
from .test_inbound_sources import files, make_maildir


@pytest.fixture
def news(tmp_path: Path) -> Newsletter:
    return make_newsletter(tmp_path / "project")


def _hostile(news: Newsletter) -> dict[str, bytes]:
    ada, wei = "ada@example.org", "wei@example.cn"
    ours = news.verp(ada)
    local, _, domain = ours.partition("@")
    forged = local[:-4] + ("aaaa" if not local.endswith("aaaa") else "bbbb") + "@" + domain
    other_key = ReturnPaths("another-secret-key-0123456789abcdef", BOUNCES).for_delivery(
        news.deliveries[wei, 1].id or 0
    )
    arf = (FIXTURES / "bounces" / "arf-without-original-headers.eml").read_bytes()
    return {
        "forged return path": dsn(news, ada, verp=forged),
        "signed with another key": dsn(news, wei, verp=other_key),
        "unknown delivery": dsn(
            news,
            ada,
            verp=ReturnPaths("test-secret-key-0123456789abcdef", BOUNCES).for_delivery(987654),
        ),
        "truncated": dsn(news, wei)[:300],
        "not MIME": b"this is no email at all\r\njust text\r\n",
        "binary": bytes(range(256)) * 64,
        "25 MB": b"From: a@b.example\r\nSubject: big\r\n\r\n" + b"x" * (25 * 1024 * 1024),
        "ARF without the original": arf.replace(b"\n", b"\r\n"),
    }


def test_bad_input_is_kept_for_a_human_and_changes_nobody(news: Newsletter, tmp_path: Path) -> None:
    hostile = _hostile(news)
    good = dsn(news, "jonas@example.de")
    inbox = make_maildir(tmp_path / "inbox", [*hostile.values(), good])
    code, output = newsletter(news, "process", f"maildir:{inbox}")
    assert code == 0, output
    # Only the good report acted; every reader the hostile ones name is still subscribed.
    statuses = {address: news.subscriber(address).status for address in READERS}
    assert statuses == {**dict.fromkeys(READERS, "active"), "jonas@example.de": "bounced"}
    assert news.suppressed("ada@example.org") is None and news.suppressed("wei@example.cn") is None
    # Each hostile message is flagged and left in cur/ for a human; the good one was moved.
    kept = files(inbox / "cur")
    assert len(kept) == len(hostile) and all(name.endswith(":2,F") for name in kept), kept
    assert len(files(inbox / ".Processed" / "cur")) == 1
    # Each stored with its reason; a second pass reads none of them again.
    code, output = newsletter(news, "process", f"maildir:{inbox}")
    assert code == 0 and ": 0 processed, 0 duplicates" in output, output
    events = news.events()
    reasons = {event.reason for event in events if event.reason}
    assert any("forged return path" in reason for reason in reasons), reasons
    assert any("since deleted" in r or "no delivery" in r or "987654" in r for r in reasons), (
        reasons
    )


def test_the_reasons_are_there_for_the_operator(news: Newsletter, tmp_path: Path) -> None:
    hostile = _hostile(news)
    folder = tmp_path / "files"
    folder.mkdir()
    paths = []
    for number, raw in enumerate(hostile.values()):
        path = folder / f"{number}.eml"
        path.write_bytes(raw)
        paths.append(str(path))
    code, output = newsletter(news, "classify", "--json", *paths)
    assert code == 0, output
    read = json.loads(output)
    by_file = {Path(entry["file"]).name: entry for entry in read}
    assert set(by_file) == {f"{n}.eml" for n in range(len(hostile))}
    for entry in read:
        assert entry["delivery"] is None or entry["kind"] in ("unknown", "complaint")
        assert entry["problem"] or entry["reason"] or entry["kind"] == "unknown", entry
