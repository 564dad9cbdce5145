"""One reader's clicks with `tracking = "individual"`: listed by `subscribers show` and in its
JSON (the answer to a GDPR access request), tied to nobody after `subscribers forget`, the
issue's counts unchanged.

The issue is sent for real (eml:). The clicks are written as the web app writes them
(`write_clicks`), with the link and the delivery each reader's own tracking URLs name: read from
the messages they received and checked with LinkSigner, so what is listed is what was sent.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from newsletter.db import create_db_engine, database_url
from newsletter.deliver.models import DELIVERY
from newsletter.deliver.tracking_ids import LinkSigner
from newsletter.engagement.models import EDITION_OPEN, HONEYPOT, LINK_CLICK
from newsletter.engagement.store import Click, write_clicks
from newsletter.subscribers.models import Subscriber

from .test_delivery import SECRET, newsletter
from .test_tracking_links import (
    BASE,
    BOOKS,
    CODE,
    ISSUE,
    PAPER,
    Sent,
    html_urls,
    send_links_issue,
    where,
)

ADA, BOB = "ada@example.org", "bob@example.org"
AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def reader_links(sent: Sent, address: str) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """The reader's tracking links as (link, delivery) by where each goes ("" for the hidden
    one), and their open pixel's (mailing, delivery): the signed ids their URLs carry."""
    signer = LinkSigner(SECRET)
    links, pixel = {}, None
    for url in html_urls(sent.html(address)):
        parts = urlsplit(url).path.split("/")
        if not url.startswith(BASE) or len(parts) != 4 or parts[1] not in ("l", "o"):
            continue
        if parts[1] == "o":
            edition = signer.edition_of(parts[2])
            assert edition is not None and edition[1] == "en", url
            delivery = signer.delivery_of(edition[0], parts[3])
            assert delivery is not None, url
            pixel = (edition[0], delivery)
            continue
        link = signer.link_of(parts[2])
        assert link is not None, url
        row = sent.links[link]
        delivery = signer.delivery_of(int(str(row["mailing_id"])), parts[3])
        assert delivery is not None, url
        goes = "" if row["position"] == HONEYPOT else str(row["url"])
        links.setdefault(goes, (link, delivery))
    assert pixel is not None
    return links, pixel


def show(sent: Sent, address: str) -> dict[str, list[dict[str, str]]]:
    code, output = newsletter(sent.project, "subscribers", "show", address, "--json")
    assert code == 0, output
    data: dict[str, list[dict[str, str]]] = json.loads(output)
    return data


def test_a_readers_clicks_are_in_show_and_the_export_and_forget_unties_them(
    tmp_path: Path,
) -> None:
    sent = send_links_issue(tmp_path, tracking='"individual"', open_tracking="true")
    engine = create_db_engine(database_url(sent.project))
    query = select(Subscriber.email, DELIVERY.c.id).join(  # type: ignore[arg-type]
        DELIVERY, DELIVERY.c.subscriber_id == Subscriber.id
    )
    with engine.connect() as connection:
        theirs = dict(connection.execute(query).all())
    ada_links, (mailing, ada_pixel) = reader_links(sent, ADA)
    bob_links, _ = reader_links(sent, BOB)
    # Each reader's URLs carry their own delivery, and only theirs.
    assert {delivery for _, delivery in ada_links.values()} == {theirs[ADA]} == {ada_pixel}
    assert {delivery for _, delivery in bob_links.values()} == {theirs[BOB]}
    books = next(url for url in ada_links if url and where(url) == where(BOOKS))
    paper, hidden = ada_links[PAPER], ada_links[""]
    write_clicks(
        engine,
        [
            Click(AT, "browser", "c1", link_id=paper[0], delivery_id=paper[1]),
            Click(AT + timedelta(seconds=1), "robot", "c2", link_id=hidden[0], delivery_id=hidden[1]),
            Click(AT + timedelta(minutes=1), "head", "c1", link_id=ada_links[books][0], delivery_id=ada_links[books][1]),
            Click(AT + timedelta(minutes=2), "browser", "c1", mailing_id=mailing, locale="en", delivery_id=ada_pixel),
            Click(AT, "browser", "c3", link_id=bob_links[CODE][0], delivery_id=bob_links[CODE][1]),
            Click(AT, "browser", "c4", link_id=paper[0]),  # Someone the link was forwarded to.
        ],
    )  # fmt: skip

    listed = show(sent, ADA)
    assert [(c["at"], c["url"], c["label"], c["story"], c["agent"]) for c in listed["clicks"]] == [
        (AT.isoformat(), PAPER, "the paper", "the-first-story", "browser"),
        ((AT + timedelta(seconds=1)).isoformat(), f"{BASE}/en/", "(hidden link for scanners)", "", "robot"),
        ((AT + timedelta(minutes=1)).isoformat(), books, "Bücher", "second-story", "head"),
    ]  # fmt: skip
    assert {(c["issue"], c["locale"]) for c in listed["clicks"]} == {(ISSUE, "en")}
    assert listed["clicks"][0]["story_title"] == "The first story"
    assert listed["opens"] == [
        {"at": (AT + timedelta(minutes=2)).isoformat(), "issue": ISSUE, "locale": "en",
         "agent": "browser", "client": "c1"}
    ]  # fmt: skip
    bobs = show(sent, BOB)
    assert [c["url"] for c in bobs["clicks"]] == [CODE] and bobs["opens"] == []
    code, output = newsletter(sent.project, "subscribers", "show", ADA)
    assert code == 0 and "links followed and opens (tracking = individual):" in output, output
    lines = output.splitlines()
    assert any(PAPER in line and "the paper [the-first-story]" in line for line in lines), output
    assert any(f"{ISSUE} (en)" in line and line.endswith("opened") for line in lines), output

    def counts() -> tuple[Counter[int], int]:
        with engine.connect() as connection:
            clicks = Counter(connection.execute(select(LINK_CLICK.c.link_id)).scalars())
            opens = connection.execute(select(func.count()).select_from(EDITION_OPEN)).scalar_one()
        return clicks, opens

    before = counts()
    code, output = newsletter(sent.project, "subscribers", "forget", ADA, "--yes")
    assert code == 0 and "4 clicks and opens kept as counts only" in output, output
    # The issue's numbers are what they were; none of them leads to Ada's delivery any more.
    assert counts() == before
    with engine.connect() as connection:
        clicked = connection.execute(select(LINK_CLICK.c.delivery_id)).scalars().all()
        opened = connection.execute(select(EDITION_OPEN.c.delivery_id)).scalars().all()
        forgotten = connection.execute(
            select(DELIVERY.c.id).where(DELIVERY.c.subscriber_id.is_(None))
        ).scalars()
        assert list(forgotten) == [theirs[ADA]]  # The delivery stays, with nobody's name.
    engine.dispose()
    assert Counter(clicked) == Counter({None: 4, theirs[BOB]: 1}) and opened == [None]
    assert [c["url"] for c in show(sent, BOB)["clicks"]] == [CODE]

    # Ada's old email still carries her delivery's id: a click on it now counts, tied to no one.
    engine = create_db_engine(database_url(sent.project))
    write_clicks(
        engine,
        [
            Click(AT + timedelta(days=1), "browser", "c5", link_id=paper[0], delivery_id=paper[1]),
            Click(AT + timedelta(days=1), "browser", "c5", mailing_id=mailing, locale="en",
                  delivery_id=ada_pixel),
            Click(AT + timedelta(days=1), "browser", "c6", link_id=bob_links[CODE][0],
                  delivery_id=bob_links[CODE][1]),
        ],
    )  # fmt: skip
    with engine.connect() as connection:
        clicked = connection.execute(select(LINK_CLICK.c.delivery_id)).scalars().all()
        opened = connection.execute(select(EDITION_OPEN.c.delivery_id)).scalars().all()
    engine.dispose()
    assert Counter(clicked) == Counter({None: 5, theirs[BOB]: 2}) and opened == [None, None]


def test_aggregate_clicks_belong_to_nobody(tmp_path: Path) -> None:
    sent = send_links_issue(tmp_path)
    assert all(
        len(urlsplit(url).path.split("/")) == 3 for url in html_urls(sent.html(ADA)) if "/l/" in url
    )
    [paper] = [link for link, row in sent.links.items() if row["url"] == PAPER]
    engine = create_db_engine(database_url(sent.project))
    write_clicks(engine, [Click(AT, "browser", "c1", link_id=paper)])
    engine.dispose()
    assert show(sent, ADA)["clicks"] == [] and show(sent, ADA)["opens"] == []
    code, output = newsletter(sent.project, "subscribers", "show", ADA)
    assert code == 0 and "links followed" not in output
    code, output = newsletter(sent.project, "subscribers", "forget", ADA, "--yes")
    assert code == 0 and "clicks" not in output, output
