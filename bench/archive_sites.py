"""The sites `bench/archive.py` builds: the same synthetic posts as a newsletter project, a Hugo
site and a Pelican site, with each tool's configuration and minimal templates, and the reference
tools installed when missing (Hugo from Debian, Pelican from PyPI into bench/.venv-pelican).

Posts are generated deterministically: about 1 KB of Markdown each (front matter, a lead, a
`## News` section with two stories that link out), one week apart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from random import Random

ROOT = Path(__file__).resolve().parent.parent

NEWSLETTER = ROOT / ".venv" / "bin" / "newsletter"
PELICAN_VENV = ROOT / "bench" / ".venv-pelican"
PELICAN = PELICAN_VENV / "bin" / "pelican"
PELICAN_REQUIREMENTS = ("pelican>=4.9,<5", "markdown")
BASE_URL = "https://news.example.org"
LATEST = date(2026, 11, 16)
PAGE_SIZE = 20

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
    before: Path | None = None
    """Another checkout of the project (the code before a change): the tool `before` builds
    our site with its code, in the same run as ours."""

    def source(self, tool: str) -> Path:
        return self.root / "sites" / ("ours" if tool == "before" else tool)

    def write(self, tool: str, post: Post) -> None:
        name, text = FILES[tool](post)
        path = self.source(tool) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def command(self, tool: str, out: Path) -> list[str]:
        """The full build of `tool`'s site into `out`."""
        site = self.source(tool)
        if tool in ("ours", "before"):
            config = site / "config" / "newsletter.toml"
            command = [str(NEWSLETTER), "--config", str(config), "archive", "--out", str(out)]
            # `env` execs the command at once: the same start-up as ours, with the other code.
            return ["env", f"PYTHONPATH={self.before}", *command] if tool == "before" else command
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
