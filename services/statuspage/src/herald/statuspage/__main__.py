"""`python -m herald.statuspage` / `herald-statuspage`: serve the public status page."""

from __future__ import annotations

import sys

import uvicorn

from herald.shared.config import ConfigError, load_config
from herald.shared.logs import configure_logging
from herald.shared.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError
from herald.statuspage.app import Server, create_app
from herald.statuspage.board import Board

PORT_VAR = "HERALD_STATUSPAGE_PORT"
DEFAULT_PORT = 8080


def main() -> None:
    try:
        settings = Settings.from_env(port_var=PORT_VAR, default_port=DEFAULT_PORT)
        configure_logging("statuspage", settings.log_level, settings.log_format)
        config = load_config(settings.config_path)
    except (ConfigError, SettingsError) as exc:
        print(f"herald-statuspage: {exc}", file=sys.stderr)
        sys.exit(2)
    app = create_app(config, settings)
    board: Board = app.state.board
    server = Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            proxy_headers=True,
            timeout_graceful_shutdown=10,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        ),
        board,
    )
    server.run()


if __name__ == "__main__":
    main()
