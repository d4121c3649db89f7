"""schemathesis against ingest's published OpenAPI document (docs/ingest-openapi.yaml): every
operation, with generated valid and invalid inputs, answers as documented and never 5xx."""

from __future__ import annotations

import zlib
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from herald.ingest.app import create_app
from herald.ingest.options import IngestOptions
from herald.shared.config import parse_config
from herald.shared.settings import Settings

from .memory_publisher import MemoryPublisher

OPENAPI = Path(__file__).parents[3] / "docs" / "ingest-openapi.yaml"
CONFIG = parse_config("integrations:\n  am:\n    token: tok-am\n")
APP = create_app(
    CONFIG,
    Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env={}),
    IngestOptions(max_body=256 * 1024),
    publisher=MemoryPublisher(),  # type: ignore[arg-type]
)

schema = schemathesis.openapi.from_path(str(OPENAPI))
schema.app = APP

SEEN: dict[str, set[int]] = {}
"""Status codes answered, by operation (read by the last test)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_ingest_answers_as_its_openapi_document_says(case: schemathesis.Case) -> None:
    # Most cases with a valid token, so the bodies reach validation and publishing.
    valid_token = zlib.crc32(repr(case.body).encode()) % 4 != 0
    if valid_token and case.path_parameters and "token" in case.path_parameters:
        case.path_parameters["token"] = "tok-am"
    if valid_token and isinstance(case.body, dict) and "routing_key" in case.body:
        case.body["routing_key"] = "tok-am"
    response = case.call_and_validate(checks=CHECKS)
    SEEN.setdefault(case.operation.label, set()).add(response.status_code)


def test_generated_requests_reached_every_outcome() -> None:
    """The run above stored alerts and refused bad ones (so it tested more than 401s)."""
    assert {200, 401, 422} <= SEEN["POST /hooks/inbound/{token}"]
    assert {202, 400} <= SEEN["POST /v2/enqueue"]
