"""Reading a subscriber CSV file: its encoding, delimiter and header, and its numbered rows."""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from newsletter.characters import forbidden_character
from newsletter.errors import NewsletterError
from newsletter.subscribers.formulas import restore

if TYPE_CHECKING:
    from _csv import Reader as CsvReader


# Header spellings per field, compared without case, spaces, dashes and underscores. When two
# columns mean the same field, the spelling listed first wins and the other becomes an attribute.
ALIASES = {
    "email": ("email", "emailaddress", "mail", "address"),
    "name": ("name", "fullname"),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname", "familyname"),
    "locale": ("locale", "language", "lang"),
    "timezone": ("timezone", "tz"),
    "tags": ("tags", "tag", "groups", "lists"),
    "status": ("status",),
}
FIELD_OF = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
# Consent columns of `newsletter subscribers export`: a new subscriber's consent is the import,
# and these (the consent given before) are kept in its consent event's details, not attributes.
EARLIER = {"createdat": "created_at", "confirmedat": "confirmed_at", "consentat": "consent_at"}
EARLIER |= {"consentmethod": "consent_method", "consentsource": "consent_source"}
ATTRIBUTE, IGNORE = "attribute", "ignore"
DELIMITERS = (",", ";", "\t")
QUOTES = 'close the quoted field that starts on this line (a quote inside quotes is written "")'


# -- Reading the file -----------------------------------------------------------------------


def detect_encoding(path: Path, given: str | None) -> str:
    """`given` (UTF-8 tolerating a BOM), else what the byte order mark says, else UTF-8."""
    if given is not None:
        try:
            name = codecs.lookup(given).name
        except LookupError:
            hint = "use e.g. --encoding utf-8, cp1252 or latin-1"
            raise NewsletterError(f"unknown encoding {given!r}", path=path, hint=hint) from None
        return "utf-8-sig" if name == "utf-8" else name
    with path.open("rb") as stream:
        start = stream.read(4)
    if start.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig"  # UTF-8 with or without a BOM.


def open_reader(stream: TextIO, path: Path, delimiter: str | None) -> tuple[CsvReader, list[str]]:
    """A csv reader positioned after the header, and the header (delimiter detected from it)."""
    first = stream.readline()
    if not first.strip():
        hint = "start the file with a header such as email,name,locale"
        if not first:
            raise NewsletterError("the file is empty", path=path, hint=hint)
        raise NewsletterError(
            "the first line is empty: it must name the columns", path=path, line=1, hint=hint
        )
    if delimiter is None:
        delimiter = max(DELIMITERS, key=first.count)
    elif delimiter.lower() in ("tab", "\\t"):
        delimiter = "\t"
    if len(delimiter) != 1:
        hint = "use --delimiter ';' or --delimiter tab"
        raise NewsletterError(
            f"the delimiter must be one character, not {delimiter!r}", path=path, hint=hint
        )
    # Strict: a quoted field that never closes is an error, not the rest of the file in one field.
    reader = csv.reader(chain([first], stream), delimiter=delimiter, strict=True)
    try:
        header = [restore(name.strip().lstrip("\ufeff")) for name in next(reader)]
    except csv.Error as error:
        raise NewsletterError(
            f"cannot read the header: {error}", path=path, line=1, hint=QUOTES
        ) from error
    return reader, header


def numbered_rows(reader: CsvReader, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, row) for each row that is not blank; NewsletterError if the
    CSV cannot be read (an unclosed quote)."""
    start = reader.line_num + 1
    try:
        for row in reader:
            if any(row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as error:
        raise NewsletterError(
            f"cannot read the CSV: {error}", path=path, line=start, hint=QUOTES
        ) from error


def undecodable(path: Path, encoding: str, *, explicit: bool) -> NewsletterError:
    """The error for a file that is not in `encoding`, naming the first line that is not."""
    shown = encoding.removesuffix("-sig").upper()
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[: error.start].decode(encoding, errors="replace").count("\n") + 1
        bad = raw[error.start : error.end].hex(" ")
    else:  # The stream failed, so the whole file fails too; this is only for safety.
        line, bad = 0, "?"
    message = f"cannot decode the file as {shown}: bytes {bad} on this line"
    hint = (
        "give the file's encoding, e.g. --encoding cp1252 (Excel on Windows) or --encoding latin-1"
    )
    if explicit:
        hint = f"check --encoding: this line is not {shown}"
    return NewsletterError(message, path=path, line=line or None, hint=hint)


# -- The header -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Where each field is in a row; which columns are attributes or earlier consent (as what)."""

    count: int
    index: dict[str, int]
    attributes: tuple[tuple[int, str], ...]
    earlier: tuple[tuple[int, str], ...]


def map_columns(header: list[str], mapping: Mapping[str, str] | None, path: Path) -> Columns:
    """Map the header to fields: `mapping` first, then the aliases; the rest are attributes."""
    chosen: dict[int, str] = {}
    for column, target in (mapping or {}).items():
        folded = [fold_header(name) for name in header]
        where = header.index(column) if column in header else None
        if where is None and fold_header(column) in folded:
            where = folded.index(fold_header(column))
        if where is None:
            message = (
                f"--map names the column {column!r}, but the header has {listed_headers(header)}"
            )
            raise NewsletterError(message, path=path, line=1, hint="use the header's spelling")
        wanted = fold_header(target)
        if wanted in ("attribute", "attributes", "ignore", "skip"):
            chosen[where] = IGNORE if wanted in ("ignore", "skip") else ATTRIBUTE
        elif wanted in FIELD_OF:
            chosen[where] = FIELD_OF[wanted]
        else:
            hint = f"map to one of {', '.join(ALIASES)}, attribute or ignore"
            raise NewsletterError(
                f"--map {column}={target}: {target!r} is not a field", path=path, hint=hint
            )
    index = {name: where for where, name in chosen.items() if name in ALIASES}
    rank: dict[str, int] = {}
    for where, name in enumerate(header):
        if where in chosen or (meant := FIELD_OF.get(fold_header(name))) is None:
            continue
        priority = ALIASES[meant].index(fold_header(name))
        if meant not in index or (meant in rank and priority < rank[meant]):
            index[meant], rank[meant] = where, priority
    if "email" not in index:
        hint = f'name the address column with --map "{header[0] or "Header"}=email"'
        raise NewsletterError(
            f"no email column: the header has {listed_headers(header)}",
            path=path,
            line=1,
            hint=hint,
        )
    earlier, attributes = [], []
    for where, name in enumerate(header):
        if where in index.values() or chosen.get(where) == IGNORE:
            continue
        if where not in chosen and fold_header(name) in EARLIER:
            earlier.append((where, EARLIER[fold_header(name)]))
        else:
            if problem := forbidden_character(name):
                hint = "rename the column in the header (it becomes an attribute's name)"
                message = f"column {where + 1} {name!r}: the name {problem}"
                raise NewsletterError(message, path=path, line=1, hint=hint)
            attributes.append((where, name or f"column {where + 1}"))
    return Columns(len(header), index, tuple(attributes), tuple(earlier))


def fold_header(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name).casefold()


def listed_headers(header: list[str]) -> str:
    return ", ".join(repr(name) for name in header)


def cell(row: list[str], where: int | None) -> str:
    return row[where].strip() if where is not None else ""
