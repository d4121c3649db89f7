from __future__ import annotations

import pytest

from herald.shared.settings import Settings, SettingsError


def test_defaults_and_overrides() -> None:
    s = Settings.from_env(port_var="P", default_port=8081, env={})
    assert (s.port, s.nats_url, s.config_path) == (
        8081,
        "nats://127.0.0.1:4222",
        "examples/herald.yaml",
    )
    s = Settings.from_env(
        port_var="P", default_port=8081, env={"P": "9000", "NATS_URL": "nats://n:1"}
    )
    assert (s.port, s.nats_url) == (9000, "nats://n:1")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"P": "http"}, "P="),
        ({"HERALD_LOG_FORMAT": "xml"}, "HERALD_LOG_FORMAT"),
        ({"HERALD_STREAM_REPLICAS": "7"}, "HERALD_STREAM_REPLICAS"),
        ({"HERALD_LOG_LEVEL": "bogus"}, "HERALD_LOG_LEVEL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(port_var="P", default_port=1, env=env)


def test_stream_replicas() -> None:
    assert Settings.from_env(port_var="P", default_port=1, env={}).stream_replicas == 1
    env = {"HERALD_STREAM_REPLICAS": "3"}
    assert Settings.from_env(port_var="P", default_port=1, env=env).stream_replicas == 3


def test_the_internal_port_is_its_own() -> None:
    env: dict[str, str] = {}
    s = Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env=env)
    assert (s.port, s.internal_port) == (8081, 9081)
    env = {"HERALD_INGEST_PORT": "7000", "HERALD_INGEST_INTERNAL_PORT": "7001"}
    s = Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env=env)
    assert (s.port, s.internal_port) == (7000, 7001)
    env = {"HERALD_INGEST_INTERNAL_PORT": "8081"}
    with pytest.raises(SettingsError, match="HERALD_INGEST_INTERNAL_PORT"):
        Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env=env)
    env = {"HERALD_INGEST_INTERNAL_PORT": "probe"}
    with pytest.raises(SettingsError, match="HERALD_INGEST_INTERNAL_PORT"):
        Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env=env)
