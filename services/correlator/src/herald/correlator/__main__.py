"""`python -m herald.correlator` / `herald-correlator`: run the correlator with uvicorn."""

from __future__ import annotations

import sys

from herald.correlator.app import create_app
from herald.shared.config import ConfigError, load_config
from herald.shared.listeners import serve
from herald.shared.logs import configure_logging
from herald.shared.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError

PORT_VAR = "HERALD_CORRELATOR_PORT"
DEFAULT_PORT = 8082


def main() -> None:
    try:
        settings = Settings.from_env(port_var=PORT_VAR, default_port=DEFAULT_PORT)
        config = load_config(settings.config_path)
    except (ConfigError, SettingsError) as exc:
        print(f"herald-correlator: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging("correlator", settings.log_level, settings.log_format)
    app = create_app(config, settings)
    # Our JSON logging; uvicorn runs the lifespan and handles SIGTERM. The API on the public
    # port, probes and metrics on the internal one.
    serve(
        app,
        settings,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
