"""A throwaway PostgreSQL cluster for the benches: initdb as `postgres`, a Unix socket, no fsync.

    with throwaway_cluster("ours", "copy") as url:   # url.format("ours") names a database
        ...

Debian's server refuses to run as root, so the cluster is made and run as the `postgres` user,
in a folder of its own (that user cannot enter this process's temporary folders). fsync and
full-page writes are off: the benches measure our code, not the disk.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine


@contextmanager
def throwaway_cluster(*databases: str) -> Iterator[str]:
    """A running cluster holding these empty databases, stopped and removed at the end; yields
    the URL template `postgresql+psycopg://postgres@/{}?host=SOCKET_FOLDER`."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        sys.exit(f"{sys.argv[0]}: PostgreSQL is not installed: run `make packages`")
    programs = found[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"

    def as_postgres(*command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True
        )

    as_postgres(
        str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
    )
    options = f"-k {folder} -h '' -c fsync=off -c full_page_writes=off -c max_connections=200"
    pg_ctl = [str(programs / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log")]
    as_postgres(*pg_ctl, "-o", options, "-w", "start")
    try:
        for name in databases:
            as_postgres(str(programs / "createdb"), "-h", str(folder), name)
        yield f"postgresql+psycopg://postgres@/{{}}?host={folder}"
    finally:
        as_postgres(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def run_script(engine: Engine, script: str, values: Mapping[str, object]) -> None:
    """The `;`-separated statements of `script`, in one transaction, each with `values` for its
    `%(name)s` parameters (psycopg takes one statement per call with parameters)."""
    with engine.begin() as connection:
        for statement in filter(str.strip, script.split(";")):
            connection.exec_driver_sql(statement, dict(values))
