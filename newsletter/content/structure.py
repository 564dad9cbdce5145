"""Read the layout of a single-file issue from its Markdown: lead, sections, stories, footer.

The rules, in the order they apply:
- a `#` heading that opens the document is the title when the front matter has none;
- the text before the first heading is the lead (a lead that is one blockquote loses its `>`);
- a heading with prose under it is a story; deeper headings inside a story are part of it;
- a heading with no prose of its own followed by deeper headings is a section of those stories;
- a heading over a bullet list whose items carry links is a section with one story per item;
- a `---` closes the current story and section; what follows the last `---` at the very end
  of the document, with no heading, is the footer;
- footnote and link-reference definitions travel with the stories that use them; a trailing
  list of unreferenced footnotes, one per story, is read as each story's source.
Text is sliced from the source by line, so nothing the author wrote is rewritten or lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from newsletter.content.markdown import INLINE_CODE, INLINE_LINK, code_lines, inline_text
from newsletter.content.parsed import PartSpan, parsed_parts
from newsletter.content.titles import story_title_from_text

_FOOTNOTE_DEF = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:")
_LINK_LABEL = re.compile(r"\[([^\]^][^\]]*)\](?!\()")
_BLOCK_START = re.compile(
    r"^ {0,3}(#{1,6}(\s|$)|[-*+]\s|\d+[.)]\s|>|```|~~~|(\*\s*){3,}$|(-\s*){3,}$|(_\s*){3,}$|\[[^\]]+\]:)"
)
_URL_IN_TEXT = re.compile(r"<(https?://[^>\s]+)>|(?<![(<])\b(https?://[^\s)>]+)")
_IMAGE_ONLY = re.compile(r"^\s*(!\[[^\]]*\]\([^)]*\)\s*)+$")


@dataclass
class StoryLayout:
    """A story found in the document: its title, link, Markdown body and where it starts."""

    title: str | None
    body: str
    line: int
    """Line in the file where the story's body starts."""
    section: int | None = None
    url: str | None = None


@dataclass
class SectionLayout:
    """A section heading with the text between it and its first story."""

    title: str
    line: int
    intro: str = ""


@dataclass
class Layout:
    """The parts of a single-file issue, each as Markdown sliced from the source."""

    title: str | None = None
    title_line: int | None = None
    lead: str = ""
    sections: list[SectionLayout] = field(default_factory=list)
    stories: list[StoryLayout] = field(default_factory=list)
    closing: str = ""
    footer: str = ""
    unreferenced_footnotes: list[tuple[str, int]] = field(default_factory=list)
    parsed: dict[str, list[Token]] = field(default_factory=dict)
    """Parts by their Markdown, each with its tokens from the parse of the whole body
    (content/parsed.py): rendering reuses them instead of parsing the part again."""


@dataclass
class _Block:
    kind: str
    start: int
    end: int
    level: int = 0
    inline: Token | None = None
    tokens: list[Token] = field(default_factory=list)


@dataclass
class _Unit:
    role: str  # lead, section, story, interlude, footer
    start: int
    body_start: int
    title: str | None = None
    url: str | None = None
    section: int | None = None
    item: bool = False
    blocks: list[_Block] = field(default_factory=list)


def read_layout(parser: MarkdownIt, body: str, first_line: int, has_title: bool) -> Layout:
    """The layout of a Markdown body whose first line is line `first_line` of its file."""
    lines = body.split("\n")
    env: dict[str, object] = {}
    tokens = parser.parse(body, env)
    blocks = _blocks(tokens)
    definitions = _definitions(lines, tokens, env)
    skip = {n for _, (start, end, _) in definitions for n in range(start, end)}
    blocks = [block for block in blocks if block.start not in skip]

    layout = Layout()
    lead_start = 0
    if not has_title and blocks and blocks[0].kind == "heading" and blocks[0].level == 1:
        layout.title = inline_text(blocks[0].inline) if blocks[0].inline else None
        layout.title_line = blocks[0].start + first_line
        lead_start = blocks[0].end
        blocks = blocks[1:]
    units = _units(blocks, lead_start)
    texts = [_slice(lines, unit, units, index, skip) for index, unit in enumerate(units)]
    _attach_definitions(units, texts, lines, definitions, layout)

    for index, (unit, text) in enumerate(zip(units, texts, strict=True)):
        end = units[index + 1].start if index + 1 < len(units) else len(lines)
        start = next(
            (n for n in range(unit.body_start, end) if n not in skip and lines[n].strip()),
            unit.body_start,
        )
        line = start + first_line
        if unit.role == "lead":
            layout.lead = _join(layout.lead, _unquote(text))
        elif unit.role == "section":
            layout.sections.append(SectionLayout(title=unit.title or "", line=line, intro=text))
        elif unit.role == "story":
            title = story_title_from_text(text) if unit.item else unit.title
            layout.stories.append(
                StoryLayout(title=title, body=text, line=line, section=unit.section, url=unit.url)
            )
        elif unit.role == "interlude" and layout.stories:
            layout.stories[-1].body = _join(layout.stories[-1].body, text)
        elif unit.role == "interlude":
            layout.lead = _join(layout.lead, text)
        elif unit.role == "footer":
            layout.footer = _join(layout.footer, _unquote(text))
    if not definitions and not env:  # Else a part alone might parse otherwise.
        ends = [unit.start for unit in units[1:]] + [len(lines)]
        spans = [PartSpan(u.body_start, end, u.item) for u, end in zip(units, ends, strict=True)]
        layout.parsed = parsed_parts(tokens, spans, texts, lines)
    return layout


def _blocks(tokens: list[Token]) -> list[_Block]:
    """Top-level blocks with their line spans (0-based, end exclusive)."""
    blocks: list[_Block] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.type.startswith("footnote_"):
            continue
        if depth == 0 and token.map is not None:
            kind = token.type.removesuffix("_open")
            block = _Block(kind=kind, start=token.map[0], end=token.map[1])
            if kind == "heading":
                block.level = int(token.tag[1])
            if kind in ("heading", "paragraph"):
                block.inline = tokens[index + 1]
            blocks.append(block)
        if (depth > 0 or token.nesting == 1) and blocks:
            blocks[-1].tokens.append(token)
        depth += token.nesting
    return blocks


_Definition = tuple[str, tuple[int, int, str]]
"""A footnote (`^label`) or link-reference (`label`) definition: (key, (start, end, kind))."""


def _definitions(
    lines: list[str], tokens: list[Token], env: dict[str, object]
) -> list[_Definition]:
    """Footnote and link-reference definitions in the order of the file; a footnote label may
    be defined more than once (each story its own `[^note]`)."""
    code = code_lines(tokens)
    found: list[_Definition] = []
    index = 0
    while index < len(lines):
        match = _FOOTNOTE_DEF.match(lines[index])
        if match and index not in code:
            end = index + 1
            while end < len(lines) and _continues_footnote(lines, end):
                end += 1
            found.append(("^" + match.group(1), (index, end, "footnote")))
            index = end
        else:
            index += 1
    references = env.get("references")
    if isinstance(references, dict):
        for label, reference in references.items():
            span = reference.get("map") if isinstance(reference, dict) else None
            if span:
                found.append((_fold_label(label), (span[0], span[1], "reference")))
    return sorted(found, key=lambda definition: definition[1][0])


def _continues_footnote(lines: list[str], index: int) -> bool:
    """Whether line `index` still belongs to the footnote definition above it.

    Indented lines do; so does a blank line followed by an indented one; and so does a lazy
    continuation: unindented text right after a text line, as in a hard-wrapped paragraph.
    """
    line = lines[index]
    if line.startswith(("    ", "\t")):
        return True
    if not line.strip():
        return index + 1 < len(lines) and lines[index + 1].startswith(("    ", "\t"))
    starts_block = _FOOTNOTE_DEF.match(line) or _BLOCK_START.match(line)
    return bool(lines[index - 1].strip()) and not starts_block


def _units(blocks: list[_Block], lead_start: int) -> list[_Unit]:
    """Walk the blocks once, deciding for each heading whether it opens a section or a story."""
    units: list[_Unit] = [_Unit(role="lead", start=lead_start, body_start=lead_start)]
    story_level: int | None = None
    section_level: int | None = None
    section_index: int | None = None
    seen_story = False
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            if story_level is not None and block.level > story_level:
                continue  # A subheading inside the current story.
            content = _content(blocks, index)
            following = (
                blocks[index + 1 + len(content)] if index + 1 + len(content) < len(blocks) else None
            )
            title = inline_text(block.inline) if block.inline else ""
            if section_level is not None and block.level <= section_level:
                section_level = section_index = None
            if _is_link_list(content):
                section_index = sum(1 for u in units if u.role == "section")
                units.append(
                    _Unit(role="section", start=block.start, body_start=block.end, title=title)
                )
                for item_start, _, url in _list_items(content):
                    seen_story = True
                    units.append(
                        _Unit(
                            role="story",
                            start=item_start,
                            body_start=item_start,
                            url=url,
                            section=section_index,
                            item=True,
                        )
                    )
                story_level = None
                section_level = block.level
            elif (
                not _has_prose(content)
                and following is not None
                and following.kind == "heading"
                and following.level > block.level
            ):
                section_index = sum(1 for u in units if u.role == "section")
                units.append(
                    _Unit(role="section", start=block.start, body_start=block.end, title=title)
                )
                section_level = block.level
                story_level = None
            else:
                story_title, url = _heading_title(block)
                units.append(
                    _Unit(
                        role="story",
                        start=block.start,
                        body_start=block.end,
                        title=story_title,
                        url=url,
                        section=section_index,
                    )
                )
                story_level = block.level
                seen_story = True
        elif block.kind == "hr":
            story_level = section_level = section_index = None
            role = "interlude" if seen_story else "lead"
            units.append(_Unit(role=role, start=block.start, body_start=block.end))
        else:
            units[-1].blocks.append(block)
    _mark_footer(units)
    return units


def _content(blocks: list[_Block], index: int) -> list[_Block]:
    """The blocks after heading `index` up to the next heading or thematic break."""
    content = []
    for block in blocks[index + 1 :]:
        if block.kind in ("heading", "hr"):
            break
        content.append(block)
    return content


def _has_prose(content: list[_Block]) -> bool:
    for block in content:
        if block.kind == "html_block":
            continue
        if (
            block.kind == "paragraph"
            and block.inline is not None
            and _IMAGE_ONLY.match(block.inline.content)
        ):
            continue
        return True
    return False


def _is_link_list(content: list[_Block]) -> bool:
    """Content that is, apart from images and comments, bullet lists whose items all carry a link."""
    lists = [block for block in content if block.kind == "bullet_list"]
    others = [block for block in content if block.kind != "bullet_list"]
    if not lists or _has_prose(others):
        return False
    items = [item for block in lists for item in _list_items([block])]
    return bool(items) and all(url for _, _, url in items)


def _list_items(content: list[_Block]) -> list[tuple[int, int, str | None]]:
    """(start, end, url) of each top-level item of the bullet lists in `content`."""
    items: list[tuple[int, int, str | None]] = []
    for block in content:
        if block.kind != "bullet_list":
            continue
        depth = 0
        for token in block.tokens:
            if token.type == "list_item_open" and depth == 1 and token.map:
                items.append((token.map[0], token.map[1], None))
            elif token.type == "inline" and items and items[-1][2] is None:
                links = _links(token)
                if links:
                    start, end, _ = items[-1]
                    items[-1] = (
                        start,
                        end,
                        links[0] if re.match(r"^\s*(\*\*|__)?\[", token.content) else links[-1],
                    )
            depth += token.nesting
    return items


def _links(inline: Token) -> list[str]:
    return [
        str(child.attrs.get("href"))
        for child in inline.children or []
        if child.type == "link_open" and child.attrs.get("href")
    ]


def _heading_title(block: _Block) -> tuple[str | None, str | None]:
    """A heading's text; when the whole heading is one link, its text and URL."""
    if block.inline is None:
        return None, None
    children = [
        c for c in block.inline.children or [] if not (c.type == "text" and not c.content.strip())
    ]
    if children and children[0].type == "link_open" and children[-1].type == "link_close":
        opens = sum(1 for c in children if c.type == "link_open")
        if opens == 1:
            return inline_text(block.inline) or None, str(
                children[0].attrs.get("href") or ""
            ) or None
    return inline_text(block.inline) or None, None


def _mark_footer(units: list[_Unit]) -> None:
    """What follows the last thematic break at the end, with no heading, is the footer."""
    last = units[-1]
    if last.role == "interlude" and any(u.role == "story" for u in units):
        last.role = "footer"


def _slice(lines: list[str], unit: _Unit, units: list[_Unit], index: int, skip: set[int]) -> str:
    """The unit's Markdown: its lines up to the next unit, without definitions moved elsewhere."""
    end = units[index + 1].start if index + 1 < len(units) else len(lines)
    text = "\n".join(lines[n] for n in range(unit.body_start, end) if n not in skip)
    return _dedent_item(text) if unit.item else text.strip("\n")


def _attach_definitions(
    units: list[_Unit],
    texts: list[str],
    lines: list[str],
    definitions: list[_Definition],
    layout: Layout,
) -> None:
    """Give each unit the footnote and reference definitions it uses, and pair trailing sources.

    A unit that uses a label it defines itself keeps its own definition; one that uses a label
    defined elsewhere gets the first definition of it in the file."""
    used_anywhere: set[str] = set()
    for index, text in enumerate(texts):
        used = _used_labels(text)
        used_anywhere |= used
        end = units[index + 1].start if index + 1 < len(units) else len(lines)
        chosen: dict[str, tuple[int, int, str]] = {}
        for key, span in definitions:
            own = units[index].start <= span[0] < end
            if key in used and (key not in chosen or (own and chosen[key][0] < units[index].start)):
                chosen[key] = span
        extra = ["\n".join(lines[s:e]).rstrip() for s, e, _ in sorted(chosen.values())]
        if extra:
            texts[index] = _join(text, "\n\n".join(extra))
    orphans = [(key, span) for key, span in definitions if key not in used_anywhere]
    footnotes = [(key, span) for key, span in orphans if span[2] == "footnote"]
    stories = [index for index, unit in enumerate(units) if unit.role == "story"]
    if (
        footnotes
        and len(footnotes) == len(stories)
        and all(span[0] > units[stories[-1]].start for _, span in footnotes)
    ):
        for story, (key, (start, end, _)) in zip(stories, footnotes, strict=True):
            definition = "\n".join(lines[start:end]).rstrip()
            texts[story] = _join(_add_reference(texts[story], key), definition)
            if units[story].url is None:
                units[story].url = _first_url(definition)
        return
    for key, (start, end, kind) in orphans:
        if kind == "footnote":
            layout.unreferenced_footnotes.append((key[1:], start))
            layout.closing = _join(layout.closing, "\n".join(lines[start:end]).rstrip())


def _first_url(text: str) -> str | None:
    """The first link target in `text`: an inline link, an autolink or a bare URL."""
    link = INLINE_LINK.search(text)
    bare = _URL_IN_TEXT.search(text)
    if link and (not bare or link.start() < bare.start()):
        return link.group(2)
    return (bare.group(1) or bare.group(2)) if bare else None


def _used_labels(text: str) -> set[str]:
    """Footnote references (`^x`) and reference-link labels used in `text`, outside definitions."""
    body = "\n".join(
        line
        for line in text.split("\n")
        if not _FOOTNOTE_DEF.match(line) and not re.match(r"^ {0,3}\[[^\]]+\]:", line)
    )
    body = INLINE_CODE.sub("", body)
    used = {"^" + label for label in re.findall(r"\[\^([^\]\s]+)\](?!:)", body)}
    used |= {_fold_label(label) for label in _LINK_LABEL.findall(body)}
    return used


def _add_reference(text: str, key: str) -> str:
    """Cite footnote `key` at the end of the story's first paragraph of prose."""
    paragraphs = text.split("\n\n")
    for index, paragraph in enumerate(paragraphs):
        if (
            paragraph.strip()
            and not _IMAGE_ONLY.match(paragraph)
            and not paragraph.lstrip().startswith(("#", "[^"))
        ):
            paragraphs[index] = f"{paragraph.rstrip()}[{key}]"
            return "\n\n".join(paragraphs)
    return f"{text}\n\n[{key}]"


def _dedent_item(text: str) -> str:
    """A list item's text without its bullet and continuation indent."""
    lines = text.split("\n")
    match = re.match(r"^(\s*[-*+]\s+)", lines[0])
    indent = len(match.group(1)) if match else 0
    out = [lines[0][indent:]]
    for line in lines[1:]:
        out.append(line[indent:] if line[:indent].strip() == "" else line)
    return "\n".join(out).strip("\n")


def _unquote(text: str) -> str:
    """A part that is one blockquote, without its `>` markers."""
    lines = text.strip("\n").split("\n")
    if (
        lines
        and all(line.startswith(">") or not line.strip() for line in lines)
        and lines[0].startswith(">")
    ):
        return "\n".join(re.sub(r"^> ?", "", line) for line in lines).strip("\n")
    return text


def _join(first: str, second: str) -> str:
    if not first.strip():
        return second.strip("\n")
    if not second.strip():
        return first
    return f"{first.rstrip()}\n\n{second.strip(chr(10))}"


def _fold_label(label: str) -> str:
    return " ".join(label.split()).casefold()
