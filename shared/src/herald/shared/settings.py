"""Process settings from the environment (where the infrastructure is, ports, config path)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from herald.shared.streams import StreamLimits

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_CONFIG = "examples/herald.yaml"


KEEP_ALIVE_SECONDS = 75
"""How long an idle HTTP keep-alive connection stays open (uvicorn's default is 5 s). Longer
than the idle timeout of common load balancers and proxies (60 s), so a connection is never
closed by us just as the client reuses it (a dropped request: a 502 at the proxy, or a
RemoteProtocolError at a client)."""


class SettingsError(ValueError):
    """An environment variable has a value we cannot use; the message names it."""


RedisMode = Literal["server", "sentinel", "cluster"]

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
"""URL scheme -> TLS, for the Sentinel and Redis Cluster forms of REDIS_URL."""


@dataclass(frozen=True)
class RedisTarget:
    """Where Redis is, read from REDIS_URL (docs/configuration.md):

    - `redis://[user:password@]host:port/db` (also `rediss://`, `unix://`): one server;
    - `redis+sentinel://[user:password@]host:26379,host2:26379/<master name>[/db]`: the master
      that these Sentinels name (followed through failovers); `?sentinel_password=` when the
      Sentinels want a password of their own;
    - `redis+cluster://[user:password@]host:6379,host2:6379`: a Redis Cluster, found from these
      seed nodes (db 0 only: Cluster has no other).

    `rediss+sentinel://` and `rediss+cluster://` speak TLS to the data nodes."""

    mode: RedisMode
    url: str = field(repr=False)
    """The URL as given (for `server`, what redis-py parses itself)."""
    nodes: tuple[tuple[str, int], ...] = ()
    """Sentinels (`sentinel`) or seed nodes (`cluster`)."""
    master: str = ""
    """The Sentinel master name (`sentinel`)."""
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        """Read a REDIS_URL; ValueError says what is wrong (never echoing a password)."""
        scheme, sep, _ = url.partition("://")
        if not sep:
            raise ValueError("REDIS_URL: expected a URL such as redis://host:6379/0")
        scheme = scheme.lower()
        if scheme not in SENTINEL_SCHEMES and scheme not in CLUSTER_SCHEMES:
            if scheme not in {"redis", "rediss", "unix"}:
                raise ValueError(
                    f"REDIS_URL: unknown scheme {scheme!r} (redis, rediss, unix, "
                    "redis+sentinel, rediss+sentinel, redis+cluster, rediss+cluster)"
                )
            return cls("server", url)
        parts = urlsplit(url)
        userinfo, _, hosts = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":")
        nodes = tuple(_host_port(h, scheme) for h in hosts.split(",") if h.strip())
        if not nodes:
            raise ValueError(f"REDIS_URL: {scheme}:// needs at least one host:port")
        path = [p for p in parts.path.split("/") if p]
        query = parse_qs(parts.query)
        user, secret = unquote(username) or None, unquote(password) or None
        if scheme in CLUSTER_SCHEMES:
            if path not in ([], ["0"]):
                raise ValueError("REDIS_URL: a Redis Cluster has database 0 only (no /<db>)")
            return cls(
                "cluster",
                url,
                nodes,
                username=user,
                password=secret,
                tls=CLUSTER_SCHEMES[scheme],
            )
        if not path or len(path) > 2:
            raise ValueError(
                f"REDIS_URL: {scheme}://host:26379,.../<master name>[/<db>] needs the master's name"
            )
        db = path[1] if len(path) == 2 else "0"
        if not db.isdigit():
            raise ValueError(f"REDIS_URL: database {db!r} is not a number")
        return cls(
            "sentinel",
            url,
            nodes,
            master=unquote(path[0]),
            db=int(db),
            username=user,
            password=secret,
            sentinel_password=next(iter(query.get("sentinel_password", [])), None),
            tls=SENTINEL_SCHEMES[scheme],
        )


def _host_port(text: str, scheme: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"REDIS_URL: {scheme}:// hosts are host:port, not {text.strip()!r}")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Settings:
    nats_url: str
    redis_url: str
    config_path: str
    host: str
    port: int
    log_level: str
    log_format: str
    stream_replicas: int = 1
    """Replicas of the JetStream streams Herald creates (HERALD_STREAM_REPLICAS, 1-5)."""
    internal_port: int = 0
    """The port of the probes and metrics (`/healthz`, `/readyz`, `/metrics`), apart from the
    public one so a NetworkPolicy can keep it to the kubelet and the monitoring namespace
    (HERALD_<SVC>_INTERNAL_PORT; the public port + 1000 by default; 0: the OS chooses)."""
    redis_wait_ms: int = 0
    """How long a step's writes may wait for a Redis replica to acknowledge them before the step
    fails and its messages are redelivered (HERALD_REDIS_WAIT_MS; `WAIT 1 <ms>`,
    herald.shared.replication); 0: not waited for. By default 1000 where REDIS_URL names a
    Sentinel or a Cluster (a replica may be promoted), 0 for one server."""

    @classmethod
    def from_env(
        cls,
        *,
        port_var: str,
        default_port: int,
        env: dict[str, str] | None = None,
        internal_port_var: str | None = None,
        default_internal_port: int | None = None,
    ) -> Settings:
        """Read the settings of one service; `port_var` names its port variable (its public
        port), `internal_port_var` the port of its probes and metrics (by default `port_var`
        with `_INTERNAL_PORT` for `_PORT`, and the default public port + 1000)."""
        e = os.environ if env is None else env
        port = read_port(e, port_var, default_port)
        internal_var = internal_port_var or internal_port_name(port_var)
        internal_port = read_port(
            e,
            internal_var,
            default_port + INTERNAL_PORT_OFFSET
            if default_internal_port is None
            else default_internal_port,
        )
        if port == internal_port and port != 0:
            raise SettingsError(
                f"{internal_var}={internal_port} is also {port_var}: the probes and metrics "
                "need a port of their own"
            )
        log_format = (e.get("HERALD_LOG_FORMAT") or "json").lower()
        if log_format not in {"json", "text"}:
            raise SettingsError(f"HERALD_LOG_FORMAT={log_format!r}: expected 'json' or 'text'")
        log_level = (e.get("HERALD_LOG_LEVEL") or "INFO").upper()
        if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise SettingsError(
                f"HERALD_LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        raw_replicas = e.get("HERALD_STREAM_REPLICAS") or "1"
        if not raw_replicas.isdigit() or not 1 <= int(raw_replicas) <= 5:
            raise SettingsError(
                f"HERALD_STREAM_REPLICAS={raw_replicas!r}: expected 1 to 5 (JetStream's limit)"
            )
        try:
            StreamLimits.from_env(e)  # read again where streams are created; checked at start
            target = RedisTarget.parse(e.get("REDIS_URL") or DEFAULT_REDIS_URL)  # open_redis's
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        redis_wait_ms = read_wait_ms(e, target)
        return cls(
            nats_url=e.get("NATS_URL") or DEFAULT_NATS_URL,
            redis_url=e.get("REDIS_URL") or DEFAULT_REDIS_URL,
            config_path=e.get("HERALD_CONFIG") or DEFAULT_CONFIG,
            host=e.get("HERALD_HOST") or "127.0.0.1",
            port=port,
            log_level=log_level,
            log_format=log_format,
            stream_replicas=int(raw_replicas),
            internal_port=internal_port,
            redis_wait_ms=redis_wait_ms,
        )


REDIS_WAIT_MS = 1000
"""HERALD_REDIS_WAIT_MS's default where REDIS_URL names a Sentinel or a Cluster: a replica that
keeps up acknowledges in milliseconds; one a second behind is failing."""

MAX_REDIS_WAIT_MS = 4000
"""Below the Redis client's 5 s command timeout (runtime.REDIS_SOCKET_TIMEOUT_SECONDS), which a
WAIT must not reach."""


def read_wait_ms(env: Mapping[str, str], target: RedisTarget) -> int:
    """HERALD_REDIS_WAIT_MS: 0 (off) to MAX_REDIS_WAIT_MS; by default on for Sentinel and
    Cluster, off for one server (no replica to promote)."""
    raw = env.get("HERALD_REDIS_WAIT_MS") or ""
    if not raw:
        return 0 if target.mode == "server" else REDIS_WAIT_MS
    if not raw.isdigit() or int(raw) > MAX_REDIS_WAIT_MS:
        raise SettingsError(
            f"HERALD_REDIS_WAIT_MS={raw!r}: expected 0 (off) to {MAX_REDIS_WAIT_MS} milliseconds"
        )
    return int(raw)


INTERNAL_PORT_OFFSET = 1000
"""A service's internal port is its public port + 1000 by default (8081 -> 9081)."""


def internal_port_name(port_var: str) -> str:
    """`HERALD_INGEST_PORT` -> `HERALD_INGEST_INTERNAL_PORT`."""
    stem = port_var.removesuffix("_PORT")
    return f"{stem}_INTERNAL_PORT"


def read_port(env: Mapping[str, str], var: str, default: int) -> int:
    raw = env.get(var) or str(default)
    try:
        port = int(raw)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise SettingsError(f"{var}={raw!r} is not a TCP port (0-65535)") from None
    return port
