"""Where tracking links are and are not: real sends (eml:) read back with the email package.

An issue with every kind of link an editor writes (Markdown and raw HTML, reference links,
autolinks, a linked image, the same URL in two stories, a URL with `&` and `'`, a Chinese path,
IDN hosts, mailto:, tel:, javascript: and data:) is sent to two English readers three times:
with the default settings (aggregate), with `tracking = "off"` (what the links were before
tracking) and with `tracking = "individual"` and `open_tracking = true`. What is compared is
what readers got: every `href` and `src` of the HTML part and every URL of the text part. After
a tracked send, every file of the archive (feeds too), of `newsletter build`, the preview's
pages and a test send are searched for tracking URLs: none of them may hold one.
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import select
from sqlmodel import Session
from starlette.testclient import TestClient

from newsletter.config import Project
from newsletter.content.loader import IssueLoader
from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY, MAILING
from newsletter.deliver.tracking_ids import LinkSigner
from newsletter.engagement.models import HONEYPOT, TRACKED_LINK
from newsletter.subscribers.models import Subscriber
from newsletter.subscribers.tokens import Tokens
from newsletter.web.preview import create_app as preview_app

from .test_delivery import ISSUE as SAMPLE
from .test_delivery import SECRET, make_project, newsletter, parsed

BASE = "https://news.example.org"
ISSUE = "2024-07-01-links"
READERS = [("ada@example.org", "Ada Lovelace", "en"), ("bob@example.org", "Bob Dylan", "en")]
PAPER = "https://arxiv.org/abs/2403.09611?a=1&b=2"
GUIDE = "https://en.wikipedia.org/wiki/The_Hitchhiker's_Guide"
CHINESE = "https://例子.中国/路径/文章?q=人工智能&x=1"
BOOKS = "https://bücher.example/straße?a=1&b=ü"
CODE = "https://github.com/apple/ml-mm1"
DATA = "https://data.example.org/set"
ISSUE_TEXT = f"""---
title: Links of the week
date: 2024-07-01
lang: en
status: ready
---

A lead with [a lead link](https://lead.example.com/intro) and [the data]({DATA}).

## [The first story](https://story.example.com/first)

Read [the paper]({PAPER}) and [Python](https://en.wikipedia.org/wiki/Python_(programming_language))
and [the guide]({GUIDE}) and <a href='https://single.example.com/q?x=1&amp;y=2'>single</a> and
[the code]({CODE}). [![alt of image](https://img.example.com/a.png)](https://image.example.com/)
and [a reference][r] and <https://auto.example.com/path>.

Not links: [bad](javascript:alert(1)), [worse](data:text/html;base64,PHNjcmlwdD4=),
<a href="javascript:alert(2)">raw</a>, <a href="data:text/html,hi">raw data</a>,
<a href=" JavaScript:alert(3)">spaced</a>, [a png](data:image/png;base64,iVBORw0KGgo=) and
![a pixel](data:image/png;base64,iVBORw0KGgo=). Write to [us](mailto:editors@example.org) or
[call](tel:+4930123).

[r]: https://ref.example.com/target "Title"

## Second story

The [Chinese page]({CHINESE}), <a href="{html.escape(BOOKS)}">Bücher</a>, again
[the code]({CODE}), [the data]({DATA}) and [our web page]({BASE}/en/{ISSUE}/).

---

Footer [site](https://footer.example.net/about).
"""
STORY_LINKS = {
    "the-first-story": {
        "https://story.example.com/first", PAPER,
        "https://en.wikipedia.org/wiki/Python_(programming_language)", GUIDE,
        "https://single.example.com/q?x=1&y=2", CODE, "https://image.example.com/",
        "https://ref.example.com/target", "https://auto.example.com/path",
    },
    "second-story": {CHINESE, BOOKS, CODE, DATA, f"{BASE}/en/{ISSUE}/"},
    "": {f"{BASE}/en/", "https://lead.example.com/intro", "https://footer.example.net/about"},
}  # fmt: skip
"""The links of each story as the editor wrote them ("": outside stories: the masthead's link
home, the lead, the footer). The lead's link to DATA, which the second story links too, is the
second story's: one URL, one link."""
_HTML_URL = re.compile(r"""\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_TEXT_URL = re.compile(r"(?:https?://|mailto:|tel:)[^\s<>\"]+")
TRACKING = re.compile(r"/[lo]/[1-9][0-9]*-")
"""The path of a tracking link or open pixel (`/l/ID-SIGNATURE`, `/o/MAILING-LOCALE-SIG...`)."""


@dataclass(frozen=True)
class Sent:
    """A project after one send of ISSUE: each reader's message, the links stored."""

    project: Project
    messages: dict[str, EmailMessage]
    links: dict[int, dict[str, object]]
    """tracked_link rows by id."""

    def html(self, address: str) -> str:
        return str(self.messages[address].get_body(("html",)).get_content())  # type: ignore[union-attr]

    def text(self, address: str) -> str:
        part = self.messages[address].get_body(("plain",))
        return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[union-attr]


def send_links_issue(root: Path, **settings: str) -> Sent:
    """ISSUE sent to READERS with these settings (eml:), read back."""
    root.mkdir(parents=True, exist_ok=True)
    project = make_project(root, "eml:outbox", readers=READERS, **settings)
    # The sample issue (marked sent, never sent here) would stop `newsletter archive`.
    shutil.rmtree(project.issues_path / SAMPLE)
    (project.issues_path / f"{ISSUE}.md").write_text(ISSUE_TEXT, encoding="utf-8")
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    messages = {}
    for path in (root / "outbox").glob("*.eml"):
        message = parsed(path.read_bytes())
        messages[str(message["To"]).rpartition("<")[2].rstrip(">")] = message
    assert sorted(messages) == sorted(email for email, _, _ in READERS)
    engine = create_db_engine(database_url(project))
    with engine.connect() as connection:
        rows = connection.execute(select(TRACKED_LINK)).mappings().all()
    engine.dispose()
    return Sent(project, messages, {row["id"]: dict(row) for row in rows})


@pytest.fixture(scope="module")
def aggregate(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    return send_links_issue(tmp_path_factory.mktemp("aggregate"))


@pytest.fixture(scope="module")
def off(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    return send_links_issue(tmp_path_factory.mktemp("off"), tracking='"off"')


@pytest.fixture(scope="module")
def individual(tmp_path_factory: pytest.TempPathFactory) -> Sent:
    root = tmp_path_factory.mktemp("individual")
    return send_links_issue(root, tracking='"individual"', open_tracking="true")


def html_urls(markup: str) -> list[str]:
    """Every `href` and `src` value of `markup`, unescaped, in order."""
    return [html.unescape(a if a is not None else b) for a, b in _HTML_URL.findall(markup)]


def text_urls(text: str) -> list[str]:
    """Every http(s), mailto: and tel: URL of a text part, in order."""
    return _TEXT_URL.findall(text)


def without_honeypot(markup: str) -> str:
    """The email HTML without its hidden link for scanners (the one `aria-hidden` link)."""
    hidden = re.findall(r'<a href="[^"]*" aria-hidden="true"[^>]*></a>', markup)
    assert len(hidden) == 1, hidden
    return markup.replace(hidden[0], "")


def where(url: str) -> tuple[str, str, str, str]:
    """Where a URL leads however it is spelled: its host in A-labels (percent-encoded or not),
    its path and query decoded."""
    parts = urlsplit(url)
    host = unquote(parts.netloc).encode("idna").decode("ascii").lower()
    return parts.scheme, host, unquote(parts.path), unquote(parts.query)


def link_of(sent: Sent, url: str, *, reader: bool = False) -> dict[str, object]:
    """The tracked link a tracking URL stands for, its signature checked: `/l/ID-SIGNATURE`
    and nothing else, or (`reader`) followed by one more part, the reader's delivery."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.query, parts.fragment) == (
        "https", "news.example.org", "", "",
    ), url  # fmt: skip
    segments = parts.path.split("/")
    assert segments[:2] == ["", "l"] and len(segments) == (4 if reader else 3), url
    link = LinkSigner(SECRET).link_of(segments[2])
    assert link is not None and link in sent.links, url
    return sent.links[link]


def original(sent: Sent, url: str) -> str:
    """Where a URL of a sent message goes: a tracking link's stored destination, else itself."""
    return str(link_of(sent, url)["url"]) if url.startswith(f"{BASE}/l/") else url


def reader_pages(sent: Sent, address: str) -> dict[str, str]:
    """The reader's own unsubscribe and preferences URLs, their tokens checked."""
    engine = create_db_engine(database_url(sent.project))
    tokens = Tokens(SECRET)
    found = {}
    with Session(engine) as session:
        for purpose in ("unsubscribe", "preferences"):
            [url] = {u for u in html_urls(sent.html(address)) if f"/{purpose}/" in u}
            assert url.startswith(f"{BASE}/{purpose}/")
            subscriber = tokens.subscriber(session, purpose, url.rpartition("/")[2])
            assert subscriber.email == address
            found[purpose] = url
    engine.dispose()
    return found


# -- Aggregate (the default): nobody in any URL --------------------------------------------------


def test_by_default_both_readers_get_the_same_urls_and_none_names_them(aggregate: Sent) -> None:
    ada, bob = (email for email, _, _ in READERS)
    own = {address: reader_pages(aggregate, address) for address in (ada, bob)}
    # RFC 8058: the one-click unsubscribe link of the header is the body's, signed for the reader.
    for address in (ada, bob):
        header = str(aggregate.messages[address]["List-Unsubscribe"])
        assert header.startswith(f"<{own[address]['unsubscribe']}>, <mailto:")
        assert aggregate.messages[address]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def shared(address: str) -> tuple[list[str], list[str]]:
        mine = set(own[address].values())
        return (
            [u for u in html_urls(aggregate.html(address)) if u not in mine],
            [u for u in text_urls(aggregate.text(address)) if u not in mine],
        )

    assert shared(ada) == shared(bob)
    # Nothing but the reader's own pages and tracking links of this mailing (`/l/ID-SIGNATURE`,
    # ID a link of the edition, the same for everyone), besides what the editor wrote.
    constant = {
        f"{BASE}/en/{ISSUE}/", "https://img.example.com/a.png", "mailto:editors@example.org",
        "tel:+4930123",
    }  # fmt: skip
    html_links, text_links = shared(ada)
    tracked = {link_of(aggregate, u)["id"] for u in html_links + text_links if u not in constant}
    assert tracked == set(aggregate.links)  # Each stored link is in the email, the hidden one too.
    engine = create_db_engine(database_url(aggregate.project))
    with engine.connect() as connection:
        message_ids = connection.execute(select(DELIVERY.c.message_id)).scalars().all()
    engine.dispose()
    for url in html_links + text_links:
        for email, name, _ in READERS:
            assert email not in unquote(url).lower() and name.split()[0] not in unquote(url), url
        for message_id in message_ids:
            assert message_id.strip("<>").partition("@")[0] not in url, url


def test_tracking_changes_nothing_but_where_links_go_first(aggregate: Sent, off: Sent) -> None:
    address = READERS[0][0]
    tracked_html = without_honeypot(aggregate.html(address))
    untracked_html = off.html(address)
    mine = reader_pages(aggregate, address)
    # The readers' own pages differ (their tokens hold the time they were made).
    pages = {
        url: purpose
        for sent in (aggregate, off)
        for purpose, url in reader_pages(sent, address).items()
    }

    def leads(sent: Sent, urls: list[str]) -> list[object]:
        return [pages.get(url) or where(original(sent, url)) for url in urls]

    # Every link leads where the untracked one does, in the same place of the same markup.
    assert leads(aggregate, html_urls(tracked_html)) == leads(off, html_urls(untracked_html))
    assert _HTML_URL.sub(" href=''", tracked_html) == _HTML_URL.sub(" href=''", untracked_html)
    tracked_text, untracked_text = aggregate.text(address), off.text(address)
    assert leads(aggregate, text_urls(tracked_text)) == leads(off, text_urls(untracked_text))
    assert _TEXT_URL.sub("URL", tracked_text) == _TEXT_URL.sub("URL", untracked_text)
    # Every http(s) link of the text part but the footer's goes through the tracking link of the
    # same link of the HTML part.
    footer = {f"{BASE}/en/{ISSUE}/", *mine.values()}
    html_tracking = {u for u in html_urls(tracked_html) if u.startswith(f"{BASE}/l/")}
    for url in text_urls(tracked_text):
        if url.startswith("http") and url not in footer:
            assert url in html_tracking, url


def test_links_belong_to_the_story_they_stand_in(aggregate: Sent) -> None:
    issue = IssueLoader(aggregate.project.config).load(
        aggregate.project.issues_path / f"{ISSUE}.md"
    )
    slugs = [story.slug for story in issue.editions["en"].stories]
    assert slugs == ["the-first-story", "second-story"]
    found: dict[str, set[str]] = {}
    for link in aggregate.links.values():
        if link["position"] != HONEYPOT:
            found.setdefault(str(link["story"]), set()).add(_as_written(str(link["url"])))
    assert found == STORY_LINKS
    titles = {link["story"]: link["story_title"] for link in aggregate.links.values()}
    assert titles == {"the-first-story": "The first story", "second-story": "Second story", "": ""}
    # The same URL in two stories is two links (one for each story), in one story one.
    assert sum(_as_written(str(link["url"])) == CODE for link in aggregate.links.values()) == 2
    story_url = [
        link
        for link in aggregate.links.values()
        if link["url"] == "https://story.example.com/first"
    ]
    assert len(story_url) == 1


def _as_written(url: str) -> str:
    """`url` as STORY_LINKS writes it, when it leads to the same place."""
    for written in set().union(*STORY_LINKS.values()):
        if where(written) == where(url):
            return written
    return url


def test_urls_with_ampersands_and_other_scripts_are_stored_as_the_email_links_them(
    aggregate: Sent, off: Sent
) -> None:
    stored = {str(link["url"]) for link in aggregate.links.values()}
    assert PAPER in stored and GUIDE in stored and "https://single.example.com/q?x=1&y=2" in stored
    untracked = set(html_urls(off.html(READERS[0][0])))
    for written in (PAPER, GUIDE, CHINESE, BOOKS):
        [url] = [url for url in stored if where(url) == where(written)]
        assert url in untracked, url  # The redirect goes exactly where the link went.
        assert "&amp;" not in url and " " not in url


def test_javascript_and_data_links_never_reach_the_email_and_mailto_stays(
    aggregate: Sent,
) -> None:
    for address, _, _ in READERS:
        urls = html_urls(aggregate.html(address))
        text = aggregate.text(address)
        for url in urls:
            assert not url.strip().lower().startswith(("javascript:", "data:")), url
        # In the text part's list of links neither; the Markdown that CommonMark does not make
        # a link stays what the editor wrote, as text (in the HTML part too), never a link.
        listed = re.findall(r"(?m)^\[\d+\] (\S+)$", text)
        assert listed and not [u for u in listed if not u.startswith(("https:", "mailto:", "tel:"))]
        assert "mailto:editors@example.org" in urls and "tel:+4930123" in urls
        assert re.search(r"(?m)^\[\d+\] mailto:editors@example\.org$", text)
    assert {str(link["url"]).split(":")[0] for link in aggregate.links.values()} == {"https"}


def test_placeholder_links_are_never_made_tracking_links(aggregate: Sent) -> None:
    for link in aggregate.links.values():
        url = str(link["url"])
        assert "%%" not in url and "nl_" not in url
        assert not url.startswith((f"{BASE}/unsubscribe", f"{BASE}/preferences", f"{BASE}/l/"))
    web = f"{BASE}/en/{ISSUE}/"
    for address, _, _ in READERS:
        html_links = html_urls(aggregate.html(address))
        assert html_links.count(web) == 2  # "View this email in your browser", "View in browser".
        assert f"View in browser: {web}" in aggregate.text(address)
        assert set(reader_pages(aggregate, address).values()) <= set(html_links)


def test_a_hidden_link_and_no_open_pixel_by_default(aggregate: Sent) -> None:
    markup = aggregate.html(READERS[0][0])
    [honeypot] = [link for link in aggregate.links.values() if link["position"] == HONEYPOT]
    assert honeypot["url"] == f"{BASE}/en/"
    without_honeypot(markup)
    assert "/o/" not in markup and not re.search(r'<img[^>]*width="1"', markup)


# -- Off and individual ---------------------------------------------------------------------------


def test_with_tracking_off_links_are_the_original_urls(off: Sent) -> None:
    assert off.links == {}
    for address, _, _ in READERS:
        markup, text = off.html(address), off.text(address)
        assert not TRACKING.search(markup) and not TRACKING.search(text)
        assert "aria-hidden" not in markup and "/o/" not in markup
        urls = html_urls(markup)
        for written in (PAPER, GUIDE, CODE, "https://story.example.com/first"):
            assert written in urls and written in text_urls(text)


def test_individual_tracking_adds_the_readers_signed_delivery_and_one_open_pixel(
    individual: Sent,
) -> None:
    signer = LinkSigner(SECRET)
    engine = create_db_engine(database_url(individual.project))
    with engine.connect() as connection:
        [mailing] = connection.execute(select(MAILING.c.id)).scalars().all()
        rows = connection.execute(
            select(DELIVERY.c.id, Subscriber.email).join(  # type: ignore[arg-type]
                Subscriber.__table__, Subscriber.id == DELIVERY.c.subscriber_id
            )
        ).all()
    engine.dispose()
    delivery_of = {email: delivery for delivery, email in rows}
    for address, _, _ in READERS:
        markup = individual.html(address)
        tracking = [u for u in html_urls(markup) if TRACKING.search(u)]
        for url in tracking + [u for u in text_urls(individual.text(address)) if "/l/" in u]:
            kind, _, second = urlsplit(url).path.split("/")[1:]
            assert signer.delivery_of(mailing, second) == delivery_of[address], url
            if kind == "l":
                link_of(individual, url, reader=True)
        pixels = re.findall(r"<img\b[^>]*>", markup)
        [pixel] = [tag for tag in pixels if "/o/" in tag]
        assert 'width="1" height="1" alt=""' in pixel
        src = html_urls(pixel)[0]
        assert signer.edition_of(src.split("/")[4]) == (mailing, "en")


def test_the_hidden_link_and_the_pixel_are_the_last_things_in_the_body(individual: Sent) -> None:
    markup = individual.html(READERS[0][0])
    assert re.search(
        r'<a href="https://news\.example\.org/l/[^"]+" aria-hidden="true" tabindex="-1" '
        r'style="display:none;[^"]*"></a><img src="https://news\.example\.org/o/[^"]+" '
        r'width="1" height="1" alt="" style="display:block;[^"]*">\s*</body>\s*</html>\s*$',
        markup,
    ), markup[-800:]


def test_links_of_raw_html_belong_to_their_story_with_the_other_css_inliner_too(
    tmp_path: Path,
) -> None:
    # css-inline leaves a raw link's non-ASCII characters as written, premailer encodes them.
    sent = send_links_issue(tmp_path, css_inliner='"css-inline"')
    [books] = [link for link in sent.links.values() if where(str(link["url"])) == where(BOOKS)]
    assert books["url"] == BOOKS and books["story"] == "second-story"
    text = sent.text(READERS[0][0])
    assert re.search(rf"(?m)^\[\d+\] {re.escape(BASE)}/l/{books['id']}-[a-z2-7]{{16}}$", text)


# -- What is published never carries tracking ------------------------------------------------------


def _no_tracking(what: str, content: str) -> None:
    """`content` holds no tracking URL and no placeholder for one."""
    found = TRACKING.search(content) or re.search(r"%%nl_click%%|/[lo]/%%", content)
    assert found is None, f"{what}: {content[max(found.start() - 80, 0) : found.end() + 80]}"


def _files(folder: Path) -> dict[Path, str]:
    """Every file under `folder` as text (images too: what they hold as text)."""
    return {p: p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()}


def test_nothing_published_carries_tracking_after_a_tracked_send(
    individual: Sent, tmp_path: Path
) -> None:
    project = individual.project
    paper = html.escape(PAPER)
    # The archive, its feeds and sitemap.
    code, output = newsletter(project, "archive", "--out", str(tmp_path / "public"))
    assert code == 0 and "1 issues" in output, output
    published = _files(tmp_path / "public")
    assert paper in published[tmp_path / "public" / "en" / ISSUE / "index.html"]
    feeds = [
        text
        for path, text in published.items()
        if path.suffix == ".xml" and ("<feed" in text or "<rss" in text)
    ]
    assert feeds and all("arxiv.org/abs/2403.09611" in feed for feed in feeds)
    # The web version and the email of `newsletter build`.
    code, output = newsletter(
        project, "build", ISSUE, "--all-locales", "--out", str(tmp_path / "build")
    )
    assert code == 0, output
    built = _files(tmp_path / "build")
    assert paper in built[tmp_path / "build" / ISSUE / "en" / "email.html"]
    # The preview.
    client = TestClient(preview_app(project, "http://127.0.0.1:8000"))
    previewed = {}
    for page in ("", "email.html", "email.txt", "web/"):
        response = client.get(f"/{ISSUE}/en/{page}")
        assert response.status_code == 200, page
        previewed[f"preview {page}"] = response.text
    assert PAPER in previewed["preview email.txt"]
    # A test send.
    before = set((project.root / "outbox").glob("*.eml"))
    code, output = newsletter(project, "send", ISSUE, "--test", "tester@example.org")
    assert code == 0, output
    [test_file] = set((project.root / "outbox").glob("*.eml")) - before
    message = parsed(test_file.read_bytes())
    tested = {
        f"test send {part.get_content_type()}": str(part.get_content())
        for part in message.walk()
        if part.get_content_maintype() == "text"
    }
    assert paper in tested["test send text/html"]
    for what, content in {**published, **built, **previewed, **tested}.items():
        _no_tracking(str(what), content)
    with pytest.raises(AssertionError):  # What the readers got does.
        _no_tracking("sent", individual.html(READERS[0][0]))
