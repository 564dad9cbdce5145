"""The static archive: every published issue's web page in each language, index pages, feeds,
a sitemap, built again only where something changed (see build.py)."""
