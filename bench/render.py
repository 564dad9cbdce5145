"""Benchmark the rendering pipeline and the per-recipient merge.

    .venv/bin/python bench/render.py [--runs 9] [--merges 100000]

For each sample (issue, locale): the median time of the whole pipeline and of each stage, with
premailer and with css-inline, side by side. Then the per-recipient merge of the largest email
(about 64 KB), against two references measured in the same run: filling the same placeholders
with chained str.replace (what a naive merge does) and copying the bytes (the floor).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.config import load_project  # noqa: E402
from newsletter.content.loader import IssueLoader  # noqa: E402
from newsletter.render.merge import PLACEHOLDERS, MergeTemplate, escaped, html_escape, sample_values  # noqa: E402
from newsletter.render.pipeline import Renderer  # noqa: E402

STAGES = ("markdown", "text", "jinja", "mjml", "inline", "web")


def pipeline(runs: int) -> str:
    project = load_project(ROOT / "config" / "newsletter.toml", environ={})
    loader = IssueLoader(project.config)
    renderers = {name: Renderer(project, inliner=name) for name in ("premailer", "css-inline")}
    largest = ("", "", 0)
    print(
        f"{'issue':38} {'loc':3} {'KB':>4} {'total pm':>9} {'total ci':>9} {'ratio':>6} "
        + " ".join(f"{s:>8}" for s in STAGES)
        + f" {'inl(ci)':>8}"
    )
    for issue in loader.load_all(project.issues_path):
        for locale in issue.locales:
            samples: dict[str, list[dict[str, float]]] = {name: [] for name in renderers}
            for name, renderer in renderers.items():
                renderer.render(issue, locale)  # Warm-up: template compilation, cssutils start-up.
                for _ in range(runs):
                    start = time.perf_counter()
                    rendered = renderer.render(issue, locale)
                    timings = dict(rendered.timings, total=time.perf_counter() - start)
                    samples[name].append(timings)
            size = len(rendered.email_html.encode())
            if size > largest[2]:
                largest = (issue.slug, locale, size)
            med = {
                name: {key: statistics.median(run[key] for run in runs_) * 1000 for key in runs_[0]}
                for name, runs_ in samples.items()
            }
            pm, ci = med["premailer"], med["css-inline"]
            print(
                f"{issue.slug[:38]:38} {locale:3} {size / 1024:4.0f} {pm['total']:7.1f}ms {ci['total']:7.1f}ms {pm['total'] / ci['total']:5.1f}x "
                + " ".join(f"{pm[s]:6.2f}ms" for s in STAGES)
                + f" {ci['inline']:6.2f}ms"
            )
    print("stages are medians with premailer; inl(ci) is the inline stage with css-inline")
    return f"{largest[0]}:{largest[1]}"


def merge(which: str, count: int) -> None:
    project = load_project(ROOT / "config" / "newsletter.toml", environ={})
    slug, locale = which.split(":")
    issue = IssueLoader(project.config).load(project.issues_path / slug)
    html = Renderer(project, inliner="css-inline").render(issue, locale).email_html
    template = MergeTemplate.compile(html)
    encoded = html.encode("utf-8")
    binary = MergeTemplate.compile(encoded)
    recipients = [
        escaped(
            sample_values(project.config.base_url, f"https://news.example.org/{locale}/{slug}/")
            | {"email": f"reader{n}@example.org"},
            html_escape,
        )
        for n in range(1000)
    ]

    recipients_bytes = [
        {field: value.encode("utf-8") for field, value in values.items()} for values in recipients
    ]

    def ours() -> None:
        for n in range(count):
            template.fill(recipients[n % 1000])

    def ours_bytes() -> None:
        for n in range(count):
            binary.fill(recipients_bytes[n % 1000])

    def replace_chain() -> None:
        for n in range(count):
            text = html
            for field, marker in PLACEHOLDERS.items():
                text = text.replace(marker, recipients[n % 1000][field])

    def copy() -> None:
        for _ in range(count):
            bytearray(encoded)

    def encode() -> None:
        for _ in range(count):
            html.encode("utf-8")

    results = {}
    runs = (
        ("MergeTemplate.fill", ours),
        ("... on bytes", ours_bytes),
        ("str.replace chain", replace_chain),
        ("copy 64 KB bytes", copy),
        ("str.encode (utf-8)", encode),
    )
    for name, run in runs:
        best = min(_timed(run) for _ in range(3))
        results[name] = best / count * 1e6
    print(
        f"\nper-recipient merge of {slug}/{locale} ({len(html.encode()) / 1024:.0f} KB, {len(template.fields)} fields), {count:,} recipients, best of 3:"
    )
    for name, micros in results.items():
        print(
            f"  {name:20} {micros:7.2f} us/recipient  ({results[name] / results['MergeTemplate.fill']:.2f}x ours)"
        )


def _timed(run) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs", type=int, default=9, help="renders per (issue, locale) and inliner"
    )
    parser.add_argument("--merges", type=int, default=100_000, help="recipients to merge")
    args = parser.parse_args()
    largest = pipeline(args.runs)
    merge(largest, args.merges)


if __name__ == "__main__":
    main()
