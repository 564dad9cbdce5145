"""Provider webhooks: what Amazon SES (through SNS), Postmark, Mailgun and SendGrid post about
the messages they delivered for us (docs/webhooks.md).

    POST /webhooks/ses         SNS notifications of SES bounces, complaints and deliveries
    POST /webhooks/postmark    Bounce, SpamComplaint, SubscriptionChange, Delivery
    POST /webhooks/mailgun     failed, complained, unsubscribed, delivered
    POST /webhooks/sendgrid    the signed event webhook: bounce, dropped, spamreport...

A provider whose secret is not set has no route: 404. A body over 1 MB is 413; a bad, missing
or stale signature 403 with a short JSON reason, and nothing is read or stored; a body that is
not the provider's JSON 400; a setting of ours that cannot be used 503 (the provider retries).
Each event of a valid request goes to the processor (newsletter/inbound/processor.py), which
stores it once (an event posted again changes nothing): 200 with the counts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from newsletter.config import Project
from newsletter.errors import NotFoundError
from newsletter.inbound.notices import Reading
from newsletter.inbound.providers.events import Malformed, Rejected, Webhook
from newsletter.inbound.providers.mailgun import MailgunWebhook
from newsletter.inbound.providers.postmark import PostmarkWebhook
from newsletter.inbound.providers.sendgrid import SendGridWebhook
from newsletter.inbound.providers.ses import SesWebhook
from newsletter.web.errors import problem
from newsletter.web.site import Site, client_address, current_site

log = logging.getLogger(__name__)
router = APIRouter()
"""The providers' webhook routes."""
BODY_LIMIT = 1024 * 1024
"""Bytes a webhook request may hold (SNS messages are at most 256 KB, SendGrid's batches
about 768 KB)."""


def webhook_of(project: Project, name: str) -> Webhook | None:
    """The `name` provider's endpoint with its secrets, None when they are not set (the route
    is off); Misconfigured when they are set but cannot be used."""
    config = project.config
    max_age = config.webhook_max_age
    if name == "ses":
        if not (config.ses_certificate and config.ses_topic_arns):
            return None
        return SesWebhook(project.root / config.ses_certificate, config.ses_topic_arns, max_age)
    secret = project.secret(
        {
            "postmark": "NEWSLETTER_POSTMARK_WEBHOOK_SECRET",
            "mailgun": "NEWSLETTER_MAILGUN_SIGNING_KEY",
            "sendgrid": "NEWSLETTER_SENDGRID_PUBLIC_KEY",
        }[name]
    )
    if not secret:
        return None
    if name == "postmark":
        return PostmarkWebhook(secret)
    if name == "mailgun":
        return MailgunWebhook(secret, max_age)
    return SendGridWebhook(secret, max_age)


@router.post("/webhooks/ses")
async def ses(request: Request) -> JSONResponse:
    """Amazon SES notifications, posted by SNS."""
    return await _receive(request, "ses")


@router.post("/webhooks/postmark")
async def postmark(request: Request) -> JSONResponse:
    """Postmark's webhooks, with Basic credentials in the URL."""
    return await _receive(request, "postmark")


@router.post("/webhooks/mailgun")
async def mailgun(request: Request) -> JSONResponse:
    """Mailgun's signed webhooks."""
    return await _receive(request, "mailgun")


@router.post("/webhooks/sendgrid")
async def sendgrid(request: Request) -> JSONResponse:
    """SendGrid's signed event webhook."""
    return await _receive(request, "sendgrid")


async def _receive(request: Request, name: str) -> JSONResponse:
    """One provider's request: checked, read, each event processed once. A refusal is raised
    and answered by web/errors.py as a problem document: 403 for a bad signature, 400 for a
    body that is not the provider's, 503 for our own setting that cannot be used."""
    site = current_site(request)
    webhook = _webhook(request, site.project, name)
    if webhook is None:  # Its secret is not set: the route is off.
        raise NotFoundError(f"no webhook {name} is set up here")
    body = await _body(request)
    if body is None:
        return problem(413, "The body is larger than 1 MB")
    try:
        accepted = await run_in_threadpool(webhook.accept, body, request.headers, site.clock())
    except (Rejected, Malformed) as error:
        # A forged, replayed or misdirected request: nothing of it is read or stored.
        log.warning("webhook %s from %s refused: %s", name, client_address(request), error)
        raise
    # The provider's signature checked: it vouches for who its events are about.
    readings = [replace(reading, authenticated=True) for reading in accepted]
    duplicates = await run_in_threadpool(_process, site, readings) if readings else 0
    log.info("webhook %s: %d events, %d seen before", name, len(readings), duplicates)
    return JSONResponse(
        {"events": len(readings), "processed": len(readings) - duplicates, "duplicates": duplicates}
    )


def _webhook(request: Request, project: Project, name: str) -> Webhook | None:
    """The endpoint of `name`, built once per app (an SES certificate is read once)."""
    built: dict[str, Webhook | None] = getattr(request.app.state, "webhooks", None) or {}
    if name not in built:
        built[name] = webhook_of(project, name)  # Misconfigured is not kept: fixed, it works.
        request.app.state.webhooks = built
    return built[name]


async def _body(request: Request) -> bytes | None:
    """The request body, None when it is over BODY_LIMIT (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_LIMIT:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > BODY_LIMIT:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _process(site: Site, readings: list[Reading]) -> int:
    """Each Reading stored and acted on by the processor, once; how many were seen before."""
    # Imported here: the processor pulls in the parsers, which only webhook requests need.
    from newsletter.inbound.processor import (
        InboundSettings,
        process,
    )

    settings: Any = InboundSettings.of(site.project)
    now = site.clock()
    duplicates = 0
    for reading in readings:
        outcome = process(site.engine, reading, settings=settings, now=now)
        duplicates += bool(outcome.duplicate)
    return duplicates
