"""`newsletter inbound`: bad input is one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.cli.inbound import summary
from newsletter.inbound.processor import PassReport

from .test_inbound_processor import SECRET, Newsletter, make_newsletter


@pytest.fixture
def news(tmp_path: Path) -> Newsletter:
    return make_newsletter(tmp_path / "project")


def newsletter(news: Newsletter, *args: str, secret: str = SECRET) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["--config", str(news.project.source), "inbound", *args],
        env={"NEWSLETTER_SECRET_KEY": secret},
    )
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("pop3://mail.example.org/", "error: 'pop3://mail.example.org/' is not an inbound source"),
        ("maildir:nowhere", "is not a Maildir (it needs new/, cur/ and tmp/ folders)"),
        ("mbox:missing.mbox", "cannot read the mbox file"),
    ],
)
def test_process_refuses_a_source_it_cannot_open_in_one_line(
    news: Newsletter, url: str, error: str
) -> None:
    code, output = newsletter(news, "process", url)
    assert code == 1 and error in output
    assert output.count("error:") == 1


def test_process_needs_the_secret_key_when_return_paths_are_on(
    news: Newsletter, tmp_path: Path
) -> None:
    code, output = newsletter(news, "process", "maildir:x", secret="")
    assert code == 1 and "NEWSLETTER_SECRET_KEY is missing" in output


def test_classify_refuses_a_missing_file_in_one_line(news: Newsletter, tmp_path: Path) -> None:
    code, output = newsletter(news, "classify", str(tmp_path / "nope.eml"))
    assert code == 1 and "nope.eml: no such file" in output


def test_classify_given_a_folder_says_it_is_a_folder(news: Newsletter, tmp_path: Path) -> None:
    # "no such file" for a Maildir that is there sent the operator looking for a typo.
    (tmp_path / "box" / "new").mkdir(parents=True)
    code, output = newsletter(news, "classify", str(tmp_path / "box"))
    assert code == 1 and "box: a folder, not a message file" in output, output
    assert "box/new/*" in output and "box/cur/*" in output, output


def test_a_limit_below_one_is_refused(news: Newsletter) -> None:
    code, output = newsletter(news, "process", "maildir:x", "--limit", "0")
    assert code == 2 and "--limit" in output


def test_the_summary_says_what_a_pass_did() -> None:
    report = PassReport(
        "maildir:/var/mail/bounces", processed=5, duplicates=2, matched=4, unmatched=1, kept=1,
        kinds=Counter({"hard": 3, "soft": 2}), actions=Counter({"suppressed": 3, "none": 2}),
    )  # fmt: skip
    assert summary(report) == [
        "maildir:/var/mail/bounces: 5 processed, 2 duplicates (processed before), "
        "1 kept for a human",
        "notices: 4 matched, 1 unmatched; hard 3, soft 2",
        "done: suppressed 3",
    ]
