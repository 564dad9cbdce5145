"""sitemap.xml (every page, with its language alternates) and robots.txt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

from newsletter.archive.layout import WEB_APP_ROUTES
from newsletter.render.i18n import locale_tag

SITEMAPS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML = "http://www.w3.org/1999/xhtml"


@dataclass
class SitemapPage:
    """One page: its URL, when it last changed, and the same page in other languages."""

    url: str
    lastmod: str | None = None
    """A W3C date (2024-05-07) or None."""
    alternates: dict[str, str] = field(default_factory=dict)
    """Locale -> URL, this page's own locale included (as Google asks)."""
    default: str | None = None
    """The URL for x-default, when the page has one."""


def sitemap(pages: Sequence[SitemapPage]) -> bytes:
    """The sitemap of `pages`."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<urlset xmlns="{SITEMAPS}" xmlns:xhtml="{XHTML}">',
    ]
    for page in pages:
        lines.append(f"  <url><loc>{_text(page.url)}</loc>")
        if page.lastmod:
            lines.append(f"    <lastmod>{page.lastmod}</lastmod>")
        if len(page.alternates) > 1:
            for locale, url in page.alternates.items():
                lines.append(
                    f'    <xhtml:link rel="alternate" hreflang="{locale_tag(locale)}" '
                    f"href={quoteattr(url)}/>"
                )
            if page.default:
                lines.append(
                    f'    <xhtml:link rel="alternate" hreflang="x-default" '
                    f"href={quoteattr(page.default)}/>"
                )
        lines.append("  </url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def robots(base_url: str) -> bytes:
    """robots.txt: everything may be crawled but the web app's pages, which are personal (links
    with a subscriber's token) or forms."""
    path = urlsplit(base_url).path.rstrip("/")
    lines = [
        "User-agent: *",
        *(f"Disallow: {path}/{route}" for route in sorted(WEB_APP_ROUTES - {"subscribe"})),
        "",
        f"Sitemap: {base_url}/sitemap.xml",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
