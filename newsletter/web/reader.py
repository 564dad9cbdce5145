"""The pages a reader reaches from a link in an email: unsubscribe and preferences.

    GET  /unsubscribe/TOKEN          a page with a button
    POST /unsubscribe/TOKEN          unsubscribes: the form, and one-click from mail clients
    GET  /preferences/TOKEN          the address it is for; language, time zone, topics (those
                                     of the `topics` setting, named per locale; every tag when
                                     none is configured); POST saves

The token is the authority: it names one subscriber, for one purpose (newsletter/subscribers/
tokens.py). Pages are in the subscriber's language.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, select

from newsletter.render.i18n import N_
from newsletter.subscribers import registry
from newsletter.subscribers.models import Subscriber, Tag
from newsletter.subscribers.tokens import page_url
from newsletter.timezones import is_time_zone, time_zone, time_zones
from newsletter.web.site import FIELD_PROBLEMS, Site, client_address, current_site, database

router = APIRouter()
"""The routes of the unsubscribe and preferences links."""
SITE = Depends(current_site)
DATABASE = Depends(database)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, site: Site = SITE, db: Session = DATABASE) -> HTMLResponse:
    """A page with a button (and a way to the preferences instead)."""
    subscriber = site.tokens.subscriber(db, "unsubscribe", token)
    preferences = page_url("", "preferences", site.tokens.make("preferences", subscriber))
    return site.page(
        "unsubscribe",
        subscriber.locale,
        action=f"/unsubscribe/{token}",
        preferences=preferences,
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, site: Site = SITE) -> HTMLResponse:
    """Unsubscribes: the page's button, and one-click from mail clients (RFC 8058)."""
    # The mail client POSTs "List-Unsubscribe=One-Click" with no cookie, no CSRF token and
    # follows no redirect; the answer is 200. The token is the authority.
    body = (await request.body()).decode("utf-8", "replace")
    method = "one-click" if "List-Unsubscribe=One-Click" in body else "link"
    with Session(site.engine) as db:
        subscriber = site.tokens.subscriber(db, "unsubscribe", token)
        registry.unsubscribe(
            db,
            subscriber,
            method=method,
            source=client_address(request),
            now=site.clock(),
        )
        db.commit()
        return site.message(
            subscriber.locale,
            N_("You are unsubscribed"),
            N_("You will not receive any more emails from us."),
        )


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(token: str, site: Site = SITE, db: Session = DATABASE) -> HTMLResponse:
    """The address, its language, time zone and topics."""
    subscriber = site.tokens.subscriber(db, "preferences", token)
    return _preferences(site, db, subscriber, token, saved=False)


@router.post("/preferences/{token}", response_class=HTMLResponse)
def save_preferences(
    token: str,
    request: Request,
    locale: str = Form(""),
    timezone: str = Form(""),
    tags: list[str] = Form(default_factory=list),
    csrf: str = Form(""),
    site: Site = SITE,
    db: Session = DATABASE,
) -> HTMLResponse:
    """Saves what was chosen, if every value is one of the page's; else names the list."""
    subscriber = site.tokens.subscriber(db, "preferences", token)
    if not site.csrf.valid(f"preferences:{subscriber.id}", csrf) or not site.from_us(request):
        return site.form_expired(subscriber.locale)
    offered = _offered(site, db)
    refused = (
        ("locale", locale not in site.project.config.locales),
        ("timezone", not is_time_zone(timezone)),
        ("tags", not set(tags) <= offered),
    )
    invalid = next((name for name, bad in refused if bad), "")
    if invalid:
        problem = site.environment(subscriber.locale)[0].gettext(FIELD_PROBLEMS[invalid])
        return _preferences(
            site, db, subscriber, token, saved=False, problem=problem, invalid=invalid
        )
    registry.update_preferences(
        db,
        subscriber,
        locale=locale,
        timezone=time_zone(timezone, "timezone"),
        # The tags the page does not offer (the operator's own) stay as they are.
        tags=[*tags, *(set(registry.tags_of(db, subscriber)) - offered)],
        source=client_address(request),
        now=site.clock(),
    )
    db.commit()
    return _preferences(site, db, subscriber, token, saved=True)


def _preferences(
    site: Site,
    db: Session,
    subscriber: Subscriber,
    token: str,
    *,
    saved: bool,
    problem: str = "",
    invalid: str = "",
) -> HTMLResponse:
    unsubscribe = page_url("", "unsubscribe", site.tokens.make("unsubscribe", subscriber))
    form = {
        "locale": subscriber.locale,
        "timezone": subscriber.timezone,
        "tags": registry.tags_of(db, subscriber),
    }
    return site.page(
        "preferences", subscriber.locale, 400 if invalid else 200,
        csrf=site.csrf.make(f"preferences:{subscriber.id}"), action=f"/preferences/{token}", form=form,
        address=subscriber.email, timezones=time_zones(),
        topics=_topics(site, db, subscriber.locale), saved=saved, problem=problem, invalid=invalid,
        unsubscribe=unsubscribe,
    )  # fmt: skip


def _topics(site: Site, db: Session, locale: str) -> list[dict[str, str]]:
    """The topics readers in `locale` can choose here, named (Site.topics)."""
    return site.topics(_offered(site, db), locale)


def _offered(site: Site, db: Session) -> set[str]:
    """The tags a reader may choose: the configured topics; every tag when none is configured
    (before topics were: an operator who names topics keeps their other tags to themselves)."""
    configured = set(site.project.config.topics)
    return configured or set(db.exec(select(Tag.name)).all())
