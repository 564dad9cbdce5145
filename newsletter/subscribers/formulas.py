"""Spreadsheet formulas in CSV cells: neutralised when exported, recognised when imported.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and may strip a
leading tab or line break first (`=cmd|'/c calc'!A1`, `=HYPERLINK(...)` in a subscriber's
name). Following OWASP's advice on CSV injection, the export prefixes such a cell with a single
quote, which spreadsheets read as "this is text". The import removes that quote again, so an
export imports back without loss; to keep that exact, a value that already starts with quotes
followed by one of those characters (`'=x`) gets one more quote on the way out.
"""

from __future__ import annotations

import re

# Quotes, then a character a spreadsheet starts a formula with (or skips before one).
_FORMULA = re.compile(r"'*[=+\-@\t\r\n]")
_QUOTED_FORMULA = re.compile(r"'+[=+\-@\t\r\n]")


def neutralise(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text: a single quote before a formula's start."""
    return f"'{cell}" if _FORMULA.match(cell) else cell


def restore(cell: str) -> str:
    """What `neutralise` made `cell` from: one quote fewer before a formula's start."""
    return cell[1:] if _QUOTED_FORMULA.match(cell) else cell
