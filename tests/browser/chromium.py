"""Debian's Chromium for Playwright: found on the PATH (never downloaded), launched offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

INSTALL_HINT = (
    "The browser tests drive Debian's Chromium through Playwright and cannot download one. "
    "Install it: `sudo apt-get install chromium` (or set HERALD_CHROMIUM to a Chromium binary)."
)

LAUNCH_ARGS: tuple[str, ...] = (
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    # Without these Chromium reaches for the internet (updates, sync, field trials).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)


def find_chromium() -> str | None:
    """The Chromium binary: HERALD_CHROMIUM, else `chromium` on the PATH, else /usr/bin/chromium."""
    configured = os.environ.get("HERALD_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    found = shutil.which("chromium")
    if found:
        return found
    fallback = Path("/usr/bin/chromium")
    return str(fallback) if fallback.exists() else None
