"""Every configuration key and every command is documented, so the docs cannot drift."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from newsletter.cli import app
from newsletter.config import SECRET_VARIABLES, Config

from .conftest import ROOT

CONFIG_DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
SAMPLE_CONFIG = (ROOT / "config" / "newsletter.toml").read_text(encoding="utf-8")


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        names += [f"{name} {child}" for child in sub] if sub else [name]
    return sorted(names)


@pytest.mark.parametrize("key", sorted(Config.model_fields))
def test_every_config_key_is_documented_and_in_the_sample_file(key: str) -> None:
    assert re.search(rf"^\| `{key}` \|", CONFIG_DOC, re.MULTILINE), (
        f"docs/configuration.md lacks a row for {key}"
    )
    assert re.search(rf"^(?:{key} = |\[{key}\.)", SAMPLE_CONFIG, re.MULTILINE), (
        f"config/newsletter.toml lacks {key}"
    )
    assert Config.model_fields[key].description


@pytest.mark.parametrize("variable", sorted(SECRET_VARIABLES))
def test_every_secret_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in CONFIG_DOC


def test_the_documented_keys_are_exactly_the_schema() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", CONFIG_DOC, re.MULTILINE))
    assert documented == set(Config.model_fields)


@pytest.mark.parametrize("command", _commands())
def test_every_command_is_documented_with_an_example(command: str) -> None:
    assert f"## newsletter {command}\n" in CLI_DOC, f"docs/cli.md lacks a section for {command}"
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick_start and "make test" in quick_start
