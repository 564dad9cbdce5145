"""`newsletter preview`: the editor's view of an issue while writing it.

    /                              the issues and their locales
    /SLUG/LOCALE/                  the email at desktop and phone widths side by side, a locale
                                   switcher, links to the text part and the web version, and what
                                   `newsletter check` finds in the issue (the same checks)
    /SLUG/LOCALE/email.html        the email as a sample reader gets it
    /SLUG/LOCALE/email.txt         its text part
    /SLUG/LOCALE/web/              the web version
    /SLUG/PATH                     the issue's own files (images), as the public site serves them
    /static/NAME                   the logo (a file in the project), as the archive publishes it
    /SLUG/, /SLUG/LOCALE           redirect to the issue's page (a path on this server, whatever
                                   the Host header says: newsletter/web/redirects.py)
    /__version                     a fingerprint of every source file; pages reload when it changes

Everything is rendered with the server's own address as base URL, so images load locally.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from newsletter.check import check_issue, count
from newsletter.config import Project
from newsletter.content.loader import IssueLoader
from newsletter.content.local_files import IssueFiles
from newsletter.content.markdown import markdown_parser
from newsletter.content.source import discover_issue_paths
from newsletter.errors import NewsletterError, NotFoundError
from newsletter.files import fingerprint
from newsletter.model import Issue, Note
from newsletter.render.i18n import CATALOGS
from newsletter.render.masthead import LOGO_FOLDER, site_logo
from newsletter.render.merge import personalize, sample_values
from newsletter.render.pipeline import RenderedEdition, Renderer
from newsletter.render.templates import BUILTIN_THEMES
from newsletter.sequences.files import load_sequences
from newsletter.web.redirects import LocalRedirects, local_path

POLL_MILLISECONDS = 800


class Preview:
    """Loads and renders on demand; caches by the fingerprint of the source files."""

    def __init__(self, project: Project, origin: str) -> None:
        config = project.config.model_copy(update={"base_url": origin.rstrip("/")})
        self.project = replace(project, config=config)
        self.watched = [
            self.project.issues_path,
            self.project.sequences_path,
            self.project.root / "templates",
            BUILTIN_THEMES,
            CATALOGS,
        ]
        self.parser = markdown_parser()
        self._version = ""
        self._issues: dict[str, Issue] = {}
        self._steps: set[str] = set()
        """The slugs of sequence steps among them."""
        self._rendered: dict[tuple[str, str], RenderedEdition] = {}
        self._findings: dict[str, list[Note]] = {}

    def version(self) -> str:
        """A fingerprint of every watched file's name, size and modification time."""
        return fingerprint(self.watched)[:16]

    def issues(self) -> list[Issue]:
        """Every issue, loaded again only when a source file changed (not per image request)."""
        version = self.version()
        if version != self._version:
            loader = IssueLoader(self.project.config, self.project.root)
            paths = discover_issue_paths(self.project.issues_path, self.project.config.locales)
            self._issues, self._rendered, self._findings = {}, {}, {}
            for path in paths:
                issue = loader.load(path)
                self._issues[issue.slug] = issue
            self._steps = set()
            for sequence in load_sequences(self.project):  # Steps are previewed like issues.
                self._issues.update((step.issue.slug, step.issue) for step in sequence.steps)
                self._steps.update(step.issue.slug for step in sequence.steps)
            self._version = version
        return list(self._issues.values())

    def issue(self, slug: str) -> Issue:
        self.issues()
        if slug not in self._issues:
            raise NotFoundError(f"no issue {slug!r}", hint="open / for the list of issues")
        return self._issues[slug]

    def render(self, slug: str, locale: str) -> RenderedEdition:
        issue = self.issue(slug)  # Refreshes the cache first when something changed.
        if locale not in issue.editions:
            raise NotFoundError(
                f"issue {slug} has no {locale!r} edition",
                hint=f"its editions: {', '.join(issue.locales)}; open / for the list of issues",
            )
        if (slug, locale) not in self._rendered:
            self._rendered[(slug, locale)] = Renderer(self.project).render(
                issue,
                locale,
                web_version=slug not in self._steps,  # A step has no web page.
            )
        return self._rendered[(slug, locale)]

    def findings(self, slug: str) -> list[Note]:
        """What `newsletter check` reports for the issue, its editions rendered through this cache;
        computed again after every change of a source file."""
        issue = self.issue(slug)
        if slug not in self._findings:
            try:
                found = check_issue(
                    issue, self.parser, _CachedRenderer(self), self.project.config.fields
                )
            except NewsletterError as error:  # An edition that does not render is a finding too.
                found = [
                    Note("error", error.message, error.path or issue.path, error.line, error.hint)
                ]
            self._findings[slug] = found
        return self._findings[slug]

    def values(self, rendered: RenderedEdition) -> dict[str, str]:
        base = self.project.config.base_url
        return sample_values(base, f"{base}/{rendered.slug}/{rendered.locale}/web/")


@dataclass(frozen=True)
class _CachedRenderer:
    """The preview's renderings as `check` asks for them."""

    preview: Preview

    def render(self, issue: Issue, locale: str) -> RenderedEdition:
        return self.preview.render(issue.slug, locale)


class PreviewPages:
    """The preview's pages, each rendered from the issues as they are on disk now."""

    def __init__(self, project: Project, origin: str) -> None:
        self.project = project
        self.preview = Preview(project, origin)
        self.pages = Environment(
            loader=PackageLoader("newsletter.web", "pages"), autoescape=select_autoescape(["html"])
        )

    def failure(self, error: NewsletterError) -> HTMLResponse:
        page = self.pages.get_template("preview_error.html").render(
            error=str(error), poll=POLL_MILLISECONDS, version=self.preview.version()
        )
        return HTMLResponse(page, status_code=404 if isinstance(error, NotFoundError) else 500)

    async def index(self, request: Request) -> Response:
        try:
            issues = self.preview.issues()
        except NewsletterError as error:
            return self.failure(error)
        return HTMLResponse(
            self.pages.get_template("preview_index.html").render(
                issues=issues,
                name=self.project.config.name,
                poll=POLL_MILLISECONDS,
                version=self.preview.version(),
            )
        )

    async def shell(self, request: Request) -> Response:
        slug, locale = request.path_params["slug"], request.path_params["locale"]
        try:
            issue = self.preview.issue(slug)
            rendered = self.preview.render(slug, locale)
            findings = self.preview.findings(slug)
        except NewsletterError as error:
            return self.failure(error)
        page = self.pages.get_template("preview.html").render(
            issue=issue, locale=locale, rendered=rendered, counts=count(findings),
            findings=[(note, _where(note.path, self.project.root)) for note in findings],
            poll=POLL_MILLISECONDS, version=self.preview.version(),
            size=len(rendered.email_html.encode()),
        )  # fmt: skip
        return HTMLResponse(page)

    def _personalized(self, request: Request) -> tuple[str, str]:
        """The email and its text part as the sample reader gets them."""
        preview = self.preview
        rendered = preview.render(request.path_params["slug"], request.path_params["locale"])
        return personalize(rendered.email_html, rendered.text, preview.values(rendered))

    async def email(self, request: Request) -> Response:
        try:
            return HTMLResponse(self._personalized(request)[0])
        except NewsletterError as error:
            return self.failure(error)

    async def text(self, request: Request) -> Response:
        try:
            return PlainTextResponse(self._personalized(request)[1])
        except NewsletterError as error:
            status = 404 if isinstance(error, NotFoundError) else 500
            return PlainTextResponse(str(error), status_code=status)

    async def web(self, request: Request) -> Response:
        slug, locale = request.path_params["slug"], request.path_params["locale"]
        path = request.path_params.get("path", "")
        if path:  # A file the web page links to, relative to itself.
            return _issue_file(self.preview, slug, path)
        try:
            return HTMLResponse(self.preview.render(slug, locale).web_html)
        except NewsletterError as error:
            return self.failure(error)

    async def asset(self, request: Request) -> Response:
        return _asset(self.preview, request.path_params["slug"], request.path_params["path"])

    async def logo(self, request: Request) -> Response:
        try:
            found = site_logo(self.project)
        except NewsletterError as error:
            return self.failure(error)
        if (
            found is None
            or found.source is None
            or request.path_params["name"] != found.source.name
        ):
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(found.source)

    async def version(self, request: Request) -> Response:
        return JSONResponse(
            {"version": self.preview.version()}, headers={"Cache-Control": "no-store"}
        )


def create_app(project: Project, origin: str) -> Starlette:
    """The preview application for `project`, served at `origin` (e.g. http://127.0.0.1:8000)."""
    pages = PreviewPages(project, origin)
    return Starlette(
        middleware=[Middleware(LocalRedirects)],
        routes=[
            Route("/", pages.index),
            Route("/__version", pages.version),
            Route("/{slug}/{locale}/", pages.shell),
            Route("/{slug}/{locale}/email.html", pages.email),
            Route("/{slug}/{locale}/email.txt", pages.text),
            Route("/{slug}/{locale}/web/", pages.web),
            Route("/{slug}/{locale}/web/{path:path}", pages.web),
            Route(f"/{LOGO_FOLDER}/{{name}}", pages.logo),
            Route("/{slug}/{path:path}", pages.asset),
        ],
    )


def _where(path: Path, root: Path) -> str:
    """`path` relative to the project folder, as `check` names it when run there."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _asset(preview: Preview, slug: str, path: str) -> Response:
    """A file of the issue; its page for `/SLUG/` and `/SLUG/LOCALE` (a path on this server)."""
    try:
        issue = preview.issue(slug)
    except NewsletterError:
        return PlainTextResponse("not found", status_code=404)
    locale = path.rstrip("/") or issue.default_locale
    if locale in issue.locales:
        return RedirectResponse(local_path(f"/{slug}/{locale}/"))
    return _issue_file(preview, slug, path)


def _issue_file(preview: Preview, slug: str, path: str) -> Response:
    """A file inside the issue's folder that a build would publish (content/local_files.py);
    never anything outside it, hidden, or of another kind."""
    try:
        issue = preview.issue(slug)
    except NewsletterError:
        return PlainTextResponse("not found", status_code=404)
    rule = IssueFiles(issue.path, issue.project_root)
    found = rule.find(path, rule.root / "issue.md")  # Relative to the issue's folder.
    if not found.published or not found.path.is_relative_to(rule.root):
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(found.path)
