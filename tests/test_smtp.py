"""The SMTP transport against scripted servers on 127.0.0.1 that hang up at awkward moments."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from newsletter.deliver.smtp import SmtpTransport

OK = {
    "MAIL": "250 ok",
    "RCPT": "250 ok",
    "DATA": "354 go on",
    "END": "250 queued",
    "RSET": "250 ok",
}
CLOSE = "CLOSE"  # Hang up without a reply.


@dataclass
class Script:
    """Answers each command (MAIL, RCPT, DATA, END for the message data, RSET) on connection n.

    An answer ending in `+close` is sent, then the server hangs up.
    """

    answer: Callable[[int, str], str]
    pipelining: bool = True
    extensions: tuple[str, ...] = ()
    connections: int = 0
    messages: list[bytes] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


def _serve(script: Script, listener: socket.socket) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        script.connections += 1
        threading.Thread(
            target=_session, args=(script, client, script.connections), daemon=True
        ).start()


def _session(script: Script, client: socket.socket, number: int) -> None:
    with client, client.makefile("rb") as lines:
        client.sendall(b"220 scripted\r\n")
        while line := lines.readline():
            command = line.decode().strip().split(":")[0].split(" ")[0].upper()
            script.commands.append(command)
            if command == "EHLO":
                extensions = [
                    "scripted",
                    *(["PIPELINING"] if script.pipelining else []),
                    *script.extensions,
                ]
                reply = "".join(f"250-{e}\r\n" for e in extensions[:-1]) + f"250 {extensions[-1]}"
            elif command == "QUIT":
                client.sendall(b"221 bye\r\n")
                return
            else:
                reply = script.answer(number, command)
                if command == "DATA" and reply.startswith("354"):
                    client.sendall(b"354 go on\r\n")
                    data = b""
                    while (chunk := lines.readline()) not in (b".\r\n", b""):
                        data += chunk
                    if not chunk:
                        return  # Hung up in the middle of the data: nothing was delivered.
                    script.messages.append(data)
                    reply = script.answer(number, "END")
            if reply == CLOSE:
                return
            client.sendall(reply.removesuffix("+close").encode() + b"\r\n")
            if reply.endswith("+close"):
                return


@pytest.fixture
def server() -> Iterator[Callable[[Script], SmtpTransport]]:
    listeners: list[socket.socket] = []
    transports: list[SmtpTransport] = []

    def start(script: Script) -> SmtpTransport:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listeners.append(listener)
        threading.Thread(target=_serve, args=(script, listener), daemon=True).start()
        transports.append(SmtpTransport("127.0.0.1", listener.getsockname()[1], timeout=5))
        return transports[-1]

    yield start
    for transport in transports:
        transport.close()
    for listener in listeners:
        listener.close()


MESSAGE = b"Subject: hi\r\n\r\nhello\r\n"


def answers(**changed: str) -> Callable[[int, str], str]:
    return lambda number, command: changed.get(command, OK[command])


def test_a_hard_bounce_is_kept_when_the_server_hangs_up_after_it(server) -> None:  # type: ignore[no-untyped-def]
    script = Script(answers(RCPT="550 5.1.1 no such user", DATA="554 no valid recipients+close"))
    result = server(script).send("a@example.org", "gone@example.org", MESSAGE)
    assert (result.state, result.suppress) == ("failed", True)
    assert result.reply == "550 5.1.1 no such user"
    assert script.connections == 1 and script.messages == []


def test_a_refused_message_is_not_sent_again_when_the_server_hangs_up(server) -> None:  # type: ignore[no-untyped-def]
    spam = "554 5.7.1 looks like spam+close"
    script = Script(
        lambda number, command: spam if (number, command) == (1, "END") else OK[command]
    )
    transport = server(script)
    result = transport.send("a@example.org", "b@example.org", MESSAGE)
    assert (result.state, result.reply) == ("failed", "554 5.7.1 looks like spam")
    assert len(script.messages) == 1
    # The next message goes out on a new connection.
    assert transport.send("a@example.org", "c@example.org", MESSAGE).state == "sent"
    assert script.connections == 2 and len(script.messages) == 2


def test_a_message_whose_reply_is_lost_is_deferred_not_resent(server) -> None:  # type: ignore[no-untyped-def]
    script = Script(lambda number, command: CLOSE if command == "END" else OK[command])
    result = server(script).send("a@example.org", "b@example.org", MESSAGE)
    assert result.state == "deferred" and "it may have arrived" in result.reply
    assert len(script.messages) == 1  # Not sent a second time on a new connection.


def test_421_keeps_its_reply_and_closes_the_connection(server) -> None:  # type: ignore[no-untyped-def]
    script = Script(answers(MAIL="421 4.7.0 too many connections+close"))
    transport = server(script)
    result = transport.send("a@example.org", "b@example.org", MESSAGE)
    assert (result.state, result.reply) == ("deferred", "421 4.7.0 too many connections")
    assert script.connections == 1


def test_a_connection_that_died_while_idle_is_reopened_once(server) -> None:  # type: ignore[no-untyped-def]
    # The first connection hangs up at the first command (an idle timeout on the server's side).
    script = Script(lambda number, command: CLOSE if number == 1 else OK[command])
    result = server(script).send("a@example.org", "b@example.org", MESSAGE)
    assert result.state == "sent" and script.connections == 2 and len(script.messages) == 1


def test_without_pipelining_commands_go_one_at_a_time(server) -> None:  # type: ignore[no-untyped-def]
    script = Script(answers(RCPT="450 4.2.1 mailbox busy"), pipelining=False)
    transport = server(script)
    result = transport.send("a@example.org", "b@example.org", MESSAGE)
    assert (result.state, result.reply) == ("deferred", "450 4.2.1 mailbox busy")
    assert script.commands[-3:] == ["MAIL", "RCPT", "RSET"]  # No DATA after the refusal.


def test_an_internationalized_domain_goes_out_in_its_ascii_form(server) -> None:  # type: ignore[no-untyped-def]
    script = Script(answers())
    transport = server(script)
    assert transport.send("a@example.org", "anna@bücher.de", MESSAGE).state == "sent"
    unicode_local = transport.send("a@example.org", "zoë@example.org", MESSAGE)
    assert unicode_local.state == "failed" and "SMTPUTF8" in unicode_local.reply


def message(n: int) -> bytes:
    return f"Subject: {n}\r\n\r\nmessage {n}\r\n".encode()


def test_the_next_envelope_is_announced_with_each_message(server) -> None:  # type: ignore[no-untyped-def]
    script = Script(answers())
    transport = server(script)
    recipients = [f"r{n}@example.org" for n in range(5)]
    for n, recipient in enumerate(recipients):
        following = recipients[n + 1] if n + 1 < len(recipients) else None
        assert (
            transport.send("a@example.org", recipient, message(n), following=following).state
            == "sent"
        )
    assert script.connections == 1
    assert [m.split(b"\r\n")[0] for m in script.messages] == [
        f"Subject: {n}".encode() for n in range(5)
    ]
    assert script.commands.count("MAIL") == 5 and "RSET" not in script.commands


def test_an_announced_envelope_is_cancelled_without_an_empty_message(server) -> None:  # type: ignore[no-untyped-def]
    # The first message is refused after its data while the next envelope is already accepted.
    script = Script(
        lambda number, command: (
            "554 5.7.1 no"
            if (number, command) == (1, "END") and not script.messages[1:]
            else OK[command]
        )
    )
    transport = server(script)
    first = transport.send("a@example.org", "b@example.org", message(1), following="c@example.org")
    assert first.state == "failed"
    # The caller changes its plan: the next message goes to someone else.
    assert (
        transport.send(
            "a@example.org", "d@example.org", message(2), following="e@example.org"
        ).state
        == "sent"
    )
    assert transport.send("a@example.org", "f@example.org", message(3)).state == "sent"
    # No empty message reached anyone; every message that was sent arrived once.
    assert all(m.strip() for m in script.messages)
    assert [m.split(b"\r\n")[0] for m in script.messages] == [
        b"Subject: 1",
        b"Subject: 2",
        b"Subject: 3",
    ]


def test_meanwhile_runs_once_the_data_is_written_and_before_the_reply_is_read(server) -> None:  # type: ignore[no-untyped-def]
    """The worker composes (and signs) the next message while the server handles this one:
    the server here holds its reply until that work has run (or for 5 s)."""
    data_in, released, replied = threading.Event(), threading.Event(), threading.Event()

    def answer(number: int, command: str) -> str:
        if command == "END":
            data_in.set()
            released.wait(5)
            replied.set()
        return OK[command]

    transport = server(Script(answer))
    seen: list[tuple[bool, bool]] = []

    def meanwhile() -> None:
        seen.append((data_in.wait(5), replied.is_set()))
        released.set()

    outcome = transport.send("a@example.org", "r@example.org", MESSAGE, meanwhile=meanwhile)
    # The server had the whole message, and had not replied yet.
    assert outcome.state == "sent" and seen == [(True, False)]
