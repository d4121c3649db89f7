from __future__ import annotations

import pytest

from herald.shared.settings import RedisTarget, Settings, SettingsError


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
        ({"HERALD_REDIS_WAIT_MS": "-1"}, "HERALD_REDIS_WAIT_MS"),
        ({"HERALD_REDIS_WAIT_MS": "5000"}, "HERALD_REDIS_WAIT_MS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(port_var="P", default_port=1, env=env)


@pytest.mark.parametrize(
    ("env", "wait_ms"),
    [
        ({}, 0),  # one server: no replica to be promoted
        ({"REDIS_URL": "redis+sentinel://s1:26379,s2:26379/herald"}, 1000),
        ({"REDIS_URL": "redis+cluster://n1:6379,n2:6379"}, 1000),
        ({"REDIS_URL": "redis+cluster://n1:6379", "HERALD_REDIS_WAIT_MS": "0"}, 0),
        ({"REDIS_URL": "redis://master:6379/0", "HERALD_REDIS_WAIT_MS": "250"}, 250),
    ],
)
def test_steps_wait_for_a_replica_where_one_may_be_promoted(
    env: dict[str, str], wait_ms: int
) -> None:
    assert Settings.from_env(port_var="P", default_port=1, env=env).redis_wait_ms == wait_ms


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


def test_redis_url_forms() -> None:
    assert RedisTarget.parse("redis://r:6379/2").mode == "server"
    assert RedisTarget.parse("unix:///run/redis.sock").mode == "server"
    s = RedisTarget.parse("redis+sentinel://:p%40ss@s1:26379,s2:26380/mymaster/3")
    assert (s.mode, s.nodes, s.master, s.db, s.password, s.tls) == (
        "sentinel",
        (("s1", 26379), ("s2", 26380)),
        "mymaster",
        3,
        "p@ss",
        False,
    )
    s = RedisTarget.parse("rediss+sentinel://s1:26379/m?sentinel_password=x")
    assert (s.db, s.sentinel_password, s.tls, s.password) == (0, "x", True, None)
    c = RedisTarget.parse("redis+cluster://u:pw@c1:7000,c2:7001")
    assert (c.mode, c.nodes, c.username, c.password) == (
        "cluster",
        (("c1", 7000), ("c2", 7001)),
        "u",
        "pw",
    )
    assert "pw" not in repr(c)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://r:6379", "unknown scheme"),
        ("r:6379", "expected a URL"),
        ("redis+sentinel://s1:26379", "master's name"),
        ("redis+sentinel://s1:26379/m/x", "not a number"),
        ("redis+cluster://c1:7000/2", "database 0 only"),
        ("redis+cluster://c1", "host:port"),
        ("redis+cluster://", "at least one"),
    ],
)
def test_bad_redis_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        Settings.from_env(port_var="P", default_port=1, env={"REDIS_URL": url})
