"""The rendering pipeline, once per (issue, locale):

    Markdown -> HTML (markdown-it, nh3)  -> Jinja (email.mjml.j2) -> MJML -> inline CSS -> email HTML
             -> text (numbered links)    -> Jinja (text.txt.j2)                        -> text part
             -> HTML (relative files)    -> Jinja (web.html.j2)                        -> web page

Recipient values stay placeholders (see merge.py). Each stage is timed for bench/render.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateError
from markdown_it import MarkdownIt
from markupsafe import Markup

from newsletter.config import Project
from newsletter.content.excerpt import excerpt
from newsletter.content.language import TextLength, measure_text
from newsletter.content.markdown import link_targets, markdown_parser, prose_text
from newsletter.content.offers import offered_locales
from newsletter.errors import NewsletterError
from newsletter.model import Edition, Issue, Story
from newsletter.render.controls import clean_edition
from newsletter.render.fields import SubscriberFields, with_defaults
from newsletter.render.html import HtmlRenderer
from newsletter.render.i18n import Localizer, language, locale_tag, text_direction
from newsletter.render.inline import inline_css
from newsletter.render.masthead import masthead, site_logo
from newsletter.render.merge import PLACEHOLDERS, literal_placeholders
from newsletter.render.mjml_failures import email_from_mjml
from newsletter.render.story_links import StoryLinks, story_links
from newsletter.render.templates import template_environment, theme_search_path
from newsletter.render.text import LinkReferences, TextRenderer
from newsletter.render.urls import (
    AssetMap,
    PageLinks,
    absolute_links,
    home_url,
    issue_root,
    web_url,
)

PREHEADER_LENGTH = 140
PAGE = {"subscriber": SubscriberFields(merge=False)}
"""What a page that is not per reader (web page, feed entry) shows of subscriber fields: defaults."""


@dataclass
class RenderedEdition:
    """One issue in one locale, rendered: what the email, the text part and the web page say."""

    slug: str
    locale: str
    subject: str
    preheader: str
    email_html: str
    text: str
    web_html: str
    assets: dict[Path, str]
    """Local files the web page links to -> their path beside it."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each stage."""
    stories: tuple[StoryLinks, ...] = ()
    """The email's stories and the URLs each links to, in reading order (for click reports)."""


@dataclass
class WebPage:
    """An issue's web page in one locale, and the local files it links to."""

    html: str
    assets: dict[Path, str]
    """Local file -> its path inside the issue."""
    issue: dict[str, Any]
    """What the template knew of the issue: title, preheader, date, reading time..."""
    image: str
    """The hero image's absolute URL (for social cards), or ""."""
    missing: set[Path]
    """Local files it links that are not there."""


class Renderer:
    """Renders editions for one project; Jinja environments are built once per locale."""

    def __init__(
        self, project: Project, inliner: str | None = None, theme: str | None = None
    ) -> None:
        self.project = project
        self.config = project.config
        self.inliner = inliner or self.config.css_inliner
        self.search_path = theme_search_path(project.root, theme or self.config.theme)
        if not self.search_path:
            raise NewsletterError(
                f"theme {self.config.theme!r} not found",
                hint="set theme to a folder under templates/, such as default",
            )
        self.logo = site_logo(project)
        self.parser = markdown_parser()
        self._environments: dict[str, Environment] = {}
        self._localizers: dict[str, Localizer] = {}

    def render(
        self, issue: Issue, locale: str, *, web: bool = True, web_version: bool = True
    ) -> RenderedEdition:
        """The email, text part and web page of `issue` in `locale` (without `web`: no web
        page, `web_html` empty: a send needs only what it mails). Without `web_version` the
        email has no link to a web version (a sequence step: it has none)."""
        edition, localizer, email_assets, context = self._prepare(issue, locale)
        context["web_version"] = web_version
        timings: dict[str, float] = {}
        links = LinkReferences()
        with _timed(timings, "markdown"):
            email_parts = self._parts(
                issue, edition, HtmlRenderer(self.parser, email_assets, merge=True), context
            )
        with _timed(timings, "text"):
            text_parts = self._text_parts(
                edition, TextRenderer(self.parser, email_assets, links), context
            )
        environment = self._environment(localizer)
        email_context = {**context, **email_parts}
        with _timed(timings, "jinja"):
            source = self._template(environment, "email.mjml.j2", email_context)
        with _timed(timings, "mjml"):
            email = email_from_mjml(
                source,
                lambda trial: self._template(environment, "email.mjml.j2", trial),
                email_context,
                edition,
            )
        with _timed(timings, "inline"):
            email = inline_css(email, self.inliner)
        with _timed(timings, "text"):
            text = self._template(
                environment, "text.txt.j2", {**context, **text_parts, "links": links}
            )
        page = None
        if web:
            page_links = absolute_links(self.config.base_url, issue.slug, locale, issue.locales)
            with _timed(timings, "web"):
                page = self._web_page(issue, edition, localizer, context, page_links)
        return RenderedEdition(
            slug=issue.slug,
            locale=locale,
            subject=context["issue"]["title"],
            preheader=context["issue"]["preheader"],
            email_html=email,
            text=text,
            web_html=page.html if page else "",
            assets=page.assets if page else {},
            timings=timings,
            stories=story_links(email_parts["sections"]),
        )

    def render_web(self, issue: Issue, locale: str, links: PageLinks) -> WebPage:
        """Only the web page of `issue` in `locale`, linking the rest of the site by `links`."""
        edition, localizer, _, context = self._prepare(issue, locale)
        return self._web_page(issue, edition, localizer, context, links)

    def render_article(self, issue: Issue, locale: str) -> str:
        """The issue's text as one HTML fragment with absolute URLs only: a feed entry's content."""
        edition, localizer, email_assets, context = self._prepare(issue, locale)
        parts = self._parts(issue, edition, HtmlRenderer(self.parser, email_assets), context)
        return self._template(
            self._environment(localizer), "archive/entry.html.j2", {**context, **parts, **PAGE}
        )

    def _prepare(
        self, issue: Issue, locale: str
    ) -> tuple[Edition, Localizer, AssetMap, dict[str, Any]]:
        """The edition, its localizer, the absolute URL rules of email, and the template context."""
        edition = issue.editions.get(locale)
        if edition is None:
            raise NewsletterError(
                f"issue {issue.slug} has no {locale} edition",
                path=issue.path,
                hint="use one of " + ", ".join(issue.locales),
            )
        edition = clean_edition(edition, self.parser)  # For email, text and web alike.
        localizer = self.localizer(locale)
        base = self.config.base_url
        email_assets = AssetMap(
            root=issue_root(issue.path),
            base_url=base,
            prefix=f"{base}/{issue.slug}/",
            project=self.project.root,
        )
        return (
            edition,
            localizer,
            email_assets,
            self._context(issue, edition, localizer, email_assets),
        )

    def _web_page(
        self,
        issue: Issue,
        edition: Edition,
        localizer: Localizer,
        context: dict[str, Any],
        links: PageLinks,
    ) -> WebPage:
        assets = AssetMap(
            root=issue_root(issue.path),
            base_url=self.config.base_url,
            prefix=links.files,
            published=links.published,
            project=self.project.root,
        )
        renderer = HtmlRenderer(self.parser, assets, footnote_links=True)
        parts = self._parts(issue, edition, renderer, context)
        page = {
            **context["web"],
            "home": links.home,
            "subscribe": links.subscribe,
            "feeds": links.feeds,
            "navigation": Markup(links.navigation),
            "alternates": [
                {**alternate, "href": links.alternates[alternate["code"]]}
                for alternate in context["web"]["alternates"]
            ],
        }
        top = {**context["masthead"], "href": links.home}
        top["logo"] = links.logo or top["logo"]
        html = self._template(
            self._environment(localizer),
            "web.html.j2",
            {**context, **parts, "web": page, "masthead": top, "email": False, **PAGE},
        )
        return WebPage(
            html, dict(assets.files), context["issue"], parts["og_image_url"], set(assets.missing)
        )

    def render_page(self, locale: str, name: str, context: dict[str, Any]) -> str:
        """Another template of the theme (an archive page) rendered in `locale`."""
        return self._template(self._environment(self.localizer(locale)), name, context)

    def localizer(self, locale: str) -> Localizer:
        """The localizer of `locale`, made once per renderer."""
        if locale not in self._localizers:
            self._localizers[locale] = Localizer(locale)
        return self._localizers[locale]

    def _environment(self, localizer: Localizer) -> Environment:
        if localizer.locale not in self._environments:
            self._environments[localizer.locale] = template_environment(self.search_path, localizer)
        return self._environments[localizer.locale]

    def _template(self, environment: Environment, name: str, context: dict[str, Any]) -> str:
        try:
            return environment.get_template(name).render(context)
        except TemplateError as error:
            where = getattr(error, "filename", None) or name
            raise NewsletterError(
                f"template error: {error}",
                path=where,
                line=getattr(error, "lineno", None),
                hint="fix the template",
            ) from error

    def _parts(
        self, issue: Issue, edition: Edition, renderer: HtmlRenderer, base: dict[str, Any]
    ) -> dict[str, Any]:
        """The Markdown parts of the edition as HTML (safe Markup), merged into the sections;
        rendered in reading order (lead, sections, closing, footer): footnotes count on.

        Also fills in the reading time of `base`, counted from the same parse as the HTML.
        """

        def html(markdown: str, source: Path, counted: bool = False) -> Markup:
            return Markup(renderer.render(markdown, source, counted, edition.parsed))

        lead = html(edition.lead, edition.source, counted=True)
        stories = {story.slug: story for story in edition.stories}
        sections = [
            {
                **section,
                "intro_html": html(intro, edition.source),
                "stories": [
                    {
                        **card,
                        "body_html": html(
                            stories[card["slug"]].body, stories[card["slug"]].source, counted=True
                        ),
                        "image_url": self._image(renderer.assets, stories[card["slug"]]),
                    }
                    for card in section["stories"]
                ],
            }
            for section, intro in zip(
                base["sections"], (s.intro for s in edition.sections), strict=True
            )
        ]
        closing = html(edition.closing, edition.source, counted=True)
        titles = sum(
            (measure_text(story.title) for story in edition.stories if story.title),
            TextLength(0, 0),
        )
        base["issue"]["reading_minutes"] = Localizer.reading_minutes(renderer.length + titles)
        return {
            "lead_html": lead,
            "closing_html": closing,
            "footer_html": html(edition.footer, edition.source),
            "image_url": renderer.assets.resolve(edition.image, edition.source)
            if edition.image
            else "",
            "og_image_url": self._absolute_image(issue, edition),
            "sections": sections,
        }

    @staticmethod
    def _image(assets: AssetMap, story: Story) -> str:
        return assets.resolve(story.image, story.source) if story.image else ""

    def _absolute_image(self, issue: Issue, edition: Edition) -> str:
        """The hero image as an absolute URL, for social cards (which need one)."""
        if not edition.image:
            return ""
        base = self.config.base_url
        return AssetMap(
            root=issue_root(issue.path),
            base_url=base,
            prefix=f"{base}/{issue.slug}/",
            project=self.project.root,
        ).resolve(edition.image, edition.source)

    def _text_parts(
        self, edition: Edition, renderer: TextRenderer, base: dict[str, Any]
    ) -> dict[str, Any]:
        """The Markdown parts of the edition as plain text, merged into the sections; rendered
        in reading order, so that links and footnotes are numbered as the reader meets them."""
        stories = {story.slug: story for story in edition.stories}

        def text(card: dict[str, Any]) -> dict[str, str]:
            story = stories[card["slug"]]
            title = renderer.plain(card["title"], story.source)
            if card["title"] and card["url"] and not card["linked_in_body"]:
                renderer.links.number(card["url"])  # The title's link (text.txt.j2) comes first.
            summary = renderer.plain(card["summary"], story.source)
            body = renderer.render(story.body, story.source)
            return {"title_text": title, "summary_text": summary, "body_text": body}

        issue = base["issue"]  # A URL written in a title is numbered first, like its place.
        fields = {
            "title_text": renderer.plain(issue["title"], edition.source),
            "subtitle_text": renderer.plain(issue["subtitle"], edition.source),
        }
        lead = renderer.render(edition.lead, edition.source)
        sections = [
            {
                **section,
                "intro_text": renderer.render(intro, edition.source),
                "stories": [{**card, **text(card)} for card in section["stories"]],
            }
            for section, intro in zip(
                base["sections"], (s.intro for s in edition.sections), strict=True
            )
        ]
        return {
            **fields,
            "lead_text": lead,
            "closing_text": renderer.render(edition.closing, edition.source),
            # The call to action stands between the closing text and the footer: its text's
            # URLs and its link are numbered there, in reading order.
            "cta_text": self._cta_text(issue["cta"], renderer, edition.source),
            "footer_text": renderer.render(edition.footer, edition.source),
            "sections": sections,
        }

    @staticmethod
    def _cta_text(cta: dict[str, str] | None, renderer: TextRenderer, source: Path) -> str:
        """The call to action's text for the text part, its link numbered after it."""
        if not cta:
            return ""
        text = renderer.plain(cta["text"], source)
        if cta["url"]:
            renderer.links.number(cta["url"])
        return text

    def _context(
        self, issue: Issue, edition: Edition, localizer: Localizer, assets: AssetMap
    ) -> dict[str, Any]:
        """What every template sees, apart from the rendered Markdown parts."""
        config = self.config
        preheader = edition.preheader or self._lead_preheader(edition.lead)
        cta_url = (
            assets.resolve(edition.cta.url, edition.source)
            if edition.cta and edition.cta.url
            else ""
        )
        offered = offered_locales(issue, config)  # Web pages link these editions, and their own.
        return {
            "newsletter": {
                "name": config.name,
                "base_url": config.base_url,
                "sender": config.sender,
                "sender_address": config.sender_address,
                "postal_address": config.postal_address,
            },
            "issue": {
                "slug": issue.slug,
                "title": edition.title or issue.slug,
                "subtitle": edition.subtitle or "",
                "preheader": preheader,
                "date": edition.date,
                "authors": edition.authors,
                "tags": edition.tags,
                "number": edition.number,
                "image_alt": edition.image_alt or "",
                "cta": {"text": edition.cta.text, "url": cta_url} if edition.cta else None,
                "reading_minutes": 0,  # Counted when the parts are rendered (_parts).
                "story_count": len(edition.stories),
                "extra": edition.extra,
            },
            "sections": [
                {
                    "id": section.id,
                    "title": section.title,
                    **_language(section.title_locale, localizer),
                    **_language(section.intro_locale, localizer, "intro_"),
                    "stories": [
                        self._story(story, localizer, assets, self.parser)
                        for story in section.stories
                    ],
                }
                for section in edition.sections
            ],
            "locale": localizer.layout,
            "masthead": masthead(
                self.project, self.logo, edition.locale, home_url(config.base_url, edition.locale)
            ),
            "web": {
                "url": web_url(config.base_url, edition.locale, issue.slug),
                "alternates": [
                    {**language(code), "url": web_url(config.base_url, code, issue.slug)}
                    for code in issue.locales
                    if code == edition.locale or code in offered
                ],
            },
            "merge": PLACEHOLDERS,
            "subscriber": SubscriberFields(merge=True),
            "email": True,
            "web_version": True,
        }

    def _lead_preheader(self, lead_markdown: str) -> str:
        """The lead's text, shortened to a preheader (and the archive's excerpt), for editions
        that give none."""
        return literal_placeholders(
            excerpt(prose_text(self.parser, with_defaults(lead_markdown)), PREHEADER_LENGTH)
        )

    @staticmethod
    def _story(
        story: Story, localizer: Localizer, assets: AssetMap, parser: MarkdownIt
    ) -> dict[str, Any]:
        url = assets.resolve(story.url, story.source) if story.url else ""
        # The body links the story's own page (the same URL once both are resolved, in the
        # form markdown-it writes links): the templates leave out their own link to it. A
        # longer URL, or a URL that is only text or code, is not that link.
        linked = bool(url) and assets.resolve(
            parser.normalizeLink(story.url or ""), story.source
        ) in {
            assets.resolve(parser.normalizeLink(target), story.source)
            for target in link_targets(parser.parse(story.body))
        }
        return {
            "slug": story.slug,
            "title": story.title or "",
            "url": url,
            "image_alt": story.image_alt or "",
            "summary": story.summary or "",
            "linked_in_body": linked,
            **_language(story.locale, localizer),
        }


def _language(locale: str | None, localizer: Localizer, prefix: str = "") -> dict[str, str]:
    """`lang` and `dir` for a text in `locale`: empty when it is the edition's own language."""
    other = bool(locale) and locale != localizer.locale
    return {
        f"{prefix}lang": locale_tag(locale or "") if other else "",
        f"{prefix}dir": text_direction(locale or "") if other else "",
    }


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start
