"""Where each file of the archive lives, its public URL, and the links between pages.

    index.html                       the languages of the archive (x-default)
    LOCALE/index.html                the newest issues in LOCALE; LOCALE/page/N/index.html older
    LOCALE/SLUG/index.html           an issue in LOCALE (its web version)
    LOCALE/atom.xml, LOCALE/rss.xml  the feeds of LOCALE
    SLUG/PATH                        the issue's files under the names emails link to
    SLUG/PATH.HASH.EXT               the same files under content-hashed names, which pages link
    static/LOGO, static/LOGO.HASH.EXT  the logo (a file in the project), for emails and for pages
    sitemap.xml, robots.txt, 404.html

Pages link each other relatively, so the folder works under any host and path; what must be
absolute (canonical and alternate links, social cards, feeds, the sitemap) uses the base URL.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import quote

from newsletter.errors import ContentError
from newsletter.render.masthead import LOGO_FOLDER

INDEX = "index.html"
ROOT_FILES = frozenset({INDEX, "404.html", "robots.txt", "sitemap.xml"})
PAGED = "page"
WEB_APP_ROUTES = frozenset({"subscribe", "confirm", "unsubscribe", "preferences", "healthz"})
FEEDS = {"atom": "atom.xml", "rss": "rss.xml"}


def issue_page(locale: str, slug: str) -> str:
    """The path of an issue's page in `locale`."""
    return f"{locale}/{slug}/{INDEX}"


def index_page(locale: str, number: int) -> str:
    """The path of index page `number` (from 1) of `locale`."""
    return f"{locale}/{INDEX}" if number == 1 else f"{locale}/{PAGED}/{number}/{INDEX}"


def feed_file(locale: str, kind: str) -> str:
    """The path of the `atom` or `rss` feed of `locale`."""
    return f"{locale}/{FEEDS[kind]}"


def issue_file(slug: str, inside: str) -> str:
    """The path of a file of an issue, as emails link it."""
    return f"{slug}/{inside}"


def hashed_name(inside: str, digest: str) -> str:
    """`images/hero.png` -> `images/hero.DIGEST.png`: a name that changes when the file does."""
    path = PurePosixPath(inside)
    return str(path.with_name(f"{path.stem}.{digest[:10]}{path.suffix}"))


def url_of(base_url: str, path: str) -> str:
    """The public URL of the file at `path` (a folder's URL for its index.html)."""
    return f"{base_url}/{_href(path)}"


def link(page: str, target: str) -> str:
    """The relative link from the file at `page` to the file at `target` (both relative to the
    root of the archive)."""
    # posixpath.relpath asks the OS for the working directory at every call; these paths are
    # already relative to one root, so comparing their folders is enough.
    here, there = page.split("/")[:-1], target.split("/")
    common = 0
    while common < min(len(here), len(there) - 1) and here[common] == there[common]:
        common += 1
    relative = "../" * (len(here) - common) + "/".join(there[common:])
    if relative == INDEX:
        return "./"
    return _href(relative)


def _href(path: str) -> str:
    if path == INDEX:
        return ""
    if path.endswith(f"/{INDEX}"):
        path = path[: -len(INDEX)]
    return quote(path)


def check_slug(slug: str, locales: list[str], source: Path) -> None:
    """ContentError when an issue's slug would take the place of another part of the site."""
    if not slug or slug.startswith(".") or "/" in slug:
        raise ContentError(
            f"the issue's slug {slug!r} cannot name a folder of the archive",
            path=source,
            hint="give the issue a `slug:` of letters, digits and dashes",
        )
    if (
        slug in locales
        or slug in WEB_APP_ROUTES
        or slug in ROOT_FILES
        or slug in (PAGED, LOGO_FOLDER)
    ):
        raise ContentError(
            f"the issue slug {slug!r} is taken by the archive's /{slug} "
            "(a language, a page of the web app, or a file or folder of the archive)",
            path=source,
            hint="give the issue another `slug:` in its front matter",
        )


def is_inside(path: str) -> bool:
    """Whether `path` names a file inside the archive folder (no absolute path, `..`, `//`)."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)
