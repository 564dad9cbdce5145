"""A loaded project: its configuration, its folder, its secrets, and which settings were given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from newsletter.config.schema import Config
from newsletter.errors import ConfigError, display_path

ENV_PREFIX = "NEWSLETTER_"
CONFIG_ENV = "NEWSLETTER_CONFIG"
DEFAULT_CONFIG_PATH = Path("config") / "newsletter.toml"

# Settings whose built-in defaults are placeholders that must never reach readers: a real send,
# a schedule, `serve` and `run` refuse to start until the file or the environment sets them.
REQUIRED_SETTINGS = ("name", "base_url", "sender_address")


@dataclass(frozen=True)
class Project:
    """A loaded configuration, the folder it belongs to, and the secrets from the environment."""

    config: Config
    root: Path
    source: Path | None
    secrets: Mapping[str, str]
    explicit: frozenset[str] = frozenset()
    """The keys the configuration file or the environment set (the others have their defaults)."""

    @property
    def unset_required(self) -> list[str]:
        """The required settings left at their placeholder defaults."""
        return [key for key in REQUIRED_SETTINGS if key not in self.explicit]

    def require_settings(self, what: str) -> None:
        """ConfigError naming the unset required settings, the file and how to set them, so
        that `what` (a real send, `newsletter serve`...) never uses a placeholder."""
        missing = self.unset_required
        if missing:
            many = len(missing) > 1
            raise ConfigError(
                f"{_listed(missing)} not set; {what} needs {'them' if many else 'it'} "
                f"(the placeholder{'s' if many else ''} "
                + ", ".join(str(Config.model_fields[key].default) for key in missing)
                + " must not reach readers)",
                path=self.source or DEFAULT_CONFIG_PATH,
                hint=self.settings_hint(),
            )

    def settings_warning(self) -> str | None:
        """One line saying which required settings have placeholder values, or None."""
        missing = self.unset_required
        if not missing:
            return None
        where = display_path(self.source or DEFAULT_CONFIG_PATH)
        return (
            f"{where}: {_listed(missing)} not set; using placeholders ("
            + ", ".join(f"{key} = {Config.model_fields[key].default}" for key in missing)
            + "): fine for a try, but a real send, schedules, serve and run refuse to start"
        )

    def settings_hint(self) -> str:
        """How to set the unset required settings: in the file or the environment."""
        missing = self.unset_required
        examples = {
            "name": 'name = "Field Notes"',
            "base_url": 'base_url = "https://news.example.org"',
            "sender_address": 'sender_address = "notes@news.example.org"',
        }
        where = display_path(self.source or DEFAULT_CONFIG_PATH)
        return (
            f"add {'; '.join(examples[key] for key in missing)} to {where}, or set "
            + ", ".join(f"{ENV_PREFIX}{key.upper()}" for key in missing)
            + " in the environment"
        )

    @property
    def issues_path(self) -> Path:
        """The folder holding the issues."""
        return self.root / self.config.issues_dir

    @property
    def sequences_path(self) -> Path:
        """The folder holding the welcome and onboarding sequences."""
        return self.root / self.config.sequences_dir

    @property
    def archive_path(self) -> Path:
        """The folder the static archive is written to and served from."""
        return self.root / self.config.archive_dir

    def secret(self, variable: str) -> str | None:
        """The value of a secret environment variable, or None when unset."""
        return self.secrets.get(variable) or None


def _listed(keys: list[str]) -> str:
    """`name is` or `name, base_url are`."""
    return f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'}"
