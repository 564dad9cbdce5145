"""The links of a sent message's plain-text part, as a reader's client finds them.

Every issue is sent for real (SMTP to 127.0.0.1) to readers in English, Chinese, Arabic and
German (who gets the English edition), with an address long enough to fill a line; the
editions are chosen so that both transfer encodings carry text parts in English and Arabic
(quoted-printable and base64) and Chinese (base64). Each message is read back with Python's
`email` package (policy default), and each link of its text part is opened in the web app.

A URL stands "on a line of its own" when, on its line, nothing follows it and at most a label
precedes it: a reference marker (`[3] https://…`, the list of links) or a footer label ending
in a colon and a space (`Unsubscribe: https://…`). A client that finds URLs in plain text then
takes exactly the URL, never a word glued to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from newsletter.config import Project
from newsletter.deliver.return_path import ReturnPaths
from newsletter.web.app import create_app

from .conftest import ROOT, SmtpServer
from .test_delivery import SECRET, make_project, newsletter, parsed

LONG_ADDRESS = "augusta.ada.king.countess.of.lovelace.analytical.engine@lovelace.example.org"
READERS = [
    (
        LONG_ADDRESS,
        "Augusta Ada King, Countess of Lovelace, née Byron, of the Analytical Engine",
        "en",
    ),
    ("wei@example.cn", "张伟", "zh"),
    ("noor@example.org", "نور الهدى عبد الرحمن بن عبد العزيز آل سعود الفيصل", "ar"),
    ("jonas@example.de", "Jonas Becker", "de"),
]
SAMPLES = ["2024-03-10-ai-revolution-accelerates", "2024-05-07-this-month-in-ai"]
MIXED = "2024-06-04-mixed-scripts"
URL = re.compile(r"https?://[^\s<>\"]+")
OWN_LINE = re.compile(r"(?:\[\d+\] |[^\s:][^:]*: )?(?P<url>https?://\S+)")
"""A line that holds one URL on its own: an optional `[n] ` or `Label: ` before it, nothing after."""


def _mixed_issue(issues: Path) -> None:
    """An issue whose English text is mostly Chinese (base64) and whose Arabic one mostly Latin
    (quoted-printable): the encodings the sample issues do not give these languages."""
    quote = "「人工智能正在改变世界。」" * 60
    (issues / f"{MIXED}.md").write_text(
        "---\ntitle: Quotes of the week\ndate: 2024-06-04\nlang: en\nstatus: ready\n---\n\n"
        f"What they said, in the original:\n\n> {quote}\n\n"
        "## The paper\n\nSee [the paper](https://arxiv.org/abs/2403.09611) and "
        "[the code](https://github.com/apple/ml-mm1).\n",
        encoding="utf-8",
    )
    code = "\n".join(f"    model.fit(batch_{n}, epochs=3)  # step {n}" for n in range(40))
    (issues / f"{MIXED}.ar.md").write_text(
        "---\ntitle: اقتباسات الأسبوع\ndate: 2024-06-04\nstatus: ready\n---\n\n"
        f"الشيفرة كما هي:\n\n{code}\n\n"
        "## الورقة\n\nانظر [الورقة](https://arxiv.org/abs/2403.09611).\n",
        encoding="utf-8",
    )


BOUNCES = "bounces@bounces.news.example.org"


@pytest.fixture
def project(tmp_path: Path, smtp_server: SmtpServer) -> Project:
    project = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", readers=READERS, bounce_address=f'"{BOUNCES}"'
    )
    for slug in SAMPLES[1:]:
        (project.root / "issues" / slug).mkdir()
        for path in (ROOT / "issues" / slug).rglob("*"):
            target = project.root / "issues" / slug / path.relative_to(ROOT / "issues" / slug)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.is_file():
                target.write_bytes(path.read_bytes())
    _mixed_issue(project.root / "issues")
    return project


def _text_parts(smtp_server: SmtpServer) -> Iterator[tuple[str, str, str, str]]:
    """(recipient, language, transfer encoding, text) of each text part received."""
    for received in smtp_server.received:
        message = parsed(received.data)
        part = message.get_body(("plain",))
        assert part is not None
        text = part.get_content()
        assert isinstance(text, str)
        yield (
            received.recipients[0],
            message["Content-Language"],
            part["Content-Transfer-Encoding"],
            text,
        )


def test_every_url_of_every_text_part_stands_on_its_own_line_and_opens(
    project: Project, smtp_server: SmtpServer
) -> None:
    for slug in [*SAMPLES, MIXED]:
        code, output = newsletter(project, "send", slug)
        assert code == 0, output
    assert len(smtp_server.received) == 3 * len(READERS)
    # Each message went out with its own delivery's signed return path.
    paths = ReturnPaths(SECRET, BOUNCES)
    deliveries = [paths.delivery_of(received.sender) for received in smtp_server.received]
    assert None not in deliveries and len(set(deliveries)) == len(deliveries), deliveries
    client = TestClient(create_app(project))
    seen = set()
    for reader, language, encoding, text in _text_parts(smtp_server):
        seen.add((language, encoding))
        footer: dict[str, str] = {}
        for line in text.splitlines():
            if not URL.search(line):
                continue
            own = OWN_LINE.fullmatch(line)
            assert own, f"{reader} ({language}, {encoding}): a URL shares its line: {line!r}"
            assert len(URL.findall(line)) == 1, line
            if "/unsubscribe/" in line or "/preferences/" in line:
                footer[urlsplit(own["url"]).path.split("/")[1]] = own["url"]
            elif own["url"].startswith("https://news.example.org/") and line.endswith("/"):
                footer.setdefault("web", own["url"])
        assert set(footer) == {"unsubscribe", "preferences", "web"}, (reader, language, text)
        for kind, url in footer.items():
            assert url.startswith("https://news.example.org/")
            answer = client.get(url.removeprefix("https://news.example.org"))
            assert answer.status_code == 200, (
                f"{reader}: {kind} link {url} answers {answer.status_code}"
            )
            assert "<html" in answer.text
    assert {("en", "quoted-printable"), ("en", "base64"), ("zh", "base64")} <= seen
    assert {("ar", "quoted-printable"), ("ar", "base64")} <= seen
