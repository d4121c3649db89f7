"""The shipped Alertmanager routing (deploy/alertmanager/alertmanager.yml), adapted for a test.

Routes, matchers, inhibitions and receivers stay as shipped; only what points outside the test
changes: every `group_wait`/`group_interval` becomes 1s, Herald webhook URLs
(`.../hooks/inbound/REPLACE_WITH_<NAME>_TOKEN`) point at the relay with the test's token for
<NAME>, other webhooks (the heartbeat) point at the relay's local sink, and every secret file
(`credentials_file`, `password_file`, ...) is written under the test's own directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

HERALD_HOOK = re.compile(r"/hooks/inbound/REPLACE_WITH_([A-Z0-9_]+)_TOKEN$")
TIMINGS = ("group_wait", "group_interval")


def load_routing(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "route" not in doc or "receivers" not in doc:
        raise ValueError(f"{path}: not an Alertmanager configuration (no route/receivers)")
    return doc


def _fast(route: dict[str, Any], root: bool, timing: str) -> dict[str, Any]:
    route = dict(route)
    for key in TIMINGS:
        if root or key in route:
            route[key] = timing
    if "routes" in route:
        route["routes"] = [_fast(r, False, timing) for r in route["routes"]]
    return route


def _secret_files(config: dict[str, Any], secrets_dir: Path, credentials: str) -> dict[str, Any]:
    """A copy of an http_config with every `*_file` rewritten to a file we wrote."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out[key] = _secret_files(value, secrets_dir, credentials)
        elif key.endswith("_file") and isinstance(value, str):
            local = secrets_dir / Path(value).name
            local.write_text(credentials + "\n", encoding="utf-8")
            out[key] = str(local)
        else:
            out[key] = value
    return out


def adapt(
    doc: dict[str, Any],
    *,
    relay_url: str,
    tokens: Mapping[str, str],
    secrets_dir: Path,
    credentials: str,
    timing: str = "1s",
) -> dict[str, Any]:
    """The configuration to run in the test (see the module docstring).

    `tokens` maps a placeholder name (`STATUS_PAGE` for REPLACE_WITH_STATUS_PAGE_TOKEN) to the
    token of the Herald integration it stands for; `credentials` is written into every secret
    file (the bearer Herald expects)."""
    secrets_dir.mkdir(parents=True, exist_ok=True)
    receivers = []
    for receiver in doc["receivers"]:
        receiver = dict(receiver)
        unknown = [k for k in receiver if k.endswith("_configs") and k != "webhook_configs"]
        if unknown:
            raise ValueError(
                f"receiver {receiver['name']!r} uses {unknown}: the e2e test only knows webhooks"
            )
        hooks = []
        for hook in receiver.get("webhook_configs", []):
            hook = dict(hook)
            url = str(hook.get("url", ""))
            found = HERALD_HOOK.search(url)
            if found is not None:
                name = found.group(1)
                if name not in tokens:
                    raise ValueError(
                        f"receiver {receiver['name']!r}: placeholder REPLACE_WITH_{name}_TOKEN "
                        f"is not one the test knows ({sorted(tokens)})"
                    )
                hook["url"] = f"{relay_url}/hooks/inbound/{tokens[name]}"
            else:
                hook["url"] = f"{relay_url}/sink/{receiver['name']}"
            hook.pop("url_file", None)
            if "http_config" in hook:
                hook["http_config"] = _secret_files(hook["http_config"], secrets_dir, credentials)
            hooks.append(hook)
        if hooks:
            receiver["webhook_configs"] = hooks
        receivers.append(receiver)
    return {**doc, "route": _fast(doc["route"], True, timing), "receivers": receivers}


def dump(doc: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
