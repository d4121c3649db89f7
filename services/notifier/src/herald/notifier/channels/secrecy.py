"""Keep channel URLs (secrets) out of the notifier's logs.

The HTTP libraries under the channels log each request's URL: httpx at INFO (`HTTP Request: POST
<url>`), urllib3 (under Apprise's `requests`) at DEBUG. Apprise logs parts of its URLs (hosts,
paths that hold tokens) at every level. None of them may reach the notifier's log: httpx, httpcore
and urllib3 log warnings and worse only, and Apprise's own logger keeps its lines to itself (its
results say which URL failed, and `channels.<id>` errors name URLs by their place).
"""

from __future__ import annotations

import logging

_QUIET = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "urllib3": logging.ERROR}


def keep_urls_out_of_logs() -> None:
    """Idempotent; applies to the whole process (the notifier's, or a test's)."""
    for name, level in _QUIET.items():
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
    apprise = logging.getLogger("apprise")
    apprise.propagate = False
    if not apprise.handlers:
        apprise.addHandler(logging.NullHandler())
