"""Rendering: an issue edition to email HTML (MJML, inlined CSS), plain text and a web page.

`render/` produces strings and bytes; it never touches the database or the network.
"""
