"""VERP return paths: each delivery's envelope sender names it, signed; forgeries name nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import Config
from newsletter.deliver.return_path import ReturnPaths
from newsletter.deliver.smtp import SmtpTransport
from newsletter.errors import NewsletterError

from .conftest import UNICODE, SmtpServer
from .test_delivery import ISSUE, READERS, SECRET, deliveries, make_project, newsletter, parsed
from .test_smtp import Script, answers, message, server  # noqa: F401 - the scripted server

BOUNCES = "bounces@bounces.news.example.org"


@pytest.fixture
def paths() -> ReturnPaths:
    return ReturnPaths(SECRET, BOUNCES)


def test_a_return_path_names_its_delivery_and_reads_back(paths: ReturnPaths) -> None:
    address = paths.for_delivery(4711)
    local, _, domain = address.partition("@")
    assert domain == "bounces.news.example.org"
    assert local.startswith("bounces+4711-") and local == local.lower()
    assert len(local.encode()) <= 64
    assert paths.delivery_of(address) == 4711
    # An MTA that folds case, angle brackets from a header, a trailing dot on the domain.
    assert paths.delivery_of(address.upper()) == 4711
    assert paths.delivery_of(f" <{address}> ") == 4711
    assert paths.delivery_of(address + ".") == 4711
    assert len(paths.for_delivery(2**63 - 1).partition("@")[0]) <= 64


@pytest.mark.parametrize(
    "change",
    [
        lambda a: a.replace("+4711-", "+4712-"),  # Another delivery, the same signature.
        lambda a: (
            a[: a.index("@") - 1] + ("a" if a[a.index("@") - 1] != "a" else "b") + a[a.index("@") :]
        ),
        lambda a: a.replace("bounces.news.example.org", "evil.example"),  # Another domain.
        lambda a: a.replace("bounces+", "other+"),  # Another mailbox.
        lambda a: a.split("-")[0] + "@bounces.news.example.org",  # Unsigned.
        lambda a: "bounces@bounces.news.example.org",  # The bare bounce address.
        lambda a: a.replace("+4711-", "+04711-"),  # The id spelled otherwise.
        lambda a: a.replace("+4711-", "+99999999999999999999999-"),  # Beyond any id.
        lambda a: a.replace("@", "@@"),
        lambda a: "",
        lambda a: "\x00" * 1000,
        lambda a: a + "x" * 100_000,
    ],
)
def test_a_forged_or_malformed_return_path_names_no_delivery(
    paths: ReturnPaths, change: Callable[[str], str]
) -> None:
    assert paths.delivery_of(change(paths.for_delivery(4711))) is None


def test_another_key_signs_other_return_paths(paths: ReturnPaths) -> None:
    other = ReturnPaths("another-secret-key-0123456789", BOUNCES)
    assert other.delivery_of(paths.for_delivery(1)) is None
    assert other.for_delivery(1) != paths.for_delivery(1)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("bounces+x@news.example.org", "without `+`"),
        ("bounces", "without `+`"),
        ("bounces@bücher.example", "plain ASCII"),
        ("b" * 28 + "@news.example.org", "longer than 27"),
    ],
)
def test_a_bounce_address_that_cannot_carry_return_paths_is_refused(
    address: str, problem: str
) -> None:
    with pytest.raises(ValueError, match="bounce_address") as error:
        Config(bounce_address=address)
    assert problem in str(error.value)
    with pytest.raises(NewsletterError):
        ReturnPaths(SECRET, address)


def test_return_paths_need_the_secret_key() -> None:
    with pytest.raises(NewsletterError, match="NEWSLETTER_SECRET_KEY"):
        ReturnPaths("", BOUNCES)


def test_each_delivery_goes_out_with_its_own_return_path(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", bounce_address=f'"{BOUNCES}"'
    )
    code, output = newsletter(project, "send", ISSUE)
    assert code == 0, output
    paths = ReturnPaths(SECRET, BOUNCES)
    ids = {email: delivery.id for email, delivery in deliveries(project)}
    assert len(smtp_server.received) == len(READERS)
    for received in smtp_server.received:
        assert paths.delivery_of(received.sender) == ids[received.recipients[0]]
        assert received.message["From"].addresses[0].addr_spec == "weekly@news.example.org"
    assert len({received.sender for received in smtp_server.received}) == len(READERS)


def test_a_test_send_keeps_the_sender_address(tmp_path: Path, smtp_server: SmtpServer) -> None:
    project = make_project(
        tmp_path, f"{smtp_server.url}?connections=1", bounce_address=f'"{BOUNCES}"'
    )
    code, output = newsletter(project, "send", ISSUE, "--test", "editor@example.net")
    assert code == 0, output
    assert {received.sender for received in smtp_server.received} == {"weekly@news.example.org"}
    assert parsed(smtp_server.received[0].data)["Subject"].startswith("[TEST]")


def test_without_a_bounce_address_the_sender_address_is_the_return_path(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    project = make_project(tmp_path, f"{smtp_server.url}?connections=1")
    assert newsletter(project, "send", ISSUE)[0] == 0
    assert {received.sender for received in smtp_server.received} == {"weekly@news.example.org"}


def test_the_next_envelope_is_announced_with_its_own_return_path(
    server: Callable[[Script], SmtpTransport],  # noqa: F811
    paths: ReturnPaths,
) -> None:
    # With pipelining, each message carries the next envelope; its sender differs each time,
    # and an announced envelope that did not match would be cancelled (RSET) and sent again.
    script = Script(answers())
    transport = server(script)
    for n in range(1, 6):
        then = (paths.for_delivery(n + 1), f"r{n + 1}@example.org") if n < 5 else None
        outcome = transport.send(
            paths.for_delivery(n),
            f"r{n}@example.org",
            message(n),
            following=then[1] if then else None,
            following_sender=then[0] if then else "",
        )
        assert outcome.state == "sent"
    assert script.connections == 1 and len(script.messages) == 5
    assert script.commands.count("MAIL") == 5 and "RSET" not in script.commands


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_every_delivery_id_reads_back_from_its_return_path(delivery_id: int) -> None:
    paths = ReturnPaths(SECRET, BOUNCES)
    address = paths.for_delivery(delivery_id)
    assert len(address.partition("@")[0]) <= 64
    assert paths.delivery_of(address) == delivery_id


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.text(UNICODE, max_size=300)
    | st.builds(lambda s: f"bounces+{s}@bounces.news.example.org", st.text(UNICODE))
)
def test_no_string_makes_up_a_delivery(text: str) -> None:
    assert ReturnPaths(SECRET, BOUNCES).delivery_of(text) is None
