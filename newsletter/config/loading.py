"""Loading a project: the TOML file, `NEWSLETTER_*` overrides, every problem reported at once
with its file and line."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from newsletter.config.project import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATH,
    ENV_PREFIX,
    REQUIRED_SETTINGS,
    Project,
)
from newsletter.config.schema import SECRET_VARIABLES, Config
from newsletter.config.transport_url import parse_transport_url, path_problem
from newsletter.errors import ConfigError, display_path
from newsletter.files import project_file_refusal


def load_project(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Load the configuration from `path`, `$NEWSLETTER_CONFIG` or config/newsletter.toml.

    Without an explicit file and with no config/newsletter.toml, the embedded defaults apply.
    Raises ConfigError listing every problem at once.
    """
    env = os.environ if environ is None else environ
    explicit = path or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    source = explicit or DEFAULT_CONFIG_PATH
    values: dict[str, Any] = {}
    problems: list[str] = []
    text = ""
    if source.is_file():
        text, values = _read_toml(source)
    elif explicit is not None:
        raise ConfigError(
            "configuration file not found",
            path=source,
            hint=f"create it, or point --config / {CONFIG_ENV} at an existing file",
        )
    file_source = source if source.is_file() else None
    where = display_path(source)

    for key in list(values):
        if f"{ENV_PREFIX}{key.upper()}" in SECRET_VARIABLES:
            problems.append(
                f"{_at(where, text, key)}: {key}: secrets are not read from files; "
                f"remove it and set {ENV_PREFIX}{key.upper()} in the environment"
            )
            del values[key]
        elif key not in Config.model_fields:
            problems.append(
                f"{_at(where, text, key)}: {key}: unknown key{_suggestion(key, Config.model_fields)}"
            )
            del values[key]

    origins = {key: f"{where}: {key}" for key in values}
    for variable, raw in env.items():
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_ENV:
            continue
        if variable in SECRET_VARIABLES:
            continue
        key = variable[len(ENV_PREFIX) :].lower()
        if key not in Config.model_fields:
            known = [f"{ENV_PREFIX}{name.upper()}" for name in Config.model_fields]
            known += list(SECRET_VARIABLES)
            problems.append(
                f"environment {variable}: unknown setting{_suggestion(variable, known)}"
            )
            continue
        values[key] = _parse_env_value(key, raw)
        origins[key] = f"environment {variable}"

    for key in REQUIRED_SETTINGS:
        if isinstance(values.get(key), str) and not values[key].strip():
            # `name = "   "` is no name: the setting is missing, and refused like one.
            del values[key]
    try:
        config = Config.model_validate(values)
    except ValidationError as error:
        for item in error.errors():
            key = str(item["loc"][0]) if item["loc"] else ""
            origin = _origin(key, origins, where, text, item["msg"])
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{origin}: {message}" if key else f"{where}: {message}")
        config = None
    root = _project_root(file_source)
    if config is not None:
        problems += [
            f"{_origin(key, origins, where, text)}: {problem}"
            for key, problem in _local_path_problems(config, root)
        ]
    if problems or config is None:
        raise ConfigError("\n".join(problems))
    secrets = {name: env[name] for name in SECRET_VARIABLES if env.get(name)}
    given = frozenset(key for key, value in values.items() if value not in ("", None))
    return Project(config=config, root=root, source=file_source, secrets=secrets, explicit=given)


def _local_path_problems(config: Config, root: Path) -> list[tuple[str, str]]:
    """The settings naming a local path that breaks its rule, known once the root is."""
    problems: list[tuple[str, str]] = []
    if config.logo and "://" not in config.logo:
        # A logo file is bound by the rule of every local file (newsletter/files.py).
        refusal = project_file_refusal(root, config.logo)
        if refusal:
            problems.append(("logo", f"{config.logo} {refusal}"))
    # An eml: folder or mbox: file is relative to the project folder.
    problem = path_problem(parse_transport_url(config.transport_url), root)
    if problem:
        problems.append(("transport_url", problem))
    return problems


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError("is not UTF-8 text", path=path, hint="save the file as UTF-8") from error
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"\(at line (\d+), column \d+\)", str(error))
        line = int(match.group(1)) if match else None
        message = re.sub(r"\s*\(at line .*\)$", "", str(error))
        raise ConfigError(
            f"invalid TOML: {message}",
            path=path,
            line=line,
            hint="fix the TOML syntax on that line",
        ) from error


def _parse_env_value(key: str, raw: str) -> Any:
    """Environment values are strings; list keys take comma-separated values."""
    if key in ("locales", "inbound_urls"):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _at(where: str, text: str, key: str) -> str:
    """`file:line` of `key` in the TOML text, or just `file` when it cannot be found."""
    line = _key_line(text, key)
    return f"{where}:{line}" if line else where


def _origin(key: str, origins: dict[str, str], where: str, text: str, message: str = "") -> str:
    """Where the value of `key` came from: `file:line: key` or `environment VARIABLE`."""
    origin = origins.get(key, f"{where}: {key}" if key else where)
    line = _key_line(text, key, message) if key and origin.startswith(where) else None
    return origin.replace(f"{where}:", f"{where}:{line}:", 1) if line else origin


def _key_line(text: str, key: str, message: str = "") -> int | None:
    """The line of `key = ...` or of its `[key.NAME]` table (the one `message` names, if any)."""
    named = re.search(rf"\[{re.escape(key)}\.[^\]]+\]", message)
    lines = list(enumerate(text.splitlines(), start=1))
    if named:  # Only that table's line, else none (not another table's).
        found = [number for number, line in lines if line.strip().startswith(named.group())]
        return found[0] if found else None
    for number, line in lines:
        if re.match(rf"\s*(?:{re.escape(key)}\s*=|\[{re.escape(key)}[.\]])", line):
            return number
    return None


def _suggestion(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _project_root(source: Path | None) -> Path:
    """The project folder: the parent of a `config/` folder holding the file, else its folder."""
    if source is None:
        return Path.cwd()
    folder = source.resolve().parent
    return folder.parent if folder.name == "config" else folder
