"""Benchmark `newsletter archive` against Hugo and Pelican on the same posts, in the same run.

    .venv/bin/python bench/archive.py [--issues 1000] [--runs 3] [--keep DIR] [--only TOOLS]

Generates `--issues` synthetic issues (about 1 KB of Markdown each: front matter, a lead, a
`## News` section with two stories that link out), deterministically, and writes the same posts
three ways: a newsletter project (config/newsletter.toml and issues/DATE-SLUG.md), a Hugo site
with minimal layouts (paginated lists; RSS and sitemap on, Hugo's defaults) and a Pelican site
with a minimal theme of its own, so that neither tool's bundled theme is what is measured.
Hugo comes from Debian (`apt-get install hugo`, when missing and running as root) and Pelican
from PyPI into bench/.venv-pelican, never into the project's .venv.

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
import os
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
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from random import Random
from time import perf_counter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NEWSLETTER = ROOT / ".venv" / "bin" / "newsletter"
PELICAN_VENV = ROOT / "bench" / ".venv-pelican"
PELICAN = PELICAN_VENV / "bin" / "pelican"
PELICAN_REQUIREMENTS = ("pelican>=4.9,<5", "markdown")
TOOLS = ("ours", "hugo", "pelican")
BASE_URL = "https://news.example.org"
LATEST = date(2026, 11, 16)
PAGE_SIZE = 20
FULL_GOAL = 2.0  # Ours within this factor of Hugo's full build.
INCREMENTAL_GOAL = 0.5  # Seconds for a rebuild after editing one issue.

WORDS = (
    "model", "agents", "chips", "training", "inference", "benchmark", "dataset", "open", "weights",
    "reasoning", "robotics", "vision", "speech", "translation", "safety", "policy", "funding",
    "startup", "cluster", "memory", "latency", "tokens", "context", "retrieval", "search",
    "compiler", "kernel", "accelerator", "research", "paper", "release", "license", "evaluation",
    "alignment", "distillation", "quantization", "sparse", "transformer", "diffusion", "video",
    "audio", "editor", "browser", "laptop", "phone", "cloud", "datacenter", "energy", "regulation",
    "privacy", "copyright", "archive", "library", "community", "students", "hospital", "climate",
    "weather", "protein", "genome", "mathematics", "proof"
)  # fmt: skip
TAGS = (
    "models", "chips", "research", "policy", "funding", "open-source", "robotics", "safety",
    "datasets", "tools", "vision", "speech", "science", "energy", "education", "health",
)  # fmt: skip
AUTHORS = ("Ada Park", "Bruno Diaz", "Chen Wei", "Dana Levi", "Emeka Obi", "Fatima Noor")


@dataclass(frozen=True)
class Story:
    """A `### title` heading and its paragraph, which carries a Markdown link."""

    title: str
    text: str


@dataclass(frozen=True)
class Post:
    """One synthetic issue, written the same way for every tool."""

    slug: str
    title: str
    day: date
    summary: str
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    lead: str
    stories: tuple[Story, ...]

    def body(self) -> str:
        """The Markdown after the front matter: lead, `## News`, then the stories."""
        stories = "\n\n".join(f"### {story.title}\n\n{story.text}" for story in self.stories)
        return f"{self.lead}\n\n## News\n\n{stories}\n"


def make_posts(count: int, seed: int = 2026) -> list[Post]:
    """`count` posts, newest first, one week apart going back from LATEST."""
    rng = Random(seed)
    return [make_post(rng, count - n, LATEST - timedelta(weeks=n)) for n in range(count)]


def make_post(rng: Random, number: int, day: date) -> Post:
    words = rng.sample(WORDS, 3)
    slug = "-".join([*words, str(number)])
    return Post(
        slug=slug,
        title=f"{' '.join(words).capitalize()}, issue {number}",
        day=day,
        summary=sentence(rng, 12),
        tags=tuple(rng.sample(TAGS, rng.randint(1, 3))),
        authors=tuple(rng.sample(AUTHORS, rng.randint(1, 2))),
        lead=paragraph(rng, 100),
        stories=tuple(
            Story(sentence(rng, 6).rstrip("."), linked_paragraph(rng, 120, f"{slug}/{n}"))
            for n in (1, 2)
        ),
    )


def sentence(rng: Random, words: int) -> str:
    text = " ".join(rng.choices(WORDS, k=words))
    return text[0].upper() + text[1:] + "."


def paragraph(rng: Random, size: int) -> str:
    """Sentences until the text is at least `size` characters long."""
    sentences: list[str] = []
    while sum(len(s) + 1 for s in sentences) < size:
        sentences.append(sentence(rng, rng.randint(8, 14)))
    return " ".join(sentences)


def linked_paragraph(rng: Random, size: int, path: str) -> str:
    """A paragraph with a Markdown link to example.com in the middle."""
    first, second = paragraph(rng, size // 2), paragraph(rng, size // 2)
    anchor = " ".join(rng.sample(WORDS, 3))
    return f"{first} Read [{anchor}](https://example.com/{path}) for more. {second}"


def edited(post: Post, edit: int) -> Post:
    """`post` with a new title and a new first story paragraph, different for each `edit`."""
    rng = Random(f"edit {post.slug} {edit}")
    story = replace(post.stories[0], text=linked_paragraph(rng, 120, f"{post.slug}/edit"))
    return replace(
        post, title=f"{post.title} (revised {edit + 1})", stories=(story, *post.stories[1:])
    )


# The same post in each tool's format: (path in the site, text).


def newsletter_file(post: Post) -> tuple[str, str]:
    front = (
        f"title: {quoted(post.title)}\ndate: {post.day}\nsummary: {quoted(post.summary)}\n"
        f"tags: [{', '.join(post.tags)}]\nauthors: [{', '.join(post.authors)}]\nstatus: sent\n"
    )
    return f"issues/{post.day}-{post.slug}.md", f"---\n{front}---\n\n{post.body()}"


def hugo_file(post: Post) -> tuple[str, str]:
    front = (
        f"title: {quoted(post.title)}\ndate: {post.day}\nsummary: {quoted(post.summary)}\n"
        f"tags: [{', '.join(post.tags)}]\n"
    )
    return f"content/posts/{post.slug}.md", f"---\n{front}---\n\n{post.body()}"


def pelican_file(post: Post) -> tuple[str, str]:
    # Slug keeps Pelican's URLs independent of the (edited) title, as for the other tools.
    headers = (
        f"Title: {post.title}\nDate: {post.day}\nSummary: {post.summary}\n"
        f"Tags: {', '.join(post.tags)}\nAuthors: {', '.join(post.authors)}\nSlug: {post.slug}\n"
    )
    return f"content/{post.slug}.md", f"{headers}\n{post.body()}"


def quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


FILES = {"ours": newsletter_file, "hugo": hugo_file, "pelican": pelican_file}


# Each tool's configuration and templates, kept minimal.

NEWSLETTER_CONFIG = """\
name = "Bench Weekly"
base_url = "{base_url}"
sender_address = "weekly@news.example.org"
postal_address = "Bench Weekly, 1 Main St, Berlin"
locales = ["en"]
default_locale = "en"
timezone = "UTC"
database_url = "sqlite:///{database}"
"""

HUGO_CONFIG = f"""\
baseURL = "{BASE_URL}/"
title = "Bench Weekly"
languageCode = "en"
paginate = {PAGE_SIZE}
buildFuture = true
"""

HUGO_LAYOUTS = {
    "_default/baseof.html": """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ .Title }} · {{ site.Title }}</title>
{{ with .OutputFormats.Get "rss" }}<link rel="alternate" type="application/rss+xml" \
href="{{ .Permalink }}">{{ end }}
</head>
<body>
<header><a href="{{ site.Home.Permalink }}">{{ site.Title }}</a></header>
<main>{{ block "main" . }}{{ end }}</main>
</body>
</html>
""",
    "_default/single.html": """\
{{ define "main" }}
<article>
<h1>{{ .Title }}</h1>
<time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2 January 2006" }}</time>
<p>{{ .Summary }}</p>
{{ .Content }}
<ul>{{ range .GetTerms "tags" }}<li><a href="{{ .Permalink }}">{{ .LinkTitle }}</a></li>
{{ end }}</ul>
</article>
{{ end }}
""",
    "_default/list.html": """\
{{ define "main" }}
<h1>{{ .Title }}</h1>
{{ partial "summaries.html" .Paginator }}
{{ template "_internal/pagination.html" . }}
{{ end }}
""",
    "index.html": """\
{{ define "main" }}
{{ partial "summaries.html" (.Paginate (where site.RegularPages "Section" "posts")) }}
{{ template "_internal/pagination.html" . }}
{{ end }}
""",
    "partials/summaries.html": """\
<ul>
{{ range .Pages }}<li><a href="{{ .Permalink }}">{{ .Title }}</a> \
<time datetime="{{ .Date.Format "2006-01-02" }}">{{ .Date.Format "2 January 2006" }}</time>
<p>{{ .Summary }}</p></li>
{{ end }}</ul>
""",
}

PELICAN_CONFIG = f"""\
SITENAME = "Bench Weekly"
SITEURL = "{BASE_URL}"
RELATIVE_URLS = False
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_PAGINATION = {PAGE_SIZE}
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
THEME = {{theme!r}}
"""


def pelican_listing(heading: str) -> str:
    """A template for one page of articles under `heading` (index, a tag, category, author)."""
    return (
        '{% extends "base.html" %}{% block content %}'
        + heading
        + '{% include "summaries.html" %}{% endblock %}\n'
    )


def pelican_overview(name: str, plural: str) -> str:
    """A template for every tag, category or author (`name`) with its number of articles."""
    return (
        '{% extends "base.html" %}{% block content %}<ul>\n'
        f"{{% for {name}, articles in {plural}|sort %}}"
        f'<li><a href="{{{{ SITEURL }}}}/{{{{ {name}.url }}}}">{{{{ {name} }}}}</a> '
        "({{ articles|count }})</li>\n{% endfor %}</ul>{% endblock %}\n"
    )


PELICAN_TEMPLATES = {
    "base.html": """\
<!doctype html>
<html lang="{{ DEFAULT_LANG }}">
<head>
<meta charset="utf-8">
<title>{% block title %}{{ SITENAME }}{% endblock %}</title>
<link rel="alternate" type="application/atom+xml" href="{{ FEED_DOMAIN }}/{{ FEED_ALL_ATOM }}">
</head>
<body>
<header><a href="{{ SITEURL }}/">{{ SITENAME }}</a></header>
<main>{% block content %}{% endblock %}</main>
</body>
</html>
""",
    "summaries.html": """\
<ul>
{% for article in articles_page.object_list %}<li><a href="{{ SITEURL }}/{{ article.url }}">\
{{ article.title }}</a> <time datetime="{{ article.date.isoformat() }}">{{ article.locale_date }}\
</time>
{{ article.summary }}</li>
{% endfor %}</ul>
<nav>
{% if articles_page.has_previous() %}<a href="{{ SITEURL }}/{{ articles_previous_page.url }}">\
Newer</a>{% endif %}
Page {{ articles_page.number }} of {{ articles_paginator.num_pages }}
{% if articles_page.has_next() %}<a href="{{ SITEURL }}/{{ articles_next_page.url }}">Older</a>\
{% endif %}
</nav>
""",
    "article.html": """\
{% extends "base.html" %}
{% block title %}{{ article.title }} · {{ SITENAME }}{% endblock %}
{% block content %}
<article>
<h1>{{ article.title }}</h1>
<time datetime="{{ article.date.isoformat() }}">{{ article.locale_date }}</time>
{{ article.summary }}
{{ article.content }}
<ul>{% for tag in article.tags %}<li><a href="{{ SITEURL }}/{{ tag.url }}">{{ tag }}</a></li>\
{% endfor %}</ul>
</article>
{% endblock %}
""",
    "page.html": '{% extends "base.html" %}{% block content %}<h1>{{ page.title }}</h1>'
    "{{ page.content }}{% endblock %}\n",
    "archives.html": '{% extends "base.html" %}{% block content %}<ul>\n{% for article in dates %}'
    '<li><a href="{{ SITEURL }}/{{ article.url }}">{{ article.title }}</a></li>\n'
    "{% endfor %}</ul>{% endblock %}\n",
    "index.html": pelican_listing(""),
    "tag.html": pelican_listing("<h1>{{ tag }}</h1>"),
    "category.html": pelican_listing("<h1>{{ category }}</h1>"),
    "author.html": pelican_listing("<h1>{{ author }}</h1>"),
    "tags.html": pelican_overview("tag", "tags"),
    "categories.html": pelican_overview("category", "categories"),
    "authors.html": pelican_overview("author", "authors"),
}


@dataclass(frozen=True)
class Sites:
    """The generated sources under `root`/sites/TOOL and how each tool builds them."""

    root: Path
    hugo_flags: tuple[str, ...] = ()

    def source(self, tool: str) -> Path:
        return self.root / "sites" / tool

    def write(self, tool: str, post: Post) -> None:
        name, text = FILES[tool](post)
        path = self.source(tool) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def command(self, tool: str, out: Path) -> list[str]:
        """The full build of `tool`'s site into `out`."""
        site = self.source(tool)
        if tool == "ours":
            config = site / "config" / "newsletter.toml"
            return [str(NEWSLETTER), "--config", str(config), "archive", "--out", str(out)]
        if tool == "hugo":
            return ["hugo", "--source", str(site), "--destination", str(out), "--quiet",
                    *self.hugo_flags]  # fmt: skip
        return [str(PELICAN), str(site / "content"), "-o", str(out),
                "-s", str(site / "pelicanconf.py"), "-q"]  # fmt: skip

    def generate(self, tool: str, posts: list[Post]) -> None:
        """`tool`'s configuration, templates and posts."""
        site = self.source(tool)
        if tool == "ours":
            config = NEWSLETTER_CONFIG.format(base_url=BASE_URL, database=site / "newsletter.db")
            write_files(site, {"config/newsletter.toml": config})
        elif tool == "hugo":
            layouts = {f"layouts/{name}": text for name, text in HUGO_LAYOUTS.items()}
            write_files(site, {"config.toml": HUGO_CONFIG, **layouts})
        else:
            theme = site / "theme"
            templates = {f"theme/templates/{n}": text for n, text in PELICAN_TEMPLATES.items()}
            config = PELICAN_CONFIG.format(theme=str(theme))
            write_files(site, {"pelicanconf.py": config, **templates})
        for post in posts:
            self.write(tool, post)


def write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# The reference tools, installed when missing.


def ensure_hugo() -> tuple[str, ...]:
    """Hugo on PATH (Debian's package, installed if missing); the timing flags it accepts."""
    if shutil.which("hugo") is None:
        if os.geteuid() != 0:
            sys.exit("install Hugo first: apt-get install hugo")
        print("installing hugo (apt-get install --no-install-recommends hugo)")
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "hugo"]
        if subprocess.run(install, env=environment, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=environment, check=True)
            subprocess.run(install, env=environment, check=True)
    print(output(["hugo", "version"]).strip())
    # --noTimes skips syncing modification times, work the other tools do not do; flags come
    # and go between Hugo versions, so pass it only where this Hugo lists it.
    usage = output(["hugo", "--help"])
    return tuple(flag for flag in ("--noTimes",) if re.search(rf"\s{flag}\b", usage))


def ensure_pelican() -> None:
    """Pelican in its own virtualenv, bench/.venv-pelican (created and installed if missing)."""
    if not (PELICAN_VENV / "bin" / "python").exists():
        print(f"creating {PELICAN_VENV.relative_to(ROOT)} (python3 -m venv)")
        subprocess.run(["python3", "-m", "venv", str(PELICAN_VENV)], check=True)
    if not PELICAN.exists():
        print(f"installing {' '.join(PELICAN_REQUIREMENTS)} into {PELICAN_VENV.relative_to(ROOT)}")
        pip = [str(PELICAN_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *PELICAN_REQUIREMENTS], check=True)
    print(output([str(PELICAN), "--version"]).strip().replace("\n", " "))


def output(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


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
            statistics.median(t.build for t in timings) if tool == "ours" else None,  # type: ignore[type-var]
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
    if "ours" in medians:
        print(f"ours, the build alone (as the command reports it): {medians['ours'].build:.2f} s")
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
    args = parser.parse_args()
    tools: list[str] = args.only
    hugo_flags = ensure_hugo() if "hugo" in tools else ()
    if "pelican" in tools:
        ensure_pelican()
    differences: list[str] = []
    with work_folder(args.keep) as root:
        posts = make_posts(args.issues)
        sites = Sites(root, hugo_flags)
        for tool in tools:
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
