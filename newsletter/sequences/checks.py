"""What `newsletter check` says of a sequence step beyond what it says of any issue.

A step is never published, so a file of the project it links (an image beside it) has no
address: the email would show a broken image. Issues get theirs from the archive.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from newsletter.check.rendered import Renders
from newsletter.model import Note
from newsletter.sequences.files import Step

FILE_HINT = (
    "put the file on the web (the archive's static/ folder, a CDN) and link its absolute URL"
)


def unpublished_files(step: Step, renderer: Renders, base_url: str) -> list[Note]:
    """An error for each file of the project a step's email links: it would have no address."""
    prefix = re.escape(f"{base_url.rstrip('/')}/{step.issue.slug}/")
    linked = re.compile(prefix + r"""([^"'\s<>)]+)""")
    notes = []
    for locale, edition in step.issue.editions.items():
        html = renderer.render(step.issue, locale).email_html
        for path in sorted(set(linked.findall(html))):
            notes.append(
                Note(
                    "error",
                    f"{locale}: links {unquote(path)}, a file beside the step: steps are never "
                    "published, so it has no address and readers would see it broken",
                    edition.source,
                    None,
                    FILE_HINT,
                    code="unpublished-file",
                )
            )
    return notes
