"""Herald configured for the shipped Alertmanager routing (deploy/alertmanager/alertmanager.yml).

examples/herald.yaml with the two integrations that routing sends to: `status-page` (public)
and `internal` (`public: false`), both behind the same bearer credentials. The e2e tests with
a real Alertmanager (test_prometheus.py, test_alert_lifecycle.py) run Herald this way.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from herald.shared.config import HeraldConfig, parse_config

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "herald.yaml"
ROUTING = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

STATUS_PAGE_TOKEN = "e2e-status-page-token"
INTERNAL_TOKEN = "e2e-internal-token"
BEARER = "e2e-bearer-credentials"
TOKENS = {"STATUS_PAGE": STATUS_PAGE_TOKEN, "INTERNAL": INTERNAL_TOKEN}
"""Placeholder name in the shipped routing (REPLACE_WITH_<NAME>_TOKEN) -> the test's token."""


def write_config(directory: Path) -> tuple[Path, HeraldConfig]:
    """examples/herald.yaml plus the two integrations, written under `directory`."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    auth = {"type": "Bearer", "credentials": {"env": "HERALD_E2E_BEARER"}}
    doc["integrations"] = {
        "status-page": {"token": {"env": "HERALD_E2E_STATUS_PAGE_TOKEN"}, "authorization": auth},
        "internal": {
            "token": {"env": "HERALD_E2E_INTERNAL_TOKEN"},
            "authorization": auth,
            "public": False,
        },
    }
    text = yaml.safe_dump(doc, sort_keys=False)
    path = directory / "herald.yaml"
    path.write_text(text, encoding="utf-8")
    return path, parse_config(text, str(path))


def secrets_env(pager_url: str) -> dict[str, str]:
    """The environment the written config reads its secrets from."""
    return {
        "HERALD_E2E_STATUS_PAGE_TOKEN": STATUS_PAGE_TOKEN,
        "HERALD_E2E_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "HERALD_E2E_BEARER": BEARER,
        "HERALD_DEMO_PAGER_URL": pager_url,
    }
