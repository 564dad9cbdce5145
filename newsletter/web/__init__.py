"""HTTP: the editor's preview server (and, later, the public web app)."""
