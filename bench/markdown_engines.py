"""Compare CommonMark engines with tables, footnotes and strikethrough against markdown-it-py.

    .venv/bin/python -m pip install --target /tmp/engines markdown-it-pyrs cmarkgfm pyromark mistune
    PYTHONPATH=/tmp/engines .venv/bin/python bench/markdown_engines.py [--issues 1000] [--runs 5]

The engines are not the project's dependencies: install them anywhere on the path (missing ones
are reported and left out). For each engine, in the same run:

- the time to turn each of `--issues` generated issue bodies (bench/archive_sites.py, the
  archive benchmark's posts) into HTML, one call per body, in microseconds per issue (best of
  `--runs`); for markdown-it-py also the parse alone (what the loader does to read an issue's
  layout) and the render of kept tokens (what the archive does since the parse is kept);
- how many of the Markdown parts of the project's own issues (issues/, which the golden files
  render) and of the real-world layout fixtures (tests/fixtures/layout) come out as the same
  HTML as markdown-it-py's, both cleaned by nh3 with the project's rules (render/html.py): a
  part that differs would change a golden file.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import nh3
from archive_sites import ROOT, make_posts

sys.path.insert(0, str(ROOT))

from newsletter.config import load_project
from newsletter.content.loader import IssueLoader
from newsletter.content.markdown import markdown_parser
from newsletter.render.html import ATTRIBUTES, TAGS

Engine = Callable[[str], str]


def engines() -> tuple[dict[str, Engine], list[str]]:
    """The installed engines, each set up for tables, footnotes and strikethrough; the missing."""
    parser = markdown_parser()
    found: dict[str, Engine] = {"markdown-it-py": parser.render}
    missing = []
    try:
        import markdown_it_pyrs

        pyrs = markdown_it_pyrs.MarkdownIt("commonmark").enable_many(
            ["table", "strikethrough", "footnote"]
        )
        found["markdown-it-pyrs"] = pyrs.render
    except ImportError:
        missing.append("markdown-it-pyrs")
    try:
        import cmarkgfm
        from cmarkgfm.cmark import Options

        def gfm(text: str) -> str:
            return cmarkgfm.markdown_to_html_with_extensions(
                text,
                options=Options.CMARK_OPT_FOOTNOTES | Options.CMARK_OPT_UNSAFE,
                extensions=["table", "strikethrough"],
            )

        found["cmarkgfm"] = gfm
    except ImportError:
        missing.append("cmarkgfm")
    try:
        import pyromark

        flags = (
            pyromark.Options.ENABLE_TABLES
            | pyromark.Options.ENABLE_FOOTNOTES
            | pyromark.Options.ENABLE_STRIKETHROUGH
        )
        found["pyromark"] = lambda text: pyromark.html(text, options=flags)
    except ImportError:
        missing.append("pyromark")
    try:
        import mistune

        found["mistune"] = mistune.create_markdown(
            escape=False, plugins=["table", "footnotes", "strikethrough"]
        )  # type: ignore[assignment]
    except ImportError:
        missing.append("mistune")
    return found, missing


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The shortest of `runs` timings of `work()`, in seconds."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def project_parts() -> list[str]:
    """The Markdown parts of the sample issues and the layout fixtures, as the loader cuts them."""
    parts: list[str] = []
    for config, issues in (
        (ROOT / "config" / "newsletter.toml", ROOT / "issues"),
        (
            ROOT / "tests/fixtures/layout/config/newsletter.toml",
            ROOT / "tests/fixtures/layout/issues",
        ),
    ):
        project = load_project(config, environ={})
        for issue in IssueLoader(project.config, project.root).load_all(issues):
            for edition in issue.editions.values():
                texts = [edition.lead, edition.closing, edition.footer]
                texts += [section.intro for section in edition.sections]
                texts += [story.body for story in edition.stories]
                parts += [text for text in texts if text.strip()]
    return parts


def cleaned(html: str) -> str:
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, link_rel=None, strip_comments=True)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    arguments.add_argument("--issues", type=int, default=1000, help="generated issue bodies")
    arguments.add_argument("--runs", type=int, default=5, help="timings per engine (best)")
    args = arguments.parse_args()
    bodies = [post.body() for post in make_posts(args.issues)]
    parts = project_parts()
    found, missing = engines()
    reference = [cleaned(found["markdown-it-py"](part)) for part in parts]
    print(f"{len(bodies):,} generated issues, {len(parts)} parts of the sample issues and fixtures")
    if missing:
        print("not installed: " + ", ".join(missing))
    print(f"{'engine':18} {'us/issue':>9} {'same HTML':>10}  first difference")
    for name, engine in found.items():
        seconds = best_of(args.runs, lambda engine=engine: [engine(body) for body in bodies])
        same = [cleaned(engine(part)) == want for part, want in zip(parts, reference, strict=True)]
        first = next((parts[n] for n, ok in enumerate(same) if not ok), "")
        shown = " ".join(first.split())[:50]
        print(f"{name:18} {seconds / len(bodies) * 1e6:9.0f} {sum(same):4}/{len(same):<5}  {shown}")
    parser = markdown_parser()
    tokens = [parser.parse(body) for body in bodies]
    parse = best_of(args.runs, lambda: [parser.parse(body) for body in bodies])
    render = best_of(
        args.runs, lambda: [parser.renderer.render(t, parser.options, {}) for t in tokens]
    )
    print(
        f"markdown-it-py, parse alone {parse / len(bodies) * 1e6:.0f} us/issue, "
        f"render of the kept tokens {render / len(bodies) * 1e6:.0f} us/issue"
    )


if __name__ == "__main__":
    main()
