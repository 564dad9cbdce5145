"""Characters that must never reach HTML, XML or MJML, and terminal escape sequences.

Content is cleaned once, where an edition enters rendering (`clean_edition`), for the email,
the text part and the web page alike:

- C0 controls but tab, line feed and carriage return; DEL and the C1 controls; noncharacters
  (U+FDD0-U+FDEF, U+xFFFE and U+xFFFF); lone surrogates: removed from every text.
- Terminal escape sequences (CSI such as `ESC[31m` or `ESC[2K`, OSC such as a title or a
  hyperlink, and the short ones such as `ESC(B`): removed whole, so that no `[31m` is left
  behind. A C1 control is removed alone: it starts no sequence that could take text with it. Only inside code blocks are colour sequences (SGR) kept: the HTML renderer turns
  them into coloured spans (`terminal_html`), the text renderer drops them.

Character references (`&#27;`) decode to such characters after this; the renderers remove
what their output still holds (`strip_invalid`).
"""

from __future__ import annotations

import dataclasses
import html
import re
from typing import Any, TypeVar

from markdown_it import MarkdownIt

from newsletter.characters import may_hold_not_xml, strip_not_xml
from newsletter.model import Edition
from newsletter.render.merge import literal_placeholders

_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing
    r"|\x1b[\]PX^_][^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS...
    r"|\x1b[ -/]*[0-~]"  # Two-character and nF sequences: ESC(B, ESC=, ESC7
)
"""Sequences introduced by ESC. A C1 control (U+0080-U+009F: CSI U+009B, OSC U+009D...) never
introduces one here: in text it is almost always a Windows-1252 character read as Latin-1
(U+009B was `›`), so it is removed alone and the text after it stays."""
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
T = TypeVar("T")

MARKDOWN_FIELDS = frozenset({"lead", "closing", "footer", "intro", "body"})
"""Fields of the content model that hold Markdown (the others are plain text)."""


def strip_invalid(text: str) -> str:
    """`text` without the characters HTML and XML do not allow."""
    return strip_not_xml(text)


def strip_controls(text: str) -> str:
    """`text` without escape sequences (removed whole) and characters HTML and XML do not allow."""
    if not may_hold_not_xml(text):  # ESC is a C0 control: no escape sequence either.
        return text  # The common case: one scan, nothing copied.
    return strip_not_xml(_ESCAPE.sub("", text))


def clean_markdown(markdown: str, parser: MarkdownIt) -> str:
    """Markdown without invalid characters and escape sequences, but for the colour sequences
    on the lines of its code blocks."""
    if not may_hold_not_xml(markdown):
        return markdown
    lines = markdown.split("\n")
    cleaned = [strip_controls(line) for line in lines]
    if not _SGR.search(markdown):
        return "\n".join(cleaned)
    # Code blocks as the cleaned text has them (line numbers do not change in cleaning).
    for number in _code_content_lines(parser.parse("\n".join(cleaned))):
        line = lines[number]
        kept = _SGR.split(line)  # text, parameters, text, parameters, ..., text
        cleaned[number] = "".join(
            f"\x1b[{piece}m" if index % 2 else strip_controls(piece)
            for index, piece in enumerate(kept)
        )
    return "\n".join(cleaned)


def _code_content_lines(tokens: list[Any]) -> set[int]:
    """Line numbers (0-based) of the content of fenced and indented code blocks (fences out)."""
    lines: set[int] = set()
    for token in tokens:
        if token.type in ("fence", "code_block") and token.map:
            first = token.map[0] + (1 if token.type == "fence" else 0)
            lines.update(range(first, first + token.content.count("\n")))
    return lines


def clean_edition(edition: Edition, parser: MarkdownIt) -> Edition:
    """A copy of `edition` in which every text is clean (Markdown keeps colours in code) and
    holds no placeholder a reader's values would fill (`literal_placeholders`)."""
    return _clean(edition, parser, {})


def _clean(value: T, parser: MarkdownIt, seen: dict[int, Any], field: str = "") -> T:
    """`value` with its texts cleaned: strings, lists, dicts and the model's dataclasses."""
    if isinstance(value, str):
        cleaned: Any = literal_placeholders(
            clean_markdown(value, parser) if field in MARKDOWN_FIELDS else strip_controls(value)
        )
        return cleaned  # type: ignore[no-any-return]
    if id(value) in seen:  # A story stands in its section and in the edition's list.
        return seen[id(value)]  # type: ignore[no-any-return]
    if isinstance(value, list):
        result: Any = [_clean(item, parser, seen, field) for item in value]
    elif isinstance(value, dict):
        result = {
            strip_controls(key) if isinstance(key, str) else key: _clean(item, parser, seen)
            for key, item in value.items()
        }
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _clean(getattr(value, f.name), parser, seen, f.name)
            for f in dataclasses.fields(value)
            if f.name not in ("notes", "parsed")  # Tokens, kept: a changed text misses them.
        }
        result = dataclasses.replace(value, **changes)
    else:
        return value
    seen[id(value)] = result
    return result  # type: ignore[no-any-return]


# The 16 colours of a terminal (and bold), as classes the theme's stylesheet colours.
_XTERM = [
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205),
    (0, 205, 205), (229, 229, 229), (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
    (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
]  # fmt: skip
_CUBE = (0, 95, 135, 175, 215, 255)


def has_colours(code: str) -> bool:
    """Whether a code block's text holds colour sequences (terminal output)."""
    return "\x1b" in code and bool(_SGR.search(code))


def strip_escapes(code: str) -> str:
    """A code block's text as a terminal shows it without colours: the sequences removed."""
    return _ESCAPE.sub("", code) if "\x1b" in code else code


def terminal_html(code: str) -> str:
    """A code block's text as escaped HTML, its colour sequences as `nl-ansi-N` spans
    (N the colour, 0-15; 256 and RGB colours take the nearest of them) and `nl-ansi-bold`."""
    parts = _SGR.split(code)
    out: list[str] = []
    colour: int | None = None
    bold = False
    for index, piece in enumerate(parts):
        if index % 2:
            colour, bold = _apply_sgr(piece, colour, bold)
            continue
        text = html.escape(strip_escapes(piece), quote=False)
        if not text:
            continue
        classes = ([f"nl-ansi-{colour}"] if colour is not None else []) + (
            ["nl-ansi-bold"] if bold else []
        )
        out.append(f'<span class="{" ".join(classes)}">{text}</span>' if classes else text)
    return "".join(out)


def _apply_sgr(parameters: str, colour: int | None, bold: bool) -> tuple[int | None, bool]:
    """The colour and weight after one SGR sequence's parameters (`1;31`, `38;5;208`, ``)."""
    codes = [int(code) if code.isdigit() else 0 for code in re.split("[;:]", parameters)]
    index = 0
    while index < len(codes):
        code = codes[index]
        if code == 0:
            colour, bold = None, False
        elif code == 1:
            bold = True
        elif code in (21, 22):
            bold = False
        elif 30 <= code <= 37 or 90 <= code <= 97:
            colour = code - 30 if code < 90 else code - 90 + 8
        elif code == 39:
            colour = None
        elif code in (38, 48) and index + 1 < len(codes):
            # Extended colours: 5;N (256 colours) or 2;R;G;B; backgrounds are read and ignored.
            size = 2 if codes[index + 1] == 5 else 4 if codes[index + 1] == 2 else 1
            if code == 38:
                colour = _nearest(codes[index + 1 : index + 1 + size])
            index += size
        index += 1
    return colour, bold


def _nearest(spec: list[int]) -> int | None:
    """The nearest of the 16 colours to a 256-colour index (`[5, N]`) or RGB (`[2, R, G, B]`)."""
    if len(spec) == 2 and spec[0] == 5:
        number = spec[1]
        if number < 16:
            return number
        if number >= 232:
            grey = 8 + 10 * (number - 232)
            rgb = (grey, grey, grey)
        else:
            number -= 16
            rgb = (_CUBE[number // 36 % 6], _CUBE[number // 6 % 6], _CUBE[number % 6])
    elif len(spec) == 4 and spec[0] == 2:
        rgb = (spec[1], spec[2], spec[3])
    else:
        return None
    return min(
        range(16), key=lambda i: sum((a - b) ** 2 for a, b in zip(_XTERM[i], rgb, strict=True))
    )
