"""What a failure means for the address: RFC 3463 status codes and the words of many MTAs.

The class digit alone misleads: a full mailbox (5.2.2) or a message too big (5.3.4) is
reported as permanent, yet the address is good; a 5.7.x is the receiver's policy (spam,
reputation, authentication), not a dead address, and is counted apart. A generic code
(5.0.0, or none) says nothing by itself: the diagnostic's own code (`550 5.1.1 ...`) or its
words (`user unknown`, `mailbox full`) decide, and what nothing decides stays UNKNOWN.
"""

from __future__ import annotations

import re

from newsletter.inbound.notices import Kind

STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# A basic SMTP reply code at the start of the diagnostic, after an optional `smtp;`.
_REPLY_CODE = re.compile(r"^\s*(?:[a-z-]+\s*;\s*)?#?([245]\d\d)\b", re.IGNORECASE)

# Subject, detail -> kind, for the codes that decide by themselves (RFC 3463 section 3).
_DECISIVE: dict[tuple[str, str], Kind] = {
    ("1", "1"): Kind.HARD,  # Bad destination mailbox address.
    ("1", "2"): Kind.HARD,  # Bad destination system address.
    ("1", "3"): Kind.HARD,  # Bad destination mailbox address syntax.
    ("1", "6"): Kind.HARD,  # Destination mailbox has moved, no forwarding address.
    ("1", "10"): Kind.HARD,  # Recipient address has null MX (RFC 7505).
    ("1", "7"): Kind.POLICY,  # Bad sender's mailbox address syntax: our side, not the reader's.
    ("1", "8"): Kind.POLICY,  # Bad sender's system address: our side, not the reader's.
    ("2", "1"): Kind.HARD,  # Mailbox disabled, not accepting messages.
    ("2", "2"): Kind.SOFT,  # Mailbox full.
    ("2", "3"): Kind.SOFT,  # Message length exceeds administrative limit.
    ("2", "4"): Kind.SOFT,  # Mailing list expansion problem.
    ("3", "4"): Kind.SOFT,  # Message too big for system.
    ("4", "4"): Kind.HARD,  # Unable to route: the domain has no mail server.
}

# Words MTAs use when no code (or only a generic one) says it. Policy words go first: "blocked
# ... user unknown" is seldom true, and a policy refusal must never suppress as hard.
_POLICY_WORDS = re.compile(
    r"spam|blacklist|blocklist|block list|black list|blocked|dmarc|\bspf\b|dkim|reputation"
    r"|policy|rejected by content filter|not authorized to send|unauthenticated",
    re.IGNORECASE,
)
_PASSING_WORDS = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |their |his |her )?"
    r"(?:storage|quota)|insufficient (?:system )?storage|mailbox size limit|message too (?:large|big)"
    r"|message size exceeds|size limit|too many messages|temporarily|try again later"
    # Given up on after retries (Exim's `retry timeout exceeded`): the address may be good.
    r"|retry timeout exceeded|timed out|connection refused|network is unreachable",
    re.IGNORECASE,
)
_GONE_WORDS = re.compile(
    r"user unknown|unknown user|unknown recipient|recipient unknown|unknown address|address unknown"
    r"|no such (?:user|mailbox|recipient|address|account|domain|person)|user not found"
    r"|recipient not found|mailbox not found|address not found|account not found"
    r"|(?:does|do) ?n[o']t exist|not exists?\b|non-?existent|invalid (?:recipient|mailbox|address|user)"
    r"|unrouteable address|unroutable address|host or domain name not found|domain not found"
    r"|not listed in (?:the )?(?:domino directory|public name & address book)|no mailbox here"
    r"|mailbox unavailable|mailbox (?:is )?disabled|account (?:has been |is )?disabled"
    r"|account (?:has been |is )?(?:closed|deactivated|terminated|deleted|expired|inactive)"
    r"|no longer (?:active|available|in use|valid)|doesn't have an? \S+ account|bad destination"
    r"|addressee unknown|user doesn't exist|recipient address rejected: user unknown"
    r"|recipient address rejected: access denied"  # Office 365 DBEB: no such recipient.
    r"|unbekannt|n'existe pas|inexistente|no existe|sconosciuto|non esiste",
    re.IGNORECASE,
)


def judge(status: str, diagnostic: str, *, action: str = "failed") -> tuple[Kind, str]:
    """The kind of a failure and the status code that decided it ("" when none did).

    `status` is the report's Status field (or ""), `diagnostic` the remote server's words,
    `action` RFC 3464's Action (`delayed` is a delay, never a failure).
    """
    action = action.strip().lower()
    if action.startswith("delayed"):
        return Kind.DELAY, status_in(status) or status_in(diagnostic)
    if action.startswith(("delivered", "relayed", "expanded")):
        return Kind.DELIVERED, status_in(status)
    code = status_in(status)
    inner = status_in(diagnostic)
    # A generic code (X.0.0), or none, gives way to the diagnostic's own, more precise code.
    if inner and (not code or code.endswith(".0.0")):
        code = inner
    kind = _kind_of_code(code) if code else None
    if kind is not None:
        return kind, code
    return _kind_of_words(code, diagnostic), code


def status_in(text: str) -> str:
    """The first RFC 3463 status code in `text` (`5.1.1`), "" when there is none."""
    found = STATUS.search(text[:2000])
    return f"{found[1]}.{int(found[2])}.{int(found[3])}" if found else ""


def _kind_of_code(code: str) -> Kind | None:
    """The kind a status code decides by itself, or None when the words must decide."""
    klass, subject, detail = code.split(".")
    if klass == "2":
        return Kind.DELIVERED
    if klass == "4":
        return Kind.SOFT  # Given up on after retries: the address may still be good.
    if subject == "7":
        return Kind.POLICY
    decided = _DECISIVE.get((subject, detail))
    if decided is not None:
        return decided
    if subject == "3" or (subject == "4" and detail in ("6", "7")):
        return Kind.SOFT  # The receiving system's trouble, a routing loop, time expired.
    return None


def _kind_of_words(code: str, diagnostic: str) -> Kind:
    """The kind the diagnostic's words say, for a failure whose code does not decide."""
    reply = _REPLY_CODE.match(diagnostic)
    klass = code[:1] or (reply[1][:1] if reply else "")
    if klass == "4":
        return Kind.SOFT
    if not diagnostic:
        return Kind.UNKNOWN
    if _POLICY_WORDS.search(diagnostic):
        return Kind.POLICY
    if _PASSING_WORDS.search(diagnostic):
        return Kind.SOFT
    if _GONE_WORDS.search(diagnostic):
        return Kind.HARD
    if reply and reply[1] == "552":
        return Kind.SOFT  # 552: exceeded storage allocation (RFC 5321).
    return Kind.UNKNOWN
