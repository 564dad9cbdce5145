"""Signing up: the subscribe form and the confirmation link (double opt-in), for any visitor.

GET  /subscribe                  the form (in the browser's language)
POST /subscribe                  always the same answer, known address or not
GET  /confirm/TOKEN              a page with a button; POST confirms (scanners only GET)
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from newsletter.deliver.message import send_notice
from newsletter.errors import NewsletterError
from newsletter.render.i18n import N_
from newsletter.render.merge import personalize
from newsletter.subscribers import registry
from newsletter.subscribers.characters import visible
from newsletter.subscribers.confirmations import claim_confirmation, release_confirmation
from newsletter.subscribers.models import Subscriber
from newsletter.subscribers.tokens import page_url
from newsletter.web.site import FIELD_PROBLEMS, Site, client_address

log = logging.getLogger(__name__)
MAX_EMAIL = 320


def signup_routes(site: Site) -> APIRouter:
    """The routes of the subscribe form and of the confirmation link."""
    router = APIRouter()
    config = site.project.config

    @router.get("/subscribe", response_class=HTMLResponse)
    def subscribe_form(request: Request) -> HTMLResponse:
        locale = site.browser_locale(request)
        return site.page(
            "subscribe",
            locale,
            csrf=site.csrf.make("subscribe"),
            action="/subscribe",
            form={"email": "", "name": "", "locale": locale},
            problem="",
            invalid="",
        )

    @router.post("/subscribe", response_class=HTMLResponse)
    def subscribe(
        request: Request,
        email: str = Form(""),
        name: str = Form(""),
        locale: str = Form(""),
        timezone: str = Form(""),
        website: str = Form(""),
        csrf: str = Form(""),
        db: Session = Depends(site.session),
    ) -> HTMLResponse:
        page_locale = locale if locale in config.locales else site.browser_locale(request)
        localizer, _ = site.environment(page_locale)
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
        # Echoed back with control characters shown as U+FFFD: the reader sees where they were.
        form = {"email": visible(email[:MAX_EMAIL]), "name": visible(name), "locale": page_locale}
        try:
            if len(email) > MAX_EMAIL:
                raise registry.InvalidProfile("email", "too long", "shorten it")
            zone = timezone if timezone and registry.valid_timezone(timezone) else config.timezone
            profile = registry.make_profile(
                email,
                name,
                page_locale,
                zone,
                (),
                config.locales,
                config.default_locale,
                config.timezone,
            )
        except registry.InvalidProfile as error:
            return site.page(
                "subscribe",
                page_locale,
                400,
                csrf=site.csrf.make("subscribe"),
                action="/subscribe",
                form=form,
                problem=localizer.gettext(FIELD_PROBLEMS[error.field]),
                invalid=error.field,
            )
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
            return done  # Already subscribed, unsubscribed or suppressed: the same answer, nothing sent.
        if not claim_confirmation(db, subscriber, source=client, now=now):
            db.rollback()
            return done  # One went out minutes ago, or enough today: the same answer, nothing sent.
        db.commit()
        try:
            _send_confirmation(site, subscriber)
        except (NewsletterError, OSError) as error:
            log.error("confirmation email to subscriber %s failed: %s", subscriber.id, error)
            release_confirmation(db, subscriber, now)
            db.commit()
            return site.message(
                page_locale,
                N_("We could not send the confirmation email"),
                N_("Please try again later."),
                503,
            )
        return done

    @router.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm_page(
        token: str, request: Request, db: Session = Depends(site.session)
    ) -> HTMLResponse:
        subscriber = site.tokens.subscriber(db, "confirm", token)
        return site.page(
            "confirm",
            subscriber.locale,
            csrf=site.csrf.make(f"confirm:{subscriber.id}"),
            action=f"/confirm/{token}",
        )

    @router.post("/confirm/{token}", response_class=HTMLResponse)
    def confirm(
        token: str, request: Request, csrf: str = Form(""), db: Session = Depends(site.session)
    ) -> HTMLResponse:
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

    return router


def _send_confirmation(site: Site, subscriber: Subscriber) -> None:
    """The double opt-in email, rendered once per locale and merged for this subscriber."""
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
        config, site.transport, to=subscriber.email, subject=notice.subject, text=text,
        html=html, now=site.clock(), reply_to=config.reply_to,
    )  # fmt: skip
    if sent.state != "sent":
        log.warning("confirmation to subscriber %s not sent: %s", subscriber.id, sent.reply)
