"""newsletter: Markdown story files in git to localized email, web pages and an archive."""

from __future__ import annotations

__version__ = "0.1.0"
