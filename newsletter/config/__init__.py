"""The project configuration: one typed schema, loaded from `config/newsletter.toml` and the environment.

Every key can be overridden by an environment variable named `NEWSLETTER_` plus the key in upper
case. Secrets never come from files: they are read from their own environment variables only.

    schema.py         Config: every key, its type, default, bounds and meaning
    values.py         checks of values that are more than a type (logo, topics)
    transport_url.py  the one parser of transport_url (light: checked when the file loads)
    project.py        Project: the configuration, its folder, secrets, required settings
    loading.py        load_project: file and environment, every problem at once
"""

from __future__ import annotations

from newsletter.config.loading import load_project
from newsletter.config.project import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    REQUIRED_SETTINGS,
    Project,
)
from newsletter.config.schema import INLINERS, SECRET_VARIABLES, Config

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "ENV_PREFIX",
    "INLINERS",
    "REQUIRED_SETTINGS",
    "SECRET_VARIABLES",
    "Config",
    "Project",
    "load_project",
]
