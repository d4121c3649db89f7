"""`python -m herald.ingest` / `herald-ingest`: run the webhook receiver."""

from __future__ import annotations

import sys

from herald.ingest.app import create_app
from herald.ingest.options import IngestOptions
from herald.shared.config import ConfigError, load_config
from herald.shared.listeners import serve
from herald.shared.logs import configure_logging
from herald.shared.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError

PORT_VAR = "HERALD_INGEST_PORT"
DEFAULT_PORT = 8081
EXIT_CONFIG = 2


def main() -> None:
    try:
        settings = Settings.from_env(port_var=PORT_VAR, default_port=DEFAULT_PORT)
        options = IngestOptions.from_env()
    except SettingsError as exc:
        print(f"herald-ingest: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    configure_logging("ingest", settings.log_level, settings.log_format)
    try:
        config = load_config(settings.config_path)
        app = create_app(config, settings, options)
    except ConfigError as exc:
        print(f"herald-ingest: {exc}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
    # webhooks and the admin API on the public port; probes and metrics on the internal one
    serve(
        app,
        settings,
        access_log=False,  # the path carries the integration token: never log it
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        server_header=False,
    )


if __name__ == "__main__":
    main()
