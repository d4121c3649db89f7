"""schemathesis against the admin API's document (docs/admin-openapi.yaml): every operation,
with generated valid and invalid inputs, answers as documented and never 5xx but 503."""

from __future__ import annotations

from pathlib import Path

import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from herald.ingest import admin
from herald.ingest.app import create_app
from herald.shared.config import parse_config
from herald.shared.events import Command
from herald.shared.settings import Settings

from .memory_publisher import MemoryPublisher

OPENAPI = Path(__file__).parents[3] / "docs" / "admin-openapi.yaml"
CONFIG = parse_config(
    "integrations:\n  am:\n    token: tok-am\nservices:\n  payments-api: {name: Payments}\n"
    "admin:\n  tokens:\n    ops: admin-tok\n"
)


class Commands:
    def __init__(self) -> None:
        self.stored: list[Command] = []

    async def publish(self, command: Command) -> None:
        self.stored.append(command)


SINK = Commands()
APP = create_app(
    CONFIG,
    Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env={}),
    publisher=MemoryPublisher(),  # type: ignore[arg-type]
    commands=SINK,
    environ={"HERALD_CORRELATOR_URL": "http://127.0.0.1:9"},  # reads: 503, as documented
)

schema = schemathesis.openapi.from_path(str(OPENAPI))
schema.app = APP

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_admin_api_answers_as_its_document_says(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": "Bearer admin-tok"})
    case.validate_response(response, checks=CHECKS)
    assert response.status_code < 500 or response.status_code == 503


BODIES = {
    ("/api/v1/incidents", "post"): admin.OpenBody,
    ("/api/v1/incidents/{incident_id}/updates", "post"): admin.UpdateBody,
    ("/api/v1/incidents/{incident_id}/resolve", "post"): admin.ResolveBody,
    ("/api/v1/incidents/{incident_id}/postmortem", "post"): admin.PostmortemBody,
    ("/api/v1/components/{service}/override", "put"): admin.OverrideBody,
    ("/api/v1/maintenances", "post"): admin.MaintenanceBody,
    ("/api/v1/maintenances/{maintenance_id}/verify", "post"): admin.VerifyBody,
    ("/api/v1/alerts/{fingerprint}/resolve", "post"): admin.AlertResolveBody,
}


def test_every_body_field_the_api_takes_is_documented() -> None:
    """schemathesis sends only what the document declares (additionalProperties: false), so a
    field it lacks, and the answers that field brings (a template's 422), would go unchecked."""
    doc = yaml.safe_load(OPENAPI.read_text())
    for (path, method), model in BODIES.items():
        operation = doc["paths"][path][method]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == set(model.model_fields), path
        if "template" in model.model_fields:
            assert "422" in operation["responses"], path
