"""Footnotes in HTML, numbered once per edition: lead, stories and closing count on.

Each part of an issue is parsed on its own, so markdown-it numbers the footnotes of every
story from 1. The renderer passes the count so far in the parse's env (`FIRST`); these rules
add it to every number, id and list start, so an edition has one footnote 3 and one `fn-3`.
With `LINKS` false (the email, feeds) a reference is a plain number and the list has no
back-links: in-message anchors do not work in many mail clients. The web page links both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

FIRST = "nlFootnotesBefore"
"""env key: how many footnotes the edition's earlier parts had."""
LINKS = "nlFootnoteLinks"
"""env key: whether references and back-links are links (the web page) or not (email)."""


def use_edition_numbering(parser: MarkdownIt) -> None:
    """Render `parser`'s footnotes with edition-wide numbers (see the module's docstring)."""
    parser.add_render_rule("footnote_ref", _reference)
    parser.add_render_rule("footnote_block_open", _list_open)
    parser.add_render_rule("footnote_open", _item_open)
    parser.add_render_rule("footnote_anchor", _back_link)


def footnote_count(env: dict[str, Any]) -> int:
    """How many footnotes a parse with `env` numbered (the ones referenced in the text)."""
    return len(env.get("footnotes", {}).get("list", {}))


def _number(token: Token, env: Any) -> int:
    return int(env.get(FIRST, 0)) + int(token.meta["id"]) + 1


def _reference_id(number: int, again: int) -> str:
    """The id of a reference: `fnref-3`, and `fnref-3-2` for the second one to the same note."""
    return f"fnref-{number}" + (f"-{again + 1}" if again else "")


def _reference(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    number = _number(tokens[idx], env)
    if not env.get(LINKS):
        return f'<sup class="footnote-ref">[{number}]</sup>'
    again = int(tokens[idx].meta.get("subId", 0))
    return (
        f'<sup class="footnote-ref"><a href="#fn-{number}" '
        f'id="{_reference_id(number, again)}">[{number}]</a></sup>'
    )


def _list_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    first = int(env.get(FIRST, 0)) + 1
    start = f' start="{first}"' if first > 1 else ""
    return (
        '<hr class="footnotes-sep">\n<section class="footnotes">\n'
        f'<ol class="footnotes-list"{start}>\n'
    )


def _item_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    if not env.get(LINKS):
        return '<li class="footnote-item">'
    return f'<li id="fn-{_number(tokens[idx], env)}" class="footnote-item">'


def _back_link(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    if not env.get(LINKS):
        return ""
    number = _number(tokens[idx], env)
    again = int(tokens[idx].meta.get("subId", 0))
    # U+FE0E: the arrow as text, not as Apple's emoji.
    return f' <a href="#{_reference_id(number, again)}" class="footnote-backref">\u21a9\ufe0e</a>'
