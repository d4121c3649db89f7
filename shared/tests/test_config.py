from __future__ import annotations

from pathlib import Path

import pytest

from herald.shared.config import (
    AppriseChannel,
    ConfigError,
    WebhookChannel,
    load_config,
    parse_config,
    resolve_secrets_check,
)
from herald.shared.events import ComponentStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "herald.yaml"


def test_example_config_loads_with_the_seed_services() -> None:
    config = load_config(EXAMPLE)
    assert config.services["payments-api"].name == "Payments API"
    assert {s.group for k, s in config.services.items() if k != "payments-api"} == {"cluster"}
    assert config.severity.map["critical"] is ComponentStatus.MAJOR_OUTAGE
    assert config.integrations["alertmanager"].token.resolve({}) == "demo-token"
    assert config.integrations["alertmanager"].token.resolve({"HERALD_DEMO_TOKEN": "t0k"}) == "t0k"
    pager = config.channels["pager"]
    assert isinstance(pager, WebhookChannel)
    assert pager.url.resolve({}) is None
    assert pager.url.resolve({"HERALD_DEMO_PAGER_URL": "http://x"}) == "http://x"


def test_default_matcher_is_the_service_label() -> None:
    config = parse_config("services:\n  payments-api:\n    name: Payments API\n")
    (matcher,) = config.service_matchers("payments-api")
    assert matcher.matches({"service": "payments-api"})
    assert not matcher.matches({"service": "payments"})


def test_error_names_file_line_and_field() -> None:
    text = "services:\n  api:\n    name: API\nseverity:\n  map:\n    critical: broken\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "herald.yaml")
    assert "herald.yaml:6: severity.map.critical:" in str(err.value)


def test_unknown_key_is_rejected_with_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("page:\n  title: x\n  colour: red\n", "c.yaml")
    assert "c.yaml:3: page.colour: Extra inputs are not permitted" in str(err.value)


def test_bad_matcher_is_rejected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            "services:\n  api:\n    name: API\n    matchers: ['alertname=~\"(\"']\n", "c.yaml"
        )
    assert "c.yaml:4: services.api.matchers" in str(err.value)
    assert "invalid regular expression" in str(err.value)


def test_references_are_checked() -> None:
    text = "services:\n  api:\n    name: API\n    oncall: nobody\n    group: nowhere\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    assert "unknown on-call target 'nobody'" in str(err.value)
    assert "unknown group 'nowhere'" in str(err.value)


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("page:\n  title: [unclosed\n", "c.yaml")
    assert str(err.value).startswith("c.yaml:")
    assert "not valid YAML" in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_unset_required_secret_is_reported_without_its_value() -> None:
    config = parse_config("integrations:\n  am:\n    token: {env: AM_TOKEN}\n")
    assert resolve_secrets_check(config, {}) == [
        "integrations.am.token: secret environment variable AM_TOKEN is not set"
    ]
    assert resolve_secrets_check(config, {"AM_TOKEN": "s3cret"}) == []


def test_secret_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    config = parse_config(f"integrations:\n  am:\n    token: {{file: {secret}}}\n")
    assert config.integrations["am"].token.resolve({}) == "from-file"


def test_secret_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        parse_config("integrations:\n  am:\n    token: {env: A, file: /b}\n")


def test_reference_errors_point_at_their_line() -> None:
    text = (
        "services:\n  api:\n    name: API\n    oncall: nobody\n"
        "oncall:\n  team:\n    channels: [console, ghost]\n"
        "channels:\n  console: {type: console}\n"
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    assert "c.yaml:4: services.api.oncall: unknown on-call target 'nobody'" in str(err.value)
    assert "c.yaml:7: oncall.team.channels.1: unknown channel 'ghost'" in str(err.value)


def test_apprise_channel_takes_secret_urls() -> None:
    config = parse_config(
        "channels:\n"
        "  chat:\n"
        "    type: apprise\n"
        "    urls:\n"
        "      - {env: SLACK_URL}\n"
        "      - {file: /run/secrets/teams, optional: true}\n"
        "    timeout_seconds: 20\n"
    )
    chat = config.channels["chat"]
    assert isinstance(chat, AppriseChannel)
    assert [ref.describe() for ref in chat.urls] == [
        "environment variable SLACK_URL",
        "file /run/secrets/teams",
    ]
    assert chat.urls[1].optional
    assert chat.timeout_seconds == 20
    short = parse_config("channels:\n  chat: {type: apprise, urls: [{env: X}]}\n")
    assert isinstance(short.channels["chat"], AppriseChannel)
    assert short.channels["chat"].timeout_seconds == 10


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        (
            "{type: apprise, urls: []}",
            "c.yaml:3: channels.chat.apprise.urls: Tuple should have at least 1 item",
        ),
        ("{type: apprise}", "c.yaml:3: channels.chat.apprise.urls: Field required"),
        (
            "{type: apprise, urls: [{env: X}], timeout_seconds: 61}",
            "channels.chat.apprise.timeout_seconds",
        ),
        (
            "{type: apprise, urls: [{env: X}], url: {env: Y}}",
            "channels.chat.apprise.url: Extra inputs",
        ),
    ],
)
def test_apprise_channel_errors_name_their_field(entry: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"channels:\n  chat:\n    {entry}\n", "c.yaml")
    assert where in str(err.value)


def test_apprise_url_secrets_are_checked() -> None:
    config = parse_config(
        "channels:\n  chat:\n    type: apprise\n    urls: [{env: HERALD_TEST_SLACK}, {env: X, optional: true}]\n"
    )
    assert resolve_secrets_check(config, {}) == [
        "channels.chat.urls.0: secret environment variable HERALD_TEST_SLACK is not set"
    ]
    assert resolve_secrets_check(config, {"HERALD_TEST_SLACK": "slack://a/b/c"}) == []
