"""`newsletter check` names the file and line of each local link, image and shortcode problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app


def test_findings_point_at_their_lines(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project_dir)
    folder = project_dir / "issues" / "2024-06-01-lines"
    (folder / "stories").mkdir(parents=True)
    (folder / "images").mkdir()
    (folder / "images" / "ok.png").write_bytes(b"\x89PNG\r\n")
    (folder / "issue.md").write_text(
        "---\ntitle: Lines\nimage: images/hero.png\n---\n\nThe lead.\n\n![ok](images/ok.png) ![gone](images/gone.png)\n",
        encoding="utf-8",
    )
    (folder / "stories" / "01-one.md").write_text(
        "---\ntitle: One\n---\n\nFirst paragraph.\n\nSee [the notes](notes.pdf) and [anchor](#top).\n\n{{< tweet 123 >}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(("error", "warning"))]
    assert lines == [
        "error: issues/2024-06-01-lines/issue.md:8: image 'images/gone.png' does not resolve: gone.png is not in 2024-06-01-lines/",
        "error: issues/2024-06-01-lines/stories/01-one.md:7: link 'notes.pdf' does not resolve: notes.pdf is not in stories/",
        "warning: issues/2024-06-01-lines/stories/01-one.md:9: unknown Hugo shortcode '{{< tweet 123 >}}': it is shown as text",
        "error: issues/2024-06-01-lines/issue.md:3: image 'images/hero.png' does not resolve: hero.png is not in 2024-06-01-lines/",
        "warning: issues/2024-06-01-lines/issue.md:3: the issue image has no alt text",
    ]
    assert "2 issues checked" not in result.output
    assert "1 issues checked: 3 errors, 2 warnings" in result.output
