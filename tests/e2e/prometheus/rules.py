"""The shipped alerting rules (deploy/prometheus/rules.yaml), time-compressed for a test.

Every `for:` becomes `for_` (seconds instead of minutes) and every range selector `[Nm]`
becomes `[Ns]` (a minute of the real rule is a second of the test), so the expressions,
labels and annotations that production runs are the ones the test drives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

RANGE_IN_MINUTES = re.compile(r"\[(\d+)m\]")


def load_rules(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        raise ValueError(f"{path}: not a Prometheus rule file (no `groups` list)")
    return doc


def compress(doc: dict[str, Any], for_: str = "2s") -> dict[str, Any]:
    """A copy of the rule file with every `for:` set to `for_` and minutes of range as seconds."""
    groups = []
    for group in doc["groups"]:
        rules = []
        for rule in group.get("rules", []):
            rule = dict(rule)
            if "for" in rule:
                rule["for"] = for_
            rule["expr"] = RANGE_IN_MINUTES.sub(r"[\1s]", str(rule["expr"]))
            rules.append(rule)
        groups.append({**group, "rules": rules})
    return {**doc, "groups": groups}


def alerting_rule(doc: dict[str, Any], alertname: str) -> dict[str, Any]:
    """The rule of `alertname` (KeyError naming what exists when there is none)."""
    names = []
    for group in doc["groups"]:
        for rule in group.get("rules", []):
            if rule.get("alert") == alertname:
                return dict(rule)
            names.append(rule.get("alert") or rule.get("record"))
    raise KeyError(f"no alerting rule {alertname!r} in the rule file (it has {names})")
