"""Benchmark `newsletter archive` against Hugo and Pelican on the same posts, in the same run.

    .venv/bin/python bench/archive.py [--issues 1000] [--runs 3] [--keep DIR] [--only TOOLS]
                                      [--before CHECKOUT]

Generates `--issues` synthetic issues (about 1 KB of Markdown each: front matter, a lead, a
`## News` section with two stories that link out), deterministically, and writes the same posts
three ways (bench/archive_sites.py): a newsletter project (config/newsletter.toml and
issues/DATE-SLUG.md), a Hugo site with minimal layouts (paginated lists; RSS and sitemap on,
Hugo's defaults) and a Pelican site with a minimal theme of its own, so that neither tool's
bundled theme is what is measured. Hugo comes from Debian (`apt-get install hugo`, when missing
and running as root) and Pelican from PyPI into bench/.venv-pelican, never into the project's
.venv. With `--before`, another checkout's code (say, main's, in a git worktree) builds our
site too, interleaved with the others, as the tool `before`, and `ratio ours/before` is printed.

Then, for the tools named by `--only` (default: ours,hugo,pelican):

- full builds into empty folders, interleaved (ours, hugo, pelican, `--runs` times): the median
  wall time of each whole command, its CPU time, the files written and the ratio to Hugo
  (goal: ours within 2x of Hugo); the outputs are counted (post pages, list pages, feeds);
- ours incremental: after a full build, `newsletter archive` into the same folder with nothing
  changed, then after each of `--runs` different edits of one issue (its title and a paragraph),
  beside Hugo's full rebuild after the same edits (Hugo has no incremental build outside its
  server); goal: under 0.5 s. The incrementally built tree must be identical to a fresh full
  build of the edited project (files whose name starts with `.` aside), or the script exits 1.
"""

from __future__ import annotations

import argparse
import math
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from archive_sites import (
    FILES,
    PAGE_SIZE,
    Post,
    Sites,
    edited,
    ensure_hugo,
    ensure_pelican,
    make_posts,
)

TOOLS = ("ours", "hugo", "pelican")
FULL_GOAL = 2.0  # Ours within this factor of Hugo's full build.
INCREMENTAL_GOAL = 0.5  # Seconds for a rebuild after editing one issue.


# Timing.


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float
    build: float | None = None
    """The build alone, as `newsletter archive` reports it (without start-up and imports)."""


REPORTED = re.compile(r" in (\d+\.\d+) s -> ")


def build(command: list[str]) -> Timing:
    """Wall and CPU (of the command and its children) seconds of `command`; exits if it fails."""
    cpu = children_cpu()
    start = perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{shlex.join(command)} failed with status {done.returncode}:\n{done.stderr}")
    if done.stderr.strip():
        print(f"{Path(command[0]).name} said:\n{done.stderr.rstrip()}")
    reported = REPORTED.search(done.stdout)
    return Timing(wall, children_cpu() - cpu, float(reported.group(1)) if reported else None)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def empty_folder(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def files_in(folder: Path) -> dict[str, Path]:
    """Every file under `folder` by its relative path, but files and folders named `.*`."""
    found = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()] = path
    return found


# The benchmark.


def full_builds(sites: Sites, tools: list[str], runs: int) -> dict[str, Timing]:
    """The median timing of each tool's full build, runs interleaved across tools."""
    samples: dict[str, list[Timing]] = {tool: [] for tool in tools}
    for _ in range(runs):
        for tool in tools:
            out = empty_folder(sites.root / "out" / tool)
            samples[tool].append(build(sites.command(tool, out)))
    return {
        tool: Timing(
            statistics.median(t.wall for t in timings),
            statistics.median(t.cpu for t in timings),
            statistics.median(t.build for t in timings)  # type: ignore[type-var]
            if tool in ("ours", "before")
            else None,
        )
        for tool, timings in samples.items()
    }


def print_full_builds(sites: Sites, medians: dict[str, Timing], runs: int) -> None:
    print(f"\nfull builds, median of {runs}:")
    print(f"{'tool':8} {'wall s':>7} {'cpu s':>7} {'files':>7} {'x hugo':>7}")
    hugo = medians.get("hugo")
    for tool, timing in medians.items():
        files = len(files_in(sites.root / "out" / tool))
        against = f"{timing.wall / hugo.wall:7.2f}" if hugo else f"{'-':>7}"
        print(f"{tool:8} {timing.wall:7.2f} {timing.cpu:7.2f} {files:7,} {against}")
    for tool in ("ours", "before"):
        if tool in medians:
            print(
                f"{tool}, the build alone (as the command reports it): {medians[tool].build:.2f} s"
            )
    if "ours" in medians and "before" in medians:
        print(f"ratio ours/before: {medians['ours'].wall / medians['before'].wall:.2f}")
    if "ours" in medians and hugo:
        ratio = medians["ours"].wall / hugo.wall
        verdict = "met" if ratio <= FULL_GOAL else "NOT met"
        print(f"goal: ours within {FULL_GOAL:g}x of Hugo: {ratio:.2f}x, {verdict}")
    else:
        print(f"goal: ours within {FULL_GOAL:g}x of Hugo: not measured (needs ours and hugo)")


def expected_outputs(tool: str, posts: list[Post]) -> dict[str, set[str]]:
    """The files a reference tool must have written, by what they are (none known for ours)."""
    later_pages = range(2, math.ceil(len(posts) / PAGE_SIZE) + 1)
    if tool == "hugo":
        return {
            "post pages": {f"posts/{post.slug}/index.html" for post in posts},
            "post list pages": {"posts/index.html"}
            | {f"posts/page/{n}/index.html" for n in later_pages},
            "home pages": {"index.html"} | {f"page/{n}/index.html" for n in later_pages},
            "feed and sitemap": {"index.xml", "posts/index.xml", "sitemap.xml"},
        }
    if tool == "pelican":
        return {
            "article pages": {f"{post.slug}.html" for post in posts},
            "index pages": {"index.html"} | {f"index{n}.html" for n in later_pages},
            "feeds": {"feeds/all.atom.xml", "feeds/all.rss.xml"},
        }
    return {}


def check_outputs(sites: Sites, posts: list[Post], tools: list[str]) -> None:
    """Print what each tool wrote; exits if a reference misses post pages, lists or feeds."""
    missing: list[str] = []
    for tool in tools:
        names = set(files_in(sites.root / "out" / tool))
        expected = expected_outputs(tool, posts)
        if not expected:
            suffixes = [Path(name).suffix or "(no suffix)" for name in names]
            counts = ", ".join(f"{suffixes.count(s):,} {s}" for s in sorted(set(suffixes)))
            print(f"{tool}: {counts}")
            continue
        found = {what: len(wanted & names) for what, wanted in expected.items()}
        print(f"{tool}: " + ", ".join(f"{n:,}/{len(expected[w]):,} {w}" for w, n in found.items()))
        missing += [f"{tool}: {w} missing" for w, n in found.items() if n < len(expected[w])]
    if missing:
        sys.exit("\n".join(missing))


def incremental(sites: Sites, posts: list[Post], runs: int, with_hugo: bool) -> list[str]:
    """Time ours rebuilding after no change and after edits (and Hugo after the same edits);
    return the differences between the incremental tree and a fresh full build."""
    out = empty_folder(sites.root / "out" / "ours-incremental")
    ours = sites.command("ours", out)
    full = build(ours).wall
    unchanged = [build(ours) for _ in range(runs)]
    target = posts[(len(posts) + 1) // 2 - 1]  # The 500th of 1,000.
    edits = timed_edits(sites, target, runs, ["ours", "hugo"] if with_hugo else ["ours"])
    # The floor of any `newsletter` command: the interpreter, the imports, the CLI.
    startup = statistics.median(build([*ours[:1], "--help"]).wall for _ in range(runs))
    edit = median_of(edits["ours"])
    print(f"\nincremental, ours into {out.name}/ (after a full build of {full:.2f} s), "
          f"median of {runs}:")  # fmt: skip
    print("                        command   the rebuild (as reported)")
    print(
        f"nothing changed:        {median_of(unchanged).wall:6.3f} s  {median_of(unchanged).build:6.3f} s"
    )
    print(
        f"one issue edited:       {edit.wall:6.3f} s  {edit.build:6.3f} s  ({target.day}-{target.slug}: title, paragraph)"
    )
    print(f"newsletter --help:      {startup:6.3f} s  (start-up: Python, imports, the CLI)")
    if "hugo" in edits:
        print(f"hugo, same edit (full): {median_of(edits['hugo']).wall:6.3f} s")
    assert edit.build is not None
    for what, seconds in (("the rebuild", edit.build), ("the whole command", edit.wall)):
        verdict = "met" if seconds < INCREMENTAL_GOAL else "NOT met"
        print(
            f"goal: one edited issue, {what} under {INCREMENTAL_GOAL:g} s: {seconds:.3f} s, {verdict}"
        )
    fresh = empty_folder(sites.root / "out" / "ours-fresh")
    build(sites.command("ours", fresh))
    return compare_trees(out, fresh)


def median_of(timings: list[Timing]) -> Timing:
    """The timing with the median wall time."""
    return sorted(timings, key=lambda timing: timing.wall)[len(timings) // 2]


def timed_edits(sites: Sites, post: Post, runs: int, tools: list[str]) -> dict[str, list[Timing]]:
    """Seconds of each tool's rebuild into its (already built) folder after each of `runs`
    different edits of `post`, interleaved."""
    outs = {tool: sites.root / "out" / f"{tool}-incremental" for tool in tools}
    for tool in tools:
        if tool != "ours":
            build(sites.command(tool, empty_folder(outs[tool])))  # Where the edits start from.
    seconds: dict[str, list[Timing]] = {tool: [] for tool in tools}
    for number in range(runs):
        for tool in tools:
            sites.write(tool, edited(post, number))
            seconds[tool].append(build(sites.command(tool, outs[tool])))
    return seconds


def compare_trees(incremental: Path, fresh: Path) -> list[str]:
    """The paths that differ between the two trees, each with how."""
    left, right = files_in(incremental), files_in(fresh)
    differences = [
        f"only in the incremental build: {name}" for name in sorted(left.keys() - right.keys())
    ]
    differences += [
        f"only in the fresh build: {name}" for name in sorted(right.keys() - left.keys())
    ]
    differences += [
        f"differs: {name}"
        for name in sorted(left.keys() & right.keys())
        if left[name].read_bytes() != right[name].read_bytes()
    ]
    return differences


@contextmanager
def work_folder(keep: Path | None) -> Iterator[Path]:
    """`keep` (created, and left in place afterwards), else a temporary folder removed after."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="bench-archive-") as folder:
            yield Path(folder)
        return
    keep = keep.resolve()
    if keep.exists() and any(keep.iterdir()):
        sys.exit(f"--keep {keep}: the folder is not empty; remove it or name another")
    keep.mkdir(parents=True, exist_ok=True)
    yield keep
    print(f"\nsites in {keep / 'sites'}, outputs in {keep / 'out'}")


def parse_tools(text: str) -> list[str]:
    tools = [tool.strip() for tool in text.split(",") if tool.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or not tools:
        raise argparse.ArgumentTypeError(f"choose from {','.join(TOOLS)}, not {text!r}")
    return [tool for tool in TOOLS if tool in tools]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--issues", type=int, default=1000, help="synthetic issues to generate")
    parser.add_argument("--runs", type=int, default=3, help="timed builds per tool (median)")
    parser.add_argument("--keep", type=Path, help="keep the sites and outputs in this folder")
    parser.add_argument(
        "--only", type=parse_tools, default=list(TOOLS), help="comma list from ours,hugo,pelican"
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="another checkout of the project (the code before a change): its full build of "
        "the same site is timed beside ours, interleaved, as the tool `before`",
    )
    args = parser.parse_args()
    tools: list[str] = args.only
    if args.before is not None:
        tools.insert(tools.index("ours") + 1 if "ours" in tools else 0, "before")
    hugo_flags = ensure_hugo() if "hugo" in tools else ()
    if "pelican" in tools:
        ensure_pelican()
    differences: list[str] = []
    with work_folder(args.keep) as root:
        posts = make_posts(args.issues)
        sites = Sites(root, hugo_flags, args.before.resolve() if args.before else None)
        for tool in tools:
            if tool != "before":  # It builds ours' site.
                sites.generate(tool, posts)
        size = statistics.mean(len(FILES["ours"](post)[1].encode()) for post in posts)
        print(f"{len(posts):,} issues of {size / 1024:.2f} KB each on average")
        print_full_builds(sites, full_builds(sites, tools, args.runs), args.runs)
        check_outputs(sites, posts, tools)
        if "ours" in tools:
            differences = incremental(sites, posts, args.runs, with_hugo="hugo" in tools)
            print("incremental and fresh full build: " + ("differ" if differences else "identical"))
            for line in differences:
                print(f"  {line}")
    if differences:
        sys.exit(1)


if __name__ == "__main__":
    main()
