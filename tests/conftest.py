from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import Config
from newsletter.content.loader import IssueLoader

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEEDS = FIXTURES / "seeds"
POSTS = FIXTURES / "posts"
SEED_EN = SEEDS / "000_757798905b0cf973.txt"
SEED_ZH = SEEDS / "001_c00ac035439ed75e.txt"
SEED_HUGO = SEEDS / "002_15811cd5dc432df1.txt"
LOCALES = ["en", "zh", "ja", "de", "fr", "es", "pt_BR", "ar"]


@pytest.fixture
def config() -> Config:
    return Config(locales=LOCALES, default_locale="en", timezone="Europe/Berlin")


@pytest.fixture
def loader(config: Config) -> IssueLoader:
    return IssueLoader(config)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An empty project: config/newsletter.toml and an issues/ folder."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "newsletter.toml").write_text(
        'name = "Test Weekly"\n'
        'locales = ["en", "zh", "ja", "de", "fr", "es", "pt_BR", "ar"]\n'
        'timezone = "Europe/Berlin"\n'
        'issues_dir = "issues"\n',
        encoding="utf-8",
    )
    (tmp_path / "issues").mkdir()
    return tmp_path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite tests/golden/ from the current rendering (review the diff before committing).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
