"""Signing up: the subscribe form and the confirmation link (double opt-in), for any visitor.

GET  /subscribe                  the form (in the browser's language)
POST /subscribe                  always the same answer, known address or not
GET  /confirm/TOKEN              a page with a button; POST confirms (scanners only GET)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from newsletter.characters import visible
from newsletter.deliver.message import send_notice
from newsletter.deliver.models import DeliveryState
from newsletter.errors import NewsletterError
from newsletter.render.i18n import N_
from newsletter.render.merge import personalize
from newsletter.subscribers import registry
from newsletter.subscribers.confirmations import claim_confirmation, release_confirmation
from newsletter.subscribers.models import Subscriber
from newsletter.subscribers.tokens import page_url
from newsletter.timezones import is_time_zone
from newsletter.web.site import FIELD_PROBLEMS, Site, client_address, current_site, database

log = logging.getLogger(__name__)
MAX_EMAIL = 320


router = APIRouter()
"""The routes of the subscribe form and of the confirmation link."""
SITE = Depends(current_site)
DATABASE = Depends(database)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, site: Site = SITE) -> HTMLResponse:
    """The form, in the browser's language."""
    locale = site.browser_locale(request)
    form = {"email": "", "name": "", "locale": locale, "tags": []}
    return _form(site, locale, form)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    email: str = Form(""),
    name: str = Form(""),
    locale: str = Form(""),
    timezone: str = Form(""),
    tags: list[str] = Form([]),
    website: str = Form(""),
    csrf: str = Form(""),
    site: Site = SITE,
    db: Session = DATABASE,
) -> HTMLResponse:
    """The same answer whatever became of the address, unless the form itself is refused."""
    config = site.project.config
    page_locale = locale if locale in config.locales else site.browser_locale(request)
    if not site.csrf.valid("subscribe", csrf) or not site.from_us(request):
        return site.form_expired(page_locale)
    client = client_address(request)
    if not site.limiter.allow(client):
        return site.message(
            page_locale,
            N_("Too many attempts"),
            N_("Please wait a few minutes and try again."),
            429,
        )
    done = site.message(
        page_locale,
        N_("Check your inbox"),
        N_(
            "If the address can receive our newsletter, a confirmation email is on its way. Click the button in it to finish subscribing."
        ),
    )
    if website:
        return done  # A bot filled the hidden field: answer as usual, do nothing.
    # Only the topics the form offers: a made-up tag in a forged post is dropped, not created.
    chosen = sorted(set(tags) & set(config.topics))
    try:
        if len(email) > MAX_EMAIL:
            raise registry.InvalidProfile("email", "too long", "shorten it")
        # The browser's zone, from a hidden field: one we cannot use becomes the newsletter's.
        zone = timezone if is_time_zone(timezone) else config.timezone
        profile = registry.make_profile(
            email,
            name,
            page_locale,
            zone,
            chosen,
            config.locales,
            config.default_locale,
            config.timezone,
        )
    except registry.InvalidProfile as error:
        # Echoed back with control characters shown as U+FFFD: the reader sees where they were.
        form = {
            "email": visible(email[:MAX_EMAIL]), "name": visible(name), "locale": page_locale,
            "tags": chosen,
        }  # fmt: skip
        return _form(site, page_locale, form, error.field)
    if not _confirmation(site, db, profile, client):
        return site.message(
            page_locale,
            N_("We could not send the confirmation email"),
            N_("Please try again later."),
            503,
        )
    return done


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(token: str, site: Site = SITE, db: Session = DATABASE) -> HTMLResponse:
    """A page with a button: mail scanners that open links confirm nothing."""
    subscriber = site.tokens.subscriber(db, "confirm", token)
    return site.page(
        "confirm",
        subscriber.locale,
        csrf=site.csrf.make(f"confirm:{subscriber.id}"),
        action=f"/confirm/{token}",
    )


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(
    token: str, request: Request, csrf: str = Form(""), site: Site = SITE, db: Session = DATABASE
) -> HTMLResponse:
    """The click on the button: the subscriber is active."""
    subscriber = site.tokens.subscriber(db, "confirm", token)
    if not site.csrf.valid(f"confirm:{subscriber.id}", csrf) or not site.from_us(request):
        return site.form_expired(subscriber.locale)
    registry.confirm(db, subscriber, source=client_address(request), now=site.clock())
    db.commit()
    if subscriber.status != "active":
        return site.invalid_link(subscriber.locale)
    return site.message(
        subscriber.locale,
        N_("You are subscribed"),
        N_("Welcome! The next issue will arrive in your inbox."),
    )


def _form(site: Site, locale: str, form: dict[str, Any], invalid: str = "") -> HTMLResponse:
    """The subscribe form, with the field `invalid` marked and named (status 400) if given."""
    problem = site.environment(locale)[0].gettext(FIELD_PROBLEMS[invalid]) if invalid else ""
    return site.page(
        "subscribe",
        locale,
        400 if invalid else 200,
        csrf=site.csrf.make("subscribe"),
        action="/subscribe",
        form=form,
        topics=site.topics(site.project.config.topics, locale),
        problem=problem,
        invalid=invalid,
    )


def _confirmation(site: Site, db: Session, profile: registry.Profile, client: str) -> bool:
    """A new address becomes pending; a pending one gets a confirmation email unless one went
    out minutes ago or enough today. False only when the email could not be sent (the mail
    server is down, refused it or asked to try later): the subscriber stays pending."""
    now = site.clock()
    subscriber = registry.find(db, profile.address)
    if subscriber is None and not registry.is_suppressed(db, profile.key):
        try:
            subscriber = registry.add(
                db, profile, status="pending", method="form", source=client, now=now
            )
            db.commit()
        except (IntegrityError, NewsletterError):
            # The same new address, posted twice at the same moment (in two processes).
            db.rollback()
            subscriber = registry.find(db, profile.address)
    if subscriber is None or subscriber.status != "pending":
        return True  # Already subscribed, unsubscribed or suppressed: nothing is sent.
    if not claim_confirmation(db, subscriber, source=client, now=now):
        db.rollback()
        return True  # One went out minutes ago, or enough today: nothing is sent.
    db.commit()
    try:
        _send_confirmation(site, subscriber)
    except (NewsletterError, OSError) as error:
        log.error("confirmation email to subscriber %s failed: %s", subscriber.id, error)
        release_confirmation(db, subscriber, now)
        db.commit()
        return False
    return True


def _send_confirmation(site: Site, subscriber: Subscriber) -> None:
    """The double opt-in email, rendered once per locale and merged for this subscriber;
    NewsletterError or OSError unless the mail server took it."""
    config = site.project.config
    notice = site.notices.render("confirm", subscriber.locale)
    values = {
        "email": subscriber.email,
        "name": subscriber.name,
        "confirm_url": page_url(
            config.base_url, "confirm", site.tokens.make("confirm", subscriber)
        ),
    }
    html, text = personalize(notice.html, notice.text, values)
    sent = send_notice(
        config, site.transport, to=subscriber.email, to_name=subscriber.name,
        subject=notice.subject, text=text, html=html, now=site.clock(), reply_to=config.reply_to,
    )  # fmt: skip
    if sent.state != DeliveryState.SENT:
        # Refused (5xx) or deferred (4xx): the reader learns now, and may try again later.
        raise NewsletterError(f"the mail server did not take it: {sent.state}: {sent.reply}")
