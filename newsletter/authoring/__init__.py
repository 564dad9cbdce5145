"""Authoring commands: import posts into issue folders and scaffold new issues and stories."""
