"""Excerpts (the preheader made from the lead, the archive's excerpt): cut where a word ends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.archive.build import build_archive
from newsletter.config import load_project
from newsletter.content.excerpt import ELLIPSIS, excerpt
from newsletter.content.loader import IssueLoader
from newsletter.render.pipeline import PREHEADER_LENGTH, Renderer

from .conftest import ROOT

CASES = [
    # (text, limit, expected)
    (
        "Apple shares details of its multimodal model, Cerebras launches the largest AI chip "
        "to date, Microsoft acquires Inflection AI, Stability AI CEO resigns, and more!",
        128,
        "Apple shares details of its multimodal model, Cerebras launches the largest AI chip "
        "to date, Microsoft acquires Inflection AI…",
    ),
    (
        "Die Bundesausbildungsförderungsgesetzänderung betrifft die "
        "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetzgebung sehr.",
        100,
        "Die Bundesausbildungsförderungsgesetzänderung betrifft die…",
    ),
    (
        "导读：苹果分享了其多模态模型的详情，Cerebras推出迄今为止最大的人工智能芯片，"
        "微软“收购”了Inflection AI，Stability AI首席执行官辞职，等等！",
        50,
        "导读：苹果分享了其多模态模型的详情，Cerebras推出迄今为止最大的人工智能芯片，微软“收购”了…",
    ),
    (
        "今週のニュース：アップルがマルチモーダルモデルの詳細を公開しました。",
        20,
        "今週のニュース：アップルがマルチモーダ…",  # Japanese: any character boundary.
    ),
    (
        "أعلنت شركة أوبن إيه آي عن محرك صوتي جديد قادر على توليد أصوات اصطناعية من عينات "
        "صوتية مدتها خمس عشرة ثانية فقط.",
        60,
        "أعلنت شركة أوبن إيه آي عن محرك صوتي جديد قادر على توليد…",
    ),
    ("https://example.com/" + "a" * 80, 40, "https://example.com/" + "a" * 19 + ELLIPSIS),
    ("Short enough.", 140, "Short enough."),
    ("Lines\nare  joined\tby one space.", 140, "Lines are joined by one space."),
]


@pytest.mark.parametrize(("text", "limit", "expected"), CASES)
def test_an_excerpt_ends_at_a_word_boundary_with_an_ellipsis(
    text: str, limit: int, expected: str
) -> None:
    assert excerpt(text, limit) == expected
    assert len(excerpt(text, limit)) <= limit


def test_a_cut_never_splits_a_combining_sequence_an_emoji_or_an_arabic_letter_and_its_marks() -> (
    None
):
    assert excerpt("e\u0301" * 30, 10) == "e\u0301" * 4 + ELLIPSIS  # Not 4½ letters.
    assert excerpt("👩‍💻" * 10, 12) == "👩‍💻" * 3 + ELLIPSIS  # ZWJ sequences of 3 code points.
    assert excerpt("🇩🇪" * 10, 6) == "🇩🇪" * 2 + ELLIPSIS  # A flag is two code points.
    vowelled = "كَتَبَ" * 10  # Letters with their short vowels, no space.
    assert excerpt(vowelled, 8) == "كَتَبَ" + ELLIPSIS  # Not the 4th letter without its vowel.


TEXT = st.lists(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
    | st.sampled_from([" ", "字", "e\u0301", "👩‍💻", "ك\u064e", ",", "。", "word "]),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=TEXT, limit=st.integers(min_value=2, max_value=160))
def test_any_excerpt_fits_and_is_whole_graphemes_of_the_text(text: str, limit: int) -> None:
    short = excerpt(text, limit)
    assert len(short) <= limit
    flat = " ".join(text.split())
    if short == flat:
        return
    assert short.endswith(ELLIPSIS)
    kept = short.removesuffix(ELLIPSIS)
    assert flat.startswith(kept)
    # The cut falls between two graphemes of the text.
    assert regex.findall(r"\X", flat)[: len(regex.findall(r"\X", kept))] == regex.findall(
        r"\X", kept
    )


def test_the_preheader_from_the_lead_and_the_archive_excerpt_are_the_same_cut(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "issues", tmp_path / "issues")
    # Its English edition has no preheader (the lead gives it) and no story translated: offered
    # (and so published) only when the translated share may be 0.
    environ = {"NEWSLETTER_MIN_TRANSLATED_SHARE": "0"}
    project = load_project(tmp_path / "config" / "newsletter.toml", environ=environ)
    slug = "2024-03-27-ai-deca-show"
    issue = IssueLoader(project.config).load(project.issues_path / slug)
    preheader = Renderer(project).render(issue, "en").preheader
    assert preheader.endswith("Inflection AI…")  # Not "…Inflection AI, St…".
    assert len(preheader) <= PREHEADER_LENGTH
    build_archive(project, tmp_path / "site")
    index = (tmp_path / "site" / "en" / "index.html").read_text(encoding="utf-8")
    assert preheader in index


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Revenue rose 50% in the quarter, a record", 18, "Revenue rose 50%…"),
        ("Growth of 3‰ and more words", 13, "Growth of 3‰…"),
        ('She said "hello world" and left the room', 24, 'She said "hello world"…'),
        ("She said 'hello world' and left the room", 24, "She said 'hello world'…"),
        ("He wrote “yes” and then “no” twice", 17, "He wrote “yes”…"),
        ('A quote "opens here and goes on', 12, "A quote…"),  # An opening quote goes.
        ("Tagged #AI #ML and #NLP today", 17, "Tagged #AI #ML…"),
        ("Ranked #1 in the world today", 10, "Ranked #1…"),
        ("The C# and F# languages compared", 11, "The C# and…"),
        ("كتب الباحثون، ثم نشروا النتائج كلها", 16, "كتب الباحثون…"),  # Arabic comma goes.
        ("Team 👨‍👩‍👧‍👦 family 👍🏽 time and more text", 23, "Team 👨‍👩‍👧‍👦 family 👍🏽…"),
        ("ข่าวปัญญาประดิษฐ์ประจำสัปดาห์นี้มีเรื่องน่าสนใจมากมาย", 12, "ข่าวปัญญาปร…"),
        ("人工智能正在改变世界人工智能正在改变世界", 8, "人工智能正在改…"),
    ],
)
def test_an_excerpt_keeps_percent_hash_quotes_and_emoji_whole(
    text: str, limit: int, expected: str
) -> None:
    assert excerpt(text, limit) == expected


LEAD = """---
title: What the lead says
date: 2024-07-01
lang: en
status: sent
---

![A robot waving at the camera](https://img.example/r.png) OpenAI <b>announced</b> Sora[^1],
<span class="x">a model</span> that makes 50% of "videos" 👩‍💻 <img src="x.png" alt="IMG alt">
and <a href="https://openai.com/sora">more</a>.[^missing]

<p>More <em>details</em> <script>alert(1)</script>inside.</p>

[^1]: A blog post with a long footnote text.

## News

### A story

The body.
"""


def test_the_preheader_and_the_archive_excerpt_hold_the_lead_as_read(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "issues").mkdir()
    (tmp_path / "issues" / "2024-07-01-lead.md").write_text(LEAD, encoding="utf-8")
    project = load_project(tmp_path / "config" / "newsletter.toml")
    issue = IssueLoader(project.config).load(project.issues_path / "2024-07-01-lead.md")
    preheader = Renderer(project).render(issue, "en").preheader
    assert preheader == (
        'OpenAI announced Sora, a model that makes 50% of "videos" 👩‍💻 and more. '
        "More details inside."
    )
    build_archive(project, tmp_path / "site")
    index = (tmp_path / "site" / "en" / "index.html").read_text(encoding="utf-8")
    assert "OpenAI announced Sora, a model that makes 50% of &#34;videos&#34;" in index or (
        'OpenAI announced Sora, a model that makes 50% of "videos"' in index
    )
    assert "robot" not in index and "blog post" not in index and "alert" not in index
