"""`python -m herald.notifier` / `herald-notifier`: run the notifier (port 8083 by default)."""

from __future__ import annotations

import sys

from herald.notifier.app import create_app
from herald.shared.config import ConfigError, load_config
from herald.shared.listeners import serve
from herald.shared.logs import configure_logging
from herald.shared.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError


def main() -> None:
    try:
        settings = Settings.from_env(port_var="HERALD_NOTIFIER_PORT", default_port=8083)
    except SettingsError as exc:
        print(f"herald-notifier: {exc}", file=sys.stderr)
        sys.exit(2)
    configure_logging("notifier", settings.log_level, settings.log_format)
    try:
        config = load_config(settings.config_path)
        app = create_app(config, settings)
    except ConfigError as exc:
        print(f"herald-notifier: {exc}", file=sys.stderr)
        sys.exit(2)
    # ack links and the API on the public port, probes and metrics on the internal one
    serve(
        app,
        settings,
        timeout_graceful_shutdown=35,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
