"""Locale from front matter, file suffix, script or default; text length by script."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.content.language import detect_language, measure_text
from newsletter.content.loader import IssueLoader
from newsletter.locales import match_locale, normalize_locale


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("人工智能正在改变世界，苹果发布了新的模型。Apple 和 Google 也在竞争。", "zh"),
        ("東京で新しいAIモデルが発表されました。とても速いです。", "ja"),
        ("새로운 인공지능 모델이 발표되었습니다 오늘", "ko"),
        ("أعلنت الشركة عن نموذج جديد للذكاء الاصطناعي اليوم", "ar"),
        ("החברה הכריזה היום על מודל חדש של בינה מלאכותית", "he"),
        ("Компания объявила о новой модели искусственного интеллекта", "ru"),
        ("The company announced a new model today in Berlin.", None),
        ("Die Firma hat heute ein neues Modell vorgestellt.", None),
        ("短い", None),
    ],
)
def test_script_detection(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_links_and_code_do_not_outvote_the_text() -> None:
    text = "苹果发布了新的多模态模型。 [链接](https://example.org/a-very-long-english-url-path) `some_code_here()`"
    assert detect_language(text) == "zh"


def test_length_counts_words_or_characters() -> None:
    assert measure_text("One two three, four.").words == 4
    chinese = measure_text("苹果发布了新的模型")
    assert (chinese.characters, chinese.is_cjk) == (9, True)
    assert str(measure_text("a b c")) == "3 words"


def test_locale_identifiers_match_the_configured_ones() -> None:
    assert normalize_locale("pt-br") == "pt_BR"
    assert match_locale("zh-Hans", ["en", "zh"]) == "zh"
    assert match_locale("zh", ["en", "zh_Hans"]) == "zh_Hans"
    assert match_locale("zh_Hant", ["en", "zh_Hans"]) == "zh_Hant"
    with pytest.raises(ValueError, match="not a known locale"):
        normalize_locale("xx-nowhere")


@pytest.mark.parametrize(
    ("name", "text", "locale"),
    [
        ("a.md", "---\ntitle: T\nlang: de\n---\n\nHallo.\n", "de"),
        ("b.md", "---\ntitle: T\nlocale: pt-BR\n---\n\nOlá.\n", "pt_BR"),
        ("c.md", "---\ntitle: T\n---\n\n这是一个关于人工智能的新闻通讯。\n", "zh"),
        ("d.md", "---\ntitle: T\n---\n\nA plain English lead.\n", "en"),
        ("e.md", "Title: T\nLang: ja\n\nText.\n", "ja"),
    ],
)
def test_issue_locale_from_front_matter_script_or_default(
    tmp_path: Path, loader: IssueLoader, name: str, text: str, locale: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert loader.load(path).main.locale == locale


def test_translation_suffix_sets_the_locale(tmp_path: Path, loader: IssueLoader) -> None:
    (tmp_path / "w.md").write_text("---\ntitle: Weekly\n---\n\nHello.\n", encoding="utf-8")
    (tmp_path / "w.ar.md").write_text("---\ntitle: أسبوعي\n---\n\nمرحبا.\n", encoding="utf-8")
    issue = loader.load(tmp_path / "w.ar.md")  # Naming the translation loads the whole issue.
    assert issue.locales == ["en", "ar"]
    assert issue.editions["ar"].title == "أسبوعي"
