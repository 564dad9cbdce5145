"""The settings that close the loop, checked when the configuration loads: half a webhook
set-up, a listener spool that would be the project folder itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_project
from newsletter.errors import ConfigError

from .test_config import problems, project, write_config  # noqa: F401 (project: a fixture)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'ses_certificate = "config/sns.pem"\n',
            "ses_topic_arns: empty while ses_certificate is set",
        ),
        (
            'ses_topic_arns = ["arn:aws:sns:eu-west-1:123456789012:ses-feedback"]\n',
            "ses_topic_arns: set while ses_certificate is empty",
        ),
    ],
)
def test_half_a_ses_webhook_set_up_is_an_error(
    project: Path,  # noqa: F811
    text: str,
    message: str,
) -> None:
    # Either one alone left /webhooks/ses silently off (404): SES's reports were lost.
    path = write_config(project, text)

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    [problem] = problems(caught.value)
    assert problem.startswith("config/newsletter.toml"), problem
    assert message in problem and "/webhooks/ses" in problem, problem


@pytest.mark.parametrize("spool", ["", " ", "."])
def test_the_inbound_spool_cannot_be_the_project_folder(
    project: Path,  # noqa: F811 (the fixture)
    spool: str,
) -> None:
    # Empty, it made the project folder itself the listener's Maildir (new/, cur/, tmp/ in it).
    path = write_config(project, f'inbound_spool = "{spool}"\n')

    with pytest.raises(ConfigError) as caught:
        load_project(path, environ={})

    [problem] = problems(caught.value)
    assert problem.startswith("config/newsletter.toml:1: inbound_spool: "), problem
    assert 'such as "inbound"' in problem, problem
