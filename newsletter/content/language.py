"""Guess an issue's language from the script its text is written in, and measure its length.

Latin-script text is left to the configured default: telling English from German needs a
language model, while telling Chinese from Arabic needs only the Unicode script of the letters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

# Script -> language, checked in this order. Kana before Han: Japanese mixes both.
_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("Hiragana", "ja"),
    ("Katakana", "ja"),
    ("Hangul", "ko"),
    ("Han", "zh"),
    ("Arabic", "ar"),
    ("Hebrew", "he"),
    ("Cyrillic", "ru"),
    ("Greek", "el"),
    ("Thai", "th"),
    ("Devanagari", "hi"),
)
_LETTER = regex.compile(r"\p{L}")
_URL_OR_CODE = regex.compile(r"`[^`]*`|\]\([^)]*\)|<[^>]+>|https?://\S+")
# A word in a spaced script, or a single character of a script written without spaces.
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_OTHER_LETTER = regex.compile(r"[\p{L}--\p{Latin}]", regex.VERSION1)
_CJK_CHAR = regex.compile(rf"[{_CJK}]")
_WORD = regex.compile(rf"[^\s{_CJK}\p{{P}}\p{{S}}]+")
# Share of letters a non-Latin script needs before it decides the language.
_THRESHOLD = 0.2


def detect_language(text: str) -> str | None:
    """The language code suggested by the script of `text`, or None for Latin or too little text."""
    sample = _URL_OR_CODE.sub(" ", text)
    if _OTHER_LETTER.search(sample) is None:
        return None  # Only Latin letters (the common case): one scan, nothing counted.
    letters = len(_LETTER.findall(sample))
    if letters < 8:
        return None
    counts = {name: len(regex.findall(rf"\p{{{name}}}", sample)) for name, _ in _SCRIPTS}
    kana = counts["Hiragana"] + counts["Katakana"]
    if kana and kana + counts["Han"] >= letters * _THRESHOLD:
        return "ja"
    for name, language in _SCRIPTS:
        if counts[name] >= letters * _THRESHOLD:
            return language
    return None


@dataclass(frozen=True)
class TextLength:
    """Words in spaced scripts and characters in scripts written without spaces."""

    words: int
    characters: int

    def __add__(self, other: TextLength) -> TextLength:
        return TextLength(self.words + other.words, self.characters + other.characters)

    @property
    def is_cjk(self) -> bool:
        """Whether most of the text is in a script written without spaces."""
        return self.characters > self.words

    def __str__(self) -> str:
        if self.is_cjk:
            return f"{self.characters:,} characters"
        return f"{self.words:,} words"


def measure_text(text: str) -> TextLength:
    """Count words (spaced scripts) and characters (CJK, Thai...) in plain text."""
    return TextLength(words=len(_WORD.findall(text)), characters=len(_CJK_CHAR.findall(text)))


def display_width(text: str) -> int:
    """Terminal columns `text` takes: two for wide (CJK) characters, one for the rest."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
