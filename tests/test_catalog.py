"""The catalog of issues keeps `check`'s findings until a file of the issue, a template or the
configuration changes, and only then checks again."""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.catalog import Catalog
from newsletter.db import create_db_engine, database_url

from .test_delivery import ISSUE, make_project


def test_findings_are_kept_until_a_file_of_the_issue_or_a_template_changes(tmp_path: Path) -> None:
    project = make_project(tmp_path, "null:", readers=[])
    catalog = Catalog(project, create_db_engine(database_url(project)))
    [before] = catalog.issues()
    assert before.errors == 0
    main = project.issues_path / ISSUE / "issue.md"
    main.write_text(main.read_text("utf-8") + "\n![](images/missing.png)\n", "utf-8")
    [after] = catalog.issues()
    assert after.errors == before.errors + 1  # The missing image, found on the next list.
    kept = catalog._checked[ISSUE]
    assert catalog.issues()[0].errors == after.errors and catalog._checked[ISSUE] is kept
    theme = project.root / "templates" / "default"
    theme.mkdir(parents=True)
    (theme / "notes.txt").write_text("a file of the theme\n", "utf-8")
    catalog.issues()
    assert catalog._checked[ISSUE] is not kept  # A template changed: checked again.
    os.utime(main)  # Touched, same bytes: checked again, same findings.
    assert catalog.issue(ISSUE).errors == after.errors
