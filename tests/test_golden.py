"""Golden files: the rendered email, text part and web page of each sample issue in two locales.

A change to templates, catalogs or the pipeline shows up here as a diff to review. Refresh with
`.venv/bin/pytest tests/test_golden.py --update-golden` and read the diff before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_project
from newsletter.content.loader import IssueLoader
from newsletter.render.build import build_issue
from newsletter.render.pipeline import Renderer

from .conftest import ROOT

GOLDEN = Path(__file__).resolve().parent / "golden"
EDITIONS = [
    ("2024-03-10-ai-revolution-accelerates", "en"),
    ("2024-03-10-ai-revolution-accelerates", "zh"),
    ("2024-03-27-ai-deca-show", "zh"),
    ("2024-03-27-ai-deca-show", "en"),
    ("2024-05-07-this-month-in-ai", "en"),
    ("2024-05-07-this-month-in-ai", "ar"),
]
FILES = {"email.html": "email.html", "email.txt": "email.txt", "web/index.html": "web.html"}


@pytest.mark.parametrize(("slug", "locale"), EDITIONS)
def test_rendering_matches_the_golden_files(
    slug: str, locale: str, tmp_path: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    project = load_project()
    issue = IssueLoader(project.config).load(project.issues_path / slug)
    (built,) = build_issue(Renderer(project), issue, [locale], tmp_path)
    for produced, golden_name in FILES.items():
        text = (built.folder / produced).read_text(encoding="utf-8")
        golden = GOLDEN / slug / locale / golden_name
        if update_golden:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert golden.is_file(), f"no golden file {golden}: run pytest {__file__} --update-golden"
        assert text == golden.read_text(encoding="utf-8"), (
            f"{golden_name} of {slug}/{locale} changed: review, then --update-golden"
        )
