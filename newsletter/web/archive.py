"""The archive in the web app: the same files `newsletter archive` writes, kept current and served.

The app builds the archive into `archive_dir` (incrementally, so a check is cheap) at most once
every few seconds, when a page is asked for: a new send or an edited issue shows within that
time. A build that fails (a broken issue) is logged and the previous pages stay online.
Content-hashed files are cached for a year; pages and feeds are revalidated. Its redirects
(`/en` to `/en/`, `/subscribe/` to `/subscribe`) are paths on this site, never built from the
Host header the client sent.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
from sqlalchemy import Engine
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from newsletter.archive.layout import WEB_APP_ROUTES
from newsletter.archive.sources import file_hash
from newsletter.config import Project
from newsletter.errors import NewsletterError
from newsletter.web.redirects import local_path

log = logging.getLogger(__name__)
REFRESH_INTERVAL = 2.0
"""Seconds between two checks of the issues and the database for changes."""
_HASHED = re.compile(r"\.([0-9a-f]{10})\.[A-Za-z0-9]+$")
FOREVER = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


class ArchiveKeeper:
    """Keeps the archive folder up to date for the web app."""

    def __init__(
        self,
        project: Project,
        engine: Engine,
        monotonic: Callable[[], float] = time.monotonic,
        interval: float = REFRESH_INTERVAL,
    ) -> None:
        self.project = project
        self.engine = engine
        self.folder = project.archive_path
        self.monotonic = monotonic
        self.interval = interval
        self.next_check = float("-inf")
        self.lock = threading.Lock()

    def refresh(self, force: bool = False) -> None:
        """Build what changed, unless the last check was under `interval` seconds ago or another
        request is building it now (that one serves the pages there are)."""
        if not force and self.monotonic() < self.next_check:
            return
        if not self.lock.acquire(blocking=force):
            return
        try:
            from newsletter.archive.build import build_archive
            from newsletter.deliver.report import sent_issues

            report = build_archive(self.project, self.folder, sent=sent_issues(self.engine))
            for problem in report.skipped:
                log.warning("archive: skipped an issue that does not read: %s", problem)
            if report.written or report.removed:
                log.info(
                    "archive: %d issues, %d files written, %d removed",
                    report.issues,
                    len(report.written),
                    len(report.removed),
                )
        except NewsletterError as error:
            log.error("the archive was not updated (the pages online stay as they were): %s", error)
        except Exception:  # A bug must not take the subscribe pages down with the archive.
            log.exception("the archive was not updated (the pages online stay as they were)")
        finally:
            self.next_check = self.monotonic() + self.interval
            self.lock.release()


class ArchiveFiles(StaticFiles):
    """The archive folder over HTTP, as a static web server would serve it (index.html for
    folders, 404.html for what is missing), refreshed first."""

    def __init__(self, keeper: ArchiveKeeper) -> None:
        super().__init__(directory=keeper.folder, html=True, check_dir=False)
        self.keeper = keeper
        self.hashes: dict[tuple[str, int], str] = {}

    async def check_config(self) -> None:
        """Starlette refuses a missing folder; before the first build there is none yet."""
        self.keeper.folder.mkdir(parents=True, exist_ok=True)
        await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at `path`, with caching headers; 404.html for missing and hidden files."""
        route, query = scope["path"], scope.get("query_string", b"").decode("latin-1")
        if route.endswith("/") and route.strip("/").split("/")[0] in WEB_APP_ROUTES:
            # `/subscribe/` is the app's page, not a folder of the archive.
            return RedirectResponse(local_path(route.rstrip("/"), query), status_code=308)
        await anyio.to_thread.run_sync(self.keeper.refresh)
        if any(part.startswith(".") and part != "." for part in path.split("/")):
            return self._not_found()
        response = await super().get_response(path, scope)
        if isinstance(response, RedirectResponse):
            # A folder without its slash: Starlette's redirect names the Host the client sent.
            return RedirectResponse(local_path(route + "/", query), status_code=307)
        if response.status_code < 300:
            forever = isinstance(response, FileResponse) and self._named_by_content(response)
            response.headers["Cache-Control"] = FOREVER if forever else REVALIDATE
        return response

    def _named_by_content(self, response: FileResponse) -> bool:
        """Whether the file's name carries its content hash, as the archive names the copies
        pages link (a file that merely looks so, `report.2024010112.pdf`, must stay fresh)."""
        found = _HASHED.search(str(response.path))
        if found is None or response.stat_result is None:
            return False
        key = (str(response.path), response.stat_result.st_mtime_ns)
        if key not in self.hashes:
            self.hashes[key] = file_hash(Path(response.path))
        return self.hashes[key].startswith(found.group(1))

    def _not_found(self) -> Response:
        page = self.keeper.folder / "404.html"
        if page.is_file():
            return FileResponse(page, status_code=404)
        return PlainTextResponse("Not Found", status_code=404)
