"""Segments: who a send reaches, written as a small expression and parsed once.

    (ai or research) and not locale = "ar" and company = "ACME"

The language (docs/audience.md):

    segment   := either ("or" either)*
    either    := both ("and" both)*
    both      := "not" both | "(" segment ")" | test
    test      := TOPIC                                a topic (tag) the subscriber has
               | "topic" "=" STRING                   the same, for any topic name
               | ("locale" | "timezone" | "status") ("=" | "!=") STRING
               | ("locale" | "timezone" | "status") "in" LIST
               | "subscribed" ("before" | "after") DATE
               | "exists" NAME                        the subscriber has the attribute
               | NAME ("=" | "!=") STRING             an attribute's value
               | NAME "in" LIST
    LIST      := "[" STRING ("," STRING)* "]"
    STRING    := "..." (with \\" and \\\\ inside) ; DATE := YYYY-MM-DD, quoted or not

`and` binds tighter than `or`; keywords are lowercase words and no topic or attribute may be
called by one (write `topic = "not"`). Each test starts with a word that says what it is, so
later tests fit in without changing a segment that works today (`clicked in last 90 days` is a
reserved beginning). A mistake is a SegmentError naming its position (1-based) and the fix.

compile.py turns the parsed segment into one SQL condition on the subscriber table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from newsletter.errors import NewsletterError

MAX_LENGTH = 2000
"""Characters of a segment; a longer one is refused before it is parsed."""
MAX_DEPTH = 50
"""Nesting of parentheses and `not`: deeper is refused (the parser recurses)."""
COLUMNS = frozenset({"locale", "timezone", "status"})
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "exists", "subscribed", "before", "after", "topic"}
    | COLUMNS
    | {"clicked", "opened"}  # Reserved for tests of engagement.
)
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<date>\d{4}-\d{2}-\d{2})(?![\w-])
      | (?P<number>\d+)(?![\w-])
      | (?P<word>[^\W\d][\w.-]*)
      | (?P<op>!=|=|\(|\)|\[|\]|,)""",
    re.VERBOSE,
)


class SegmentError(NewsletterError):
    """A segment that cannot be read: where, what was expected, how to write it."""

    def __init__(self, text: str, position: int, problem: str, hint: str) -> None:
        super().__init__(f"segment {text!r}: at {position + 1}: {problem}", hint=hint)
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, date, number, op, end
    text: str
    position: int


# The parsed segment: a tree of these.
@dataclass(frozen=True)
class Topic:
    name: str


@dataclass(frozen=True)
class Column:
    name: str  # locale, timezone, status
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Attribute:
    name: str
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class HasAttribute:
    name: str


@dataclass(frozen=True)
class Subscribed:
    before: bool
    day: date


@dataclass(frozen=True)
class Not:
    term: Segment


@dataclass(frozen=True)
class All:
    terms: tuple[Segment, ...]


@dataclass(frozen=True)
class Any_:
    terms: tuple[Segment, ...]


Segment = Topic | Column | Attribute | HasAttribute | Subscribed | Not | All | Any_
TESTS: tuple[type[Segment], ...] = (
    Topic, Column, Attribute, HasAttribute, Subscribed, Not, All, Any_
)  # fmt: skip
"""Every kind of test a parsed segment is made of (audience/recorded.py names them)."""


def tokens(text: str) -> list[Token]:
    """The tokens of `text`, ending with an `end` token; SegmentError for a character that
    starts none."""
    found: list[Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            problem = f"unexpected {text[at]!r}"
            if text[at] in "\"'":
                problem = "a string that is not closed" if text[at] == '"' else problem
            raise SegmentError(text, at, problem, 'write values in double quotes: company = "ACME"')
        kind = match.lastgroup or ""
        if kind != "space":
            found.append(Token(kind, match.group(), at))
        at = match.end()
    found.append(Token("end", "", len(text)))
    return found


def parse_segment(text: str) -> Segment:
    """The segment `text` says, parsed; SegmentError naming the position of a mistake."""
    if not text.strip():
        raise SegmentError(text, 0, "the segment is empty", "name a topic, such as: weekly")
    if len(text) > MAX_LENGTH:
        raise SegmentError(
            text[:40] + "...", MAX_LENGTH, f"longer than {MAX_LENGTH} characters",
            "name the readers with fewer tests, or give them a topic",
        )  # fmt: skip
    return _Parser(text, tokens(text)).segment()


class _Parser:
    """Recursive descent over the tokens, one method per rule of the grammar."""

    def __init__(self, text: str, found: list[Token]) -> None:
        self.text, self.tokens, self.at, self.depth = text, found, 0, 0

    def segment(self) -> Segment:
        parsed = self._either()
        end = self._peek()
        if end.kind != "end":
            expected = "`and`, `or`" + (" or `)`" if end.text != ")" else "")
            self._fail(end, f"unexpected {self._shown(end)}", f"join tests with {expected}")
        return parsed

    def _either(self) -> Segment:
        terms = [self._both()]
        while self._keyword("or"):
            terms.append(self._both())
        return terms[0] if len(terms) == 1 else Any_(tuple(terms))

    def _both(self) -> Segment:
        terms = [self._one()]
        while self._keyword("and"):
            terms.append(self._one())
        return terms[0] if len(terms) == 1 else All(tuple(terms))

    def _one(self) -> Segment:
        token = self._peek()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self._fail(token, f"nested more than {MAX_DEPTH} deep", "write it flatter")
        try:
            if self._keyword("not"):
                return Not(self._one())
            if self._op("("):
                inner = self._either()
                if not self._op(")"):
                    self._fail(self._peek(), "a `(` that is not closed", "add `)`")
                return inner
            return self._test()
        finally:
            self.depth -= 1

    def _test(self) -> Segment:
        token = self._next()
        if token.kind != "word":
            self._fail(token, f"expected a test, found {self._shown(token)}", _TESTS)
        word = token.text
        if word == "topic":
            self._expect_op("=", 'topic = "name"')
            return Topic(self._string('topic = "name"'))
        if word in COLUMNS:
            negated, values = self._compared(word)
            return Column(word, values, negated)
        if word == "subscribed":
            return self._subscribed(token)
        if word == "exists":
            name = self._next()
            if name.kind != "word" or name.text in KEYWORDS:
                self._fail(name, "expected an attribute's name", "exists country")
            return HasAttribute(name.text)
        if word in {"clicked", "opened"}:
            self._fail(token, f"`{word}` tests are not available yet", _TESTS)
        if word in KEYWORDS:
            self._fail(token, f"`{word}` cannot start a test", _TESTS)
        if self._peek().text in {"=", "!=", "in"}:
            negated, values = self._compared(word)
            return Attribute(word, values, negated)
        return Topic(word)

    def _compared(self, name: str) -> tuple[bool, tuple[str, ...]]:
        """(`!=`?, values) after a column's or attribute's name."""
        example = f'{name} = "value" or {name} in ["one", "two"]'
        token = self._next()
        if token.text in {"=", "!="} and token.kind == "op":
            return token.text == "!=", (self._string(example),)
        if token.text == "in" and token.kind == "word":
            return False, self._list(example)
        self._fail(token, f"expected `=`, `!=` or `in` after {name}", example)
        raise AssertionError  # _fail raises.

    def _list(self, example: str) -> tuple[str, ...]:
        self._expect_op("[", example)
        values = [self._string(example)]
        while self._op(","):
            values.append(self._string(example))
        self._expect_op("]", example)
        return tuple(values)

    def _subscribed(self, token: Token) -> Subscribed:
        example = "subscribed after 2026-01-31"
        when = self._next()
        if when.text not in {"before", "after"} or when.kind != "word":
            self._fail(when, "expected `before` or `after`", example)
        day = self._next()
        written = day.text.strip('"') if day.kind == "string" else day.text
        try:
            parsed = date.fromisoformat(written) if day.kind in {"date", "string"} else None
        except ValueError:
            parsed = None
        if parsed is None:
            self._fail(day, f"expected a date (YYYY-MM-DD), found {self._shown(day)}", example)
            raise AssertionError
        return Subscribed(when.text == "before", parsed)

    def _string(self, example: str) -> str:
        token = self._next()
        if token.kind != "string":
            self._fail(token, f"expected a quoted value, found {self._shown(token)}", example)
        return re.sub(r"\\(.)", r"\1", token.text[1:-1])

    def _keyword(self, word: str) -> bool:
        if self._peek().kind == "word" and self._peek().text == word:
            self.at += 1
            return True
        return False

    def _op(self, op: str) -> bool:
        if self._peek().kind == "op" and self._peek().text == op:
            self.at += 1
            return True
        return False

    def _expect_op(self, op: str, example: str) -> None:
        if not self._op(op):
            token = self._peek()
            self._fail(token, f"expected `{op}`, found {self._shown(token)}", example)

    def _peek(self) -> Token:
        return self.tokens[self.at]

    def _next(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1 if token.kind != "end" else 0
        return token

    def _shown(self, token: Token) -> str:
        return "the end" if token.kind == "end" else f"`{token.text}`"

    def _fail(self, token: Token, problem: str, hint: str) -> None:
        raise SegmentError(self.text, token.position, problem, hint)


_TESTS = (
    'a test is a topic (weekly), locale/timezone/status = "...", subscribed before/after '
    'YYYY-MM-DD, exists NAME, or NAME = "value"'
)
