"""pygal, the report's chart library, imported without the import hook it leaves behind.

Importing pygal appends a legacy hook to sys.meta_path (for its map plugins, which the report
does not use). The hook has no find_spec, so every import after it in the process warns
(ImportWarning: an error where warnings are errors, as in the tests), and Python 3.12 no longer
calls such hooks. It is taken out as soon as pygal is in, before anything else is imported.
"""

from __future__ import annotations

import sys

import pygal
from pygal.style import Style

sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__module__ != "pygal"]

__all__ = ["Style", "pygal"]
