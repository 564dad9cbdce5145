"""Amazon SES notifications by webhook: the SNS envelope, its signature and its topic.

SES publishes bounce, complaint and delivery notifications to an SNS topic; SNS posts each to
our HTTPS endpoint in a JSON envelope (`Type`, `MessageId`, `TopicArn`, `Message`,
`Timestamp`, `SignatureVersion`, `Signature`, `SigningCertURL`...). The signature is RSA
(SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) over the canonical string of the envelope's
fields. The app never fetches `SigningCertURL`: the operator downloads SNS's certificate once
and names it in `ses_certificate`; anyone may own an SNS topic signed with that certificate,
so only the topics in `ses_topic_arns` are accepted. A SubscriptionConfirmation is never
confirmed by the app: its SubscribeURL is logged for the operator to open.
The SES notification inside `Message` is read by newsletter/inbound/ses.py, the same reader
as for notifications that arrive by mail.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsletter.characters import one_line
from newsletter.inbound.notices import Reading
from newsletter.inbound.providers.events import (
    MAX_AGE,
    Misconfigured,
    Rejected,
    check_age,
    event_digest,
    json_body,
    text,
)

log = logging.getLogger(__name__)
SOURCE = "webhook:ses"
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
CONFIRMATIONS = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
# Where SNS's signing certificates are (`https://sns.REGION.amazonaws.com[.cn]/...pem`): the
# only certificate URL a message that fails the check may put in our log.
_SNS_CERTIFICATE = re.compile(
    r"https://sns\.[a-z0-9-]{1,30}\.amazonaws\.com(?:\.cn)?/SimpleNotificationService-[A-Za-z0-9]{1,64}\.pem"
)
CERTIFICATE_HINT = (
    "download SNS's signing certificate (the SigningCertURL of a message) once, and set "
    "ses_certificate to its path"
)
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


def load_certificates(path: Path) -> list[rsa.RSAPublicKey]:
    """The RSA public keys of the SNS signing certificates in the PEM file at `path` (several
    may be given, to cover AWS's change of certificate)."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise Misconfigured(
            f"ses_certificate cannot be read: {error.strerror}", path=path, hint=CERTIFICATE_HINT
        ) from error
    try:
        return certificate_keys(pem)
    except ValueError as error:
        raise Misconfigured(f"ses_certificate {error}", path=path, hint=CERTIFICATE_HINT) from error


def certificate_keys(pem: bytes) -> list[rsa.RSAPublicKey]:
    """The RSA public keys of the PEM certificates in `pem`; ValueError when it holds none, or
    one that is not RSA."""
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise ValueError("holds no PEM certificate") from None
    keys = [certificate.public_key() for certificate in certificates]
    rsa_keys = [key for key in keys if isinstance(key, rsa.RSAPublicKey)]
    if len(rsa_keys) != len(keys):
        raise ValueError("holds a certificate that is not RSA")
    return rsa_keys


def canonical_string(envelope: Mapping[str, Any]) -> bytes:
    """What SNS signs: `Name\\nvalue\\n` for each field of the message's type, in order (an
    absent Subject left out)."""
    names = CONFIRMATION_FIELDS if envelope.get("Type") in CONFIRMATIONS else NOTIFICATION_FIELDS
    lines = []
    for name in names:
        value = envelope.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Rejected("the SNS message lacks a signed field")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8", "surrogatepass")


def verify(
    envelope: Any,
    keys: Sequence[rsa.RSAPublicKey],
    topics: Collection[str],
    *,
    now: datetime,
    max_age: float = MAX_AGE,
) -> None:
    """Rejected unless `envelope` is an SNS message from one of `topics`, signed by one of
    `keys` (SignatureVersion 1 or 2), with a Timestamp within `max_age` seconds of `now`."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Type"), str):
        raise Rejected("not an SNS message")
    if envelope["Type"] not in ("Notification", *CONFIRMATIONS):
        raise Rejected("not an SNS message")
    topic = envelope.get("TopicArn")
    if not isinstance(topic, str) or topic not in topics:
        raise Rejected("the topic is not in ses_topic_arns")
    algorithm = HASHES.get(str(envelope.get("SignatureVersion")))
    signature = envelope.get("Signature")
    if algorithm is None or not isinstance(signature, str) or not signature:
        raise Rejected("missing signature")
    try:
        signed = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("bad signature") from None
    data = canonical_string(envelope)
    if not any(_signs(key, signed, data, algorithm()) for key in keys):
        raise Rejected("bad signature")
    try:
        sent = datetime.fromisoformat(str(envelope.get("Timestamp")))
    except ValueError:
        raise Rejected("bad signature") from None
    if sent.tzinfo is None:
        raise Rejected("bad signature")
    check_age(sent.timestamp(), now, max_age)


def _signs(
    key: rsa.RSAPublicKey, signed: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    try:
        key.verify(signed, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def readings(envelope: Mapping[str, Any]) -> list[Reading]:
    """The Reading of a verified SNS Notification: the SES notification in its Message read by
    inbound/ses.py; [] for a (un)subscription confirmation, whose URL is logged instead."""
    if envelope.get("Type") in CONFIRMATIONS:
        _log_confirmation(envelope)
        return []
    digest = event_digest("ses", text(envelope.get("MessageId"), 200), envelope)
    try:
        notification = json.loads(str(envelope.get("Message")))
    except (ValueError, RecursionError):
        notification = None
    if not isinstance(notification, dict):
        return [Reading(digest, problem="the SNS message holds no SES notification", source=SOURCE)]
    # The reader of SES notifications, shared with those that arrive by mail.
    from newsletter.inbound.ses import ses_notices

    kind = text(notification.get("notificationType") or notification.get("eventType"), 40)
    return [
        Reading(
            digest,
            tuple(ses_notices(notification)),
            source=SOURCE,
            details={"type": kind, "topic": text(envelope.get("TopicArn"), 300)},
        )
    ]


def _log_confirmation(envelope: Mapping[str, Any]) -> None:
    """The operator confirms a subscription by opening its SubscribeURL: the app never does."""
    topic = one_line(str(envelope.get("TopicArn")))
    if envelope.get("Type") == "SubscriptionConfirmation":
        log.warning(
            "SNS asks to confirm the subscription of /webhooks/ses to %s: open %s",
            topic,
            one_line(str(envelope.get("SubscribeURL"))),
        )
    else:
        log.warning("SNS confirms that /webhooks/ses is unsubscribed from %s", topic)


class SesWebhook:
    """The SNS endpoint for SES, with the operator's certificate and allowed topics."""

    name = "ses"

    def __init__(
        self, certificate: Path, topics: Collection[str], max_age: float = MAX_AGE
    ) -> None:
        self.keys = load_certificates(certificate)
        self.topics = frozenset(topics)
        self.max_age = max_age

    def accept(self, body: bytes, headers: Mapping[str, str], now: datetime) -> list[Reading]:
        """The notification read, once the envelope's topic, signature and age are checked."""
        envelope = json_body(body)
        try:
            verify(envelope, self.keys, self.topics, now=now, max_age=self.max_age)
        except Rejected as error:
            url = envelope.get("SigningCertURL") if isinstance(envelope, dict) else None
            if error.reason == "bad signature" and _SNS_CERTIFICATE.fullmatch(str(url)):
                # After AWS changes its certificate every message fails until the operator
                # installs the new one: say where SNS says it is (never fetched from here).
                # Anyone can post a bad signature: a URL off AWS's SNS hosts is never shown.
                log.warning(
                    "an SNS message failed the check against ses_certificate; it names its "
                    "certificate as %s: install that one if it is AWS's",
                    url,
                )
            raise
        return readings(envelope)
