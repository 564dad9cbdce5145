"""Move CSS from <style> into style attributes, which is what email clients read.

One function, two engines: premailer (the default, pure Python) and css-inline (Rust, about
two orders of magnitude faster), chosen by the `css_inliner` setting. Both keep the at-rules
(`@media` for small screens and dark mode) in <head> and keep the doctype.
"""

from __future__ import annotations

import logging
import re

from newsletter.config import INLINERS
from newsletter.errors import NewsletterError

__all__ = ["INLINERS", "inline_css"]
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>\s*", re.IGNORECASE)


def inline_css(html: str, engine: str = "premailer") -> str:
    """`html` with its CSS inlined by `engine`; at-rules stay in a <style> in <head>."""
    doctype = _DOCTYPE.match(html)
    body = html[doctype.end() :] if doctype else html
    if engine == "premailer":
        inlined = _premailer(body)
    elif engine == "css-inline":
        inlined = _css_inline(body)
    else:
        raise NewsletterError(
            f"unknown CSS inliner {engine!r}",
            hint="set css_inliner to one of " + ", ".join(INLINERS),
        )
    # premailer drops a lowercase doctype (and css-inline may add its own): put the original back.
    inlined = _DOCTYPE.sub("", inlined, count=1)
    return (doctype.group(0).strip() if doctype else "<!doctype html>") + inlined


def _premailer(html: str) -> str:
    from premailer import Premailer

    return str(
        Premailer(
            html,
            keep_style_tags=False,  # Rules that cannot be inlined (@media) are kept anyway.
            strip_important=False,
            disable_validation=True,
            allow_network=False,
            cssutils_logging_level=logging.CRITICAL,
            remove_unset_properties=True,
        ).transform()
    )


def _css_inline(html: str) -> str:
    import css_inline

    return str(
        css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False).inline(html)
    )
