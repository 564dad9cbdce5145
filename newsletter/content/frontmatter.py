"""Split a Markdown file into its front matter and body: YAML, TOML, JSON, Pelican headers, or none.

Parsing is strict: a broken block is an error naming the file and line, never body text.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import ContentError

# libyaml's loader when PyYAML was built with it: six times faster, same marks on errors.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Pelican / MultiMarkdown metadata: `Key: value` lines at the very top, ended by a blank line.
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*(?: [A-Za-z0-9_-]+)?):\s*(.*)$")
_PELICAN_FIRST_KEYS = frozenset(
    {"title", "date", "author", "authors", "slug", "lang", "tags", "category", "summary"}
    | {"subtitle", "status", "modified", "description", "number", "locale", "language"}
)
_FENCES = {"---": ("yaml", ("---", "...")), "+++": ("toml", ("+++",))}


@dataclass
class FrontMatter:
    """The metadata block of a file and where each part starts."""

    meta: dict[str, Any]
    body: str
    body_line: int
    """Line number (1-based) in the file of the first line of `body`."""
    format: str = "none"
    key_lines: dict[str, int] = field(default_factory=dict)
    """Line in the file of each top-level key."""
    warnings: list[tuple[int, str, str]] = field(default_factory=list)
    """(line, message, fix) for problems that were read around, such as a repaired YAML escape."""


def split_front_matter(text: str, path: Path) -> FrontMatter:
    """The front matter and body of `text`; ContentError with file and line if the block is broken."""
    lines = text.split("\n")
    first = lines[0].strip() if lines else ""
    if first in _FENCES:
        kind, closers = _FENCES[first]
        return _fenced(lines, kind, closers, path)
    if first == "{" or first.startswith('{"'):
        return _json(text, path)
    return _pelican(lines) or FrontMatter(meta={}, body=text, body_line=1)


def _fenced(lines: list[str], kind: str, closers: tuple[str, ...], path: Path) -> FrontMatter:
    for index in range(1, len(lines)):
        if lines[index].rstrip() in closers:
            block = "\n".join(lines[1:index])
            warnings: list[tuple[int, str, str]] = []
            meta = (
                _parse_yaml(block, path, warnings) if kind == "yaml" else _parse_toml(block, path)
            )
            return FrontMatter(
                meta=meta,
                body="\n".join(lines[index + 1 :]),
                body_line=index + 2,
                format=kind,
                key_lines=_key_lines(lines[1:index], first_line=2),
                warnings=warnings,
            )
    fence = lines[0].strip()
    raise ContentError(
        f"{kind.upper()} front matter opened with '{fence}' is never closed",
        path=path,
        line=1,
        hint=f"add a line '{fence}' after the last front matter key",
    )


def _parse_yaml(block: str, path: Path, warnings: list[tuple[int, str, str]]) -> dict[str, Any]:
    try:
        data = yaml.load(block, Loader=SAFE_LOADER) if block.strip() else {}
    except yaml.MarkedYAMLError as error:
        repaired = _repair_backslash_quotes(block, warnings)
        if repaired is not None:
            return _mapping(repaired, path, "YAML")
        # An unclosed bracket or quote is noticed lines later; the context mark is where it opened.
        opened = (
            error.context_mark
            if error.context and ("flow" in error.context or "quoted" in error.context)
            else None
        )
        mark = opened or error.problem_mark or error.context_mark
        line = mark.line + 2 if mark is not None else 1
        problem = error.problem or "invalid YAML"
        raise ContentError(
            f"invalid YAML front matter: {problem}",
            path=path,
            line=line,
            hint="fix the YAML on that line (quote values that contain ': ' or start with a symbol)",
        ) from error
    except yaml.YAMLError as error:
        raise ContentError(f"invalid YAML front matter: {error}", path=path, line=1) from error
    return _mapping(data, path, "YAML")


def _repair_backslash_quotes(block: str, warnings: list[tuple[int, str, str]]) -> Any:
    """Read `'it\\'s'` as `'it''s'`: a common mistake YAML rejects, reported rather than fatal.

    In single-quoted YAML a backslash is a plain character and `''` is the escaped quote;
    writers coming from JavaScript or Python put `\\'` instead. Only this one repair is tried,
    and only when the block fails to parse without it.
    """
    if "\\'" not in block:
        return None
    try:
        data = yaml.load(block.replace("\\'", "''"), Loader=SAFE_LOADER)
    except yaml.YAMLError:
        return None
    for number, line in enumerate(block.split("\n"), start=2):
        if "\\'" in line:
            warnings.append(
                (
                    number,
                    "\\' inside a single-quoted YAML value is not an escape (read as an apostrophe)",
                    "write the apostrophe as '' or use double quotes around the value",
                )
            )
    return data


def _parse_toml(block: str, path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(block)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = int(match.group(1)) + 1 if match else 1
        message = re.sub(r"\s*\(at line .*\)$", "", str(error))
        raise ContentError(
            f"invalid TOML front matter: {message}",
            path=path,
            line=line,
            hint='fix the TOML on that line (strings need quotes: title = "...")',
        ) from error
    return _mapping(data, path, "TOML")


def _json(text: str, path: Path) -> FrontMatter:
    decoder = json.JSONDecoder()
    try:
        data, end = decoder.raw_decode(text)
    except json.JSONDecodeError as error:
        raise ContentError(
            f"invalid JSON front matter: {error.msg}",
            path=path,
            line=error.lineno,
            hint="fix the JSON on that line, or start the file with a line other than '{'",
        ) from error
    head = text[:end]
    rest = text[end:].lstrip(" \t").removeprefix("\n")
    return FrontMatter(
        meta=_mapping(data, path, "JSON"),
        body=rest,
        body_line=head.count("\n") + 2,
        format="json",
        key_lines=_key_lines(head.split("\n"), first_line=1),
    )


def _pelican(lines: list[str]) -> FrontMatter | None:
    """Pelican `Key: value` headers, recognized only when the first key is a known one."""
    match = _HEADER_LINE.match(lines[0]) if lines else None
    if match is None or match.group(1).lower() not in _PELICAN_FIRST_KEYS:
        return None
    meta: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    last_key = ""
    for index, line in enumerate(lines):
        if not line.strip():
            break
        header = _HEADER_LINE.match(line)
        if header is not None:
            last_key = header.group(1).lower().replace(" ", "_").replace("-", "_")
            meta[last_key] = header.group(2).strip()
            key_lines[last_key] = index + 1
        elif line[:1] in (" ", "\t") and last_key:
            meta[last_key] = f"{meta[last_key]} {line.strip()}".strip()
        else:
            return None  # Not a header block after all: the file starts with ordinary text.
    else:
        index = len(lines)
    return FrontMatter(
        meta=meta,
        body="\n".join(lines[index + 1 :]),
        body_line=index + 2,
        format="pelican",
        key_lines=key_lines,
    )


def _mapping(data: Any, path: Path, kind: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ContentError(
            f"{kind} front matter must be a mapping of keys to values, not a {type(data).__name__}",
            path=path,
            line=2,
            hint="write one 'key: value' per line",
        )
    return {str(key): value for key, value in data.items()}


def _key_lines(lines: list[str], first_line: int) -> dict[str, int]:
    """Line numbers of top-level keys in a YAML, TOML or JSON block (for error messages)."""
    found: dict[str, int] = {}
    for offset, line in enumerate(lines):
        match = re.match(r'^\s{0,4}"?([A-Za-z0-9_-]+)"?\s*[:=]', line)
        if match:
            found.setdefault(match.group(1), first_line + offset)
    return found
