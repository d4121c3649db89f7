"""`python -m herald.statuspage` / `herald-statuspage`: serve the public status page."""

from __future__ import annotations

import resource
import sys

import uvicorn

from herald.shared.config import ConfigError, load_config
from herald.shared.listeners import serve
from herald.shared.logs import configure_logging
from herald.shared.settings import KEEP_ALIVE_SECONDS, Settings, SettingsError
from herald.statuspage.app import Server, create_app
from herald.statuspage.board import Board
from herald.statuspage.options import StatuspageOptions

PORT_VAR = "HERALD_STATUSPAGE_PORT"
DEFAULT_PORT = 8080


def main() -> None:
    try:
        settings = Settings.from_env(port_var=PORT_VAR, default_port=DEFAULT_PORT)
        configure_logging("statuspage", settings.log_level, settings.log_format)
        config = load_config(settings.config_path)
        options = StatuspageOptions.from_env()
    except (ConfigError, SettingsError) as exc:
        print(f"herald-statuspage: {exc}", file=sys.stderr)
        sys.exit(2)
    raise_open_files()
    app = create_app(
        config,
        settings,
        max_sse_clients=options.max_sse_clients,
        poll_seconds=options.poll_seconds,
    )
    board: Board = app.state.board

    def server(config: uvicorn.Config) -> Server:
        return Server(config, board)

    # the page, API, events, feeds, badges and sign-up on the public port; probes and
    # metrics on the internal one
    serve(
        app,
        settings,
        server=server,
        proxy_headers=True,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def raise_open_files() -> None:
    """Every live browser is an open socket: allow as many as the hard limit does (often 1024
    soft against a much higher hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    main()
