"""The archive's output folder (archive/output.py): the files of many folders are written by
threads, and what is written, recorded and reported is what one thread writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from newsletter.archive import output
from newsletter.archive.output import Output


def pages(count: int) -> dict[str, bytes]:
    """`count` issue pages, each in a folder of its own, and an index page per 20."""
    made = {f"en/issue-{n:03}/index.html": f"<p>issue {n}</p>\n".encode() * n for n in range(count)}
    made |= {f"en/page/{n}/index.html": f"<p>page {n}</p>".encode() for n in range(count // 20)}
    return made


def commit(folder: Path, wanted: dict[str, bytes], before: dict[str, list[object]]) -> tuple:
    out = Output(folder, before)  # type: ignore[arg-type]
    for path, data in wanted.items():
        out.put(path, data)
    return out.commit()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_the_files_of_many_folders_are_written_and_recorded_as_one_thread_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    monkeypatch.setattr(output, "WRITE_THREADS", threads)
    wanted = pages(60)
    record, report = commit(tmp_path / "out", wanted, {})
    assert report.written == sorted(wanted)  # In path order, whichever thread wrote them.
    written = {
        path.relative_to(tmp_path / "out").as_posix(): path
        for path in (tmp_path / "out").rglob("*")
        if path.is_file()
    }
    assert written.keys() == wanted.keys()  # No temporary file left behind.
    for name, path in written.items():
        assert path.read_bytes() == wanted[name]
        stat = path.stat()
        digest = hashlib.blake2b(wanted[name], digest_size=16).hexdigest()
        assert record[name] == [digest, stat.st_size, stat.st_mtime_ns]

    # The next build writes only what changed, and removes what is gone.
    changed = dict(wanted)
    changed["en/issue-007/index.html"] = b"<p>edited</p>"
    del changed["en/issue-059/index.html"]
    _, again = commit(tmp_path / "out", changed, record)
    assert again.written == ["en/issue-007/index.html"]
    assert again.removed == ["en/issue-059/index.html"]
    assert again.unchanged == len(wanted) - 2
    assert not (tmp_path / "out" / "en" / "issue-059").exists()


def test_a_folder_that_cannot_be_made_stops_the_commit_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "out" / "en").mkdir(parents=True)
    (tmp_path / "out" / "en" / "issue-030").write_text("a file where a folder goes")
    with pytest.raises(FileExistsError) as raised:
        commit(tmp_path / "out", pages(60), {})
    assert Path(str(raised.value.filename)).name == "issue-030"
