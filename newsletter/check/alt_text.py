"""Alt text of content images: missing, or a file name where a description should be.

A screen reader reads the alt text instead of the image, and mail clients that block images
show it: `topnews1.jpeg` or `IMG_2041` tells the reader nothing. Every content image needs one
(Markdown images, raw HTML `<img>`, the issue's and the stories' front-matter images), except a
raw HTML image marked decorative with an explicit empty `alt=""`, which screen readers skip.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from newsletter.content.local_files import PUBLISHED_SUFFIXES
from newsletter.model import Note

_IMAGE_SUFFIXES = "|".join(
    sorted(s.lstrip(".") for s in PUBLISHED_SUFFIXES | {".heic", ".heif", ".jfif"})
)
# A name ending in a file suffix ("topnews1.jpeg", "Screen Shot 2024-03-01 at 10.02.11.png").
_FILE_NAME = re.compile(rf"^\S.*\.(?:{_IMAGE_SUFFIXES})$", re.IGNORECASE)
# What cameras, phones and screenshot tools call a picture, one word after the prefix: IMG_2041,
# IMG 2041, DSC01234, PXL_2024..., image1; "Screenshot 2024-03-01 at 10.02.11". Words after it
# make a description ("Picture 3 shows the team").
_DEVICE_NAME = re.compile(
    r"^(?:(?:img|dsc|dscn|dcim|pxl|mvimg|vid|image|photo|picture|pic)[\s_-]*\d[\w.-]*"
    r"|screen[\s_-]?shot[\s_-]*\d[\d.:_-]*(?:\s+at\s+\d[\d.:_-]*(?:\s*[ap]\.?m\.?)?)?)$",
    re.IGNORECASE,
)
# A URL or a path from the top, the home or a parent folder: `/Users/ada/x`, `../images/x`.
_PATH = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|\.{0,2}/|~/)\S*$", re.IGNORECASE)
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s"'=<>/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?""")
ALT_HINT = "describe what the image shows, in the issue's language"


def alt_problem(alt: str | None, src: str) -> str | None:
    """What is wrong with `alt` for the image `src`: none given, or a file name; else None."""
    text = " ".join((alt or "").split())
    if not text:
        return "has no alt text"
    path = urlsplit(src).path
    name = PurePosixPath(unquote(path)).name if path else ""
    stem = name.rsplit(".", 1)[0]
    if (
        _FILE_NAME.match(text)
        or _DEVICE_NAME.match(text)
        or _PATH.match(text)
        or (
            " " not in text
            and text.casefold().rsplit("/", 1)[-1] in (name.casefold(), stem.casefold())
            and ("/" in text or re.search(r"[\d_]|-.*-", stem))  # `topnews1`, `a/hero`: a name.
        )
    ):
        return f"has a file name as alt text ({text!r})"
    return None


def image_note(
    alt: str | None, src: str, source: Path, line: int, hint: str, what: str = ""
) -> Iterator[Note]:
    """A warning when the image `src` written at `source`:`line` has no useful alt text;
    `what` names it in the message (default: `image 'SRC'`)."""
    problem = alt_problem(alt, src)
    if problem:
        what = what or f"image {src!r}"
        yield Note("warning", f"{what} {problem}", source, line, hint, code="alt-text")


def html_image_notes(raw: str, source: Path, line: int) -> Iterator[Note]:
    """Warnings for the `<img>` tags of raw HTML starting at `line`: no alt attribute, or a
    file name as alt. `alt=""` marks a decorative image and is accepted."""
    for match in _IMG.finditer(raw):
        attributes = {
            name.lower(): html.unescape(value.strip("\"'")) if value else ""
            for name, value in _ATTRIBUTE.findall(match.group(0)[4:-1])
        }
        src = attributes.get("src", "")
        at = line + raw.count("\n", 0, match.start())
        if "alt" not in attributes:
            yield Note(
                "warning",
                f"image {src!r} has no alt attribute",
                source,
                at,
                f'add alt="..." ({ALT_HINT}), or alt="" if the image is only decoration',
                code="alt-text",
            )
        elif attributes["alt"] and not attributes["alt"].strip():
            yield Note(
                "warning",
                f"image {src!r} has only spaces as alt text",
                source,
                at,
                f'write alt="..." ({ALT_HINT}), or alt="" if the image is only decoration',
                code="alt-text",
            )
        elif attributes["alt"]:
            yield from image_note(attributes["alt"], src, source, at, f'{ALT_HINT} in alt="..."')
