"""Process settings from the environment (where the infrastructure is, ports, config path)."""

from __future__ import annotations

import os
from dataclasses import dataclass

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

    @classmethod
    def from_env(
        cls, *, port_var: str, default_port: int, env: dict[str, str] | None = None
    ) -> Settings:
        """Read the settings of one service; `port_var` names its port variable."""
        e = os.environ if env is None else env
        raw_port = e.get(port_var) or str(default_port)
        try:
            port = int(raw_port)
            if not 0 <= port <= 65535:
                raise ValueError
        except ValueError:
            raise SettingsError(f"{port_var}={raw_port!r} is not a TCP port (0-65535)") from None
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
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        return cls(
            nats_url=e.get("NATS_URL") or DEFAULT_NATS_URL,
            redis_url=e.get("REDIS_URL") or DEFAULT_REDIS_URL,
            config_path=e.get("HERALD_CONFIG") or DEFAULT_CONFIG,
            host=e.get("HERALD_HOST") or "127.0.0.1",
            port=port,
            log_level=log_level,
            log_format=log_format,
            stream_replicas=int(raw_replicas),
        )
