"""MJML to the HTML of an email, the same way for issues and the notices the newsletter sends.

mjml-python is told to import no web fonts: by default it links a Google Fonts stylesheet for
any font family it knows (Roboto, Open Sans...), so opening the email would call a third party.
The preheader it writes for `mj-preview` is hidden by colouring it like the background, which
spam filters score as hidden text; it is hidden the way mail clients expect instead.
"""

from __future__ import annotations

import re

import mjml

PREHEADER_STYLE = (
    "display:none;font-size:0;line-height:0;max-height:0;max-width:0;"
    "opacity:0;overflow:hidden;mso-hide:all;"
)
"""How the preheader is hidden: not displayed, no size, invisible, and hidden in Outlook too."""
# mjml-python's preview: the first element of <body>, a div hidden by its style.
_PREVIEW = re.compile(r"(<body\b[^>]*>\s*<div) style=\"display:none;[^\"]*\"")


def mjml_to_html(source: str) -> str:
    """The email HTML of the MJML `source` (CSS not inlined yet); raises what mjml raises."""
    html = mjml.mjml2html(source, fonts={})
    return _PREVIEW.sub(rf'\1 style="{PREHEADER_STYLE}"', html, count=1)
