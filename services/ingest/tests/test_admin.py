"""The admin API's translation: tokens, validation, idempotency keys, 503 when not stored."""

from __future__ import annotations

import pytest

from herald.ingest.app import create_app
from herald.shared.config import parse_config
from herald.shared.events import Command, OpenIncident, ScheduleMaintenance, VerifyMaintenance
from herald.shared.settings import Settings
from tests.asgi import in_process

from .memory_publisher import MemoryPublisher

CONFIG = parse_config(
    "services:\n  payments-api: {name: Payments}\n  search: {name: Search}\n"
    "admin:\n  tokens:\n    alice: {env: ALICE_TOKEN}\n"
)
SETTINGS = Settings.from_env(port_var="HERALD_INGEST_PORT", default_port=8081, env={})


class Commands:
    def __init__(self, fail: bool = False) -> None:
        self.stored: list[Command] = []
        self.fail = fail

    async def publish(self, command: Command) -> None:
        if self.fail:
            raise ConnectionError("NATS is down")
        self.stored.append(command)


def app(sink: Commands, **env: str):  # type: ignore[no-untyped-def]
    return create_app(
        CONFIG,
        SETTINGS,
        publisher=MemoryPublisher(),
        commands=sink,  # type: ignore[arg-type]
        # No correlator there (never the default port: another one may run on this machine).
        environ={"ALICE_TOKEN": "a-secret", "HERALD_CORRELATOR_URL": "http://127.0.0.1:9", **env},
    )


AUTH = {"Authorization": "Bearer a-secret"}


async def test_a_command_records_its_token_and_a_retry_is_the_same_command() -> None:
    sink = Commands()
    async with in_process(app(sink)) as http:
        body = {"service": "payments-api", "title": "Checkout errors"}
        first = await http.post(
            "/api/v1/incidents", json=body, headers={**AUTH, "Idempotency-Key": "k1"}
        )
        again = await http.post(
            "/api/v1/incidents", json=body, headers={**AUTH, "Idempotency-Key": "k1"}
        )
    assert first.status_code == 202
    assert first.json()["command_id"] == again.json()["command_id"]
    command = sink.stored[0]
    assert isinstance(command, OpenIncident)
    assert command.actor == "alice"
    assert command.service == "payments-api"


async def test_an_internal_incident_is_never_public_and_a_default_one_is() -> None:
    """`herald incident open --internal`: it pages, and the page never shows it."""
    sink = Commands()
    async with in_process(app(sink)) as http:
        for internal in (True, False):
            body = {"service": "search", "title": "Disk filling", "internal": internal}
            r = await http.post("/api/v1/incidents", json=body, headers=AUTH)
            assert r.status_code == 202, r.text
    assert [(c.kind, getattr(c, "public", None)) for c in sink.stored] == [
        ("command.incident.open", False),
        ("command.incident.open", True),
    ]


async def test_the_demo_token_is_named_demo() -> None:
    sink = Commands()
    async with in_process(app(sink, HERALD_DEMO_ADMIN_TOKEN="demo-admin-token")) as http:
        r = await http.post(
            "/api/v1/maintenances",
            headers={"Authorization": "Bearer demo-admin-token"},
            json={
                "services": ["payments-api", "search"],
                "title": "DB",
                "starts_at": "2099-01-01T00:00:00Z",
                "ends_at": "2099-01-01T01:00:00Z",
            },
        )
    assert r.status_code == 202, r.text
    (command,) = sink.stored
    assert isinstance(command, ScheduleMaintenance)
    assert command.actor == "demo"
    assert command.services == ("payments-api", "search")


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "says"),
    [
        ("/api/v1/incidents", {"service": "payments-api", "title": "x"}, {}, 401, "token"),
        ("/api/v1/incidents", {"service": "nope", "title": "x"}, AUTH, 404, "unknown service"),
        ("/api/v1/incidents", {"service": "payments-api"}, AUTH, 400, "title"),
        ("/api/v1/incidents/payments-api-1/updates", {}, AUTH, 400, "give a status"),
        (
            "/api/v1/maintenances",
            {
                "services": ["search"],
                "title": "x",
                "starts_at": "2099-01-01T01:00:00Z",
                "ends_at": "2099-01-01T00:00:00Z",
            },
            AUTH,
            400,
            "after",
        ),
    ],
)
async def test_bad_requests_say_what_and_why(
    path: str, body: dict, headers: dict, status: int, says: str
) -> None:
    sink = Commands()
    async with in_process(app(sink)) as http:
        r = await http.post(path, json=body, headers=headers)
    assert r.status_code == status
    assert says in r.text
    assert sink.stored == []


async def test_503_when_jetstream_did_not_store_it() -> None:
    async with in_process(app(Commands(fail=True))) as http:
        r = await http.put(
            "/api/v1/components/search/override", headers=AUTH, json={"status": "major_outage"}
        )
    assert r.status_code == 503
    assert "Idempotency-Key" in r.json()["hint"]


TEMPLATED = parse_config(
    "services:\n  payments-api: {name: Payments}\n"
    "admin:\n  tokens:\n    alice: {env: ALICE_TOKEN}\n"
    "incident_templates:\n  found: {status: identified, body: 'Cause found for {{ service }}.'}\n"
)


async def test_a_template_names_its_status_and_an_unknown_one_is_a_clear_422() -> None:
    sink = Commands()
    templated = create_app(
        TEMPLATED,
        SETTINGS,
        publisher=MemoryPublisher(),
        commands=sink,  # type: ignore[arg-type]
        environ={"ALICE_TOKEN": "a-secret"},
    )
    async with in_process(templated) as http:
        ok = await http.post(
            "/api/v1/incidents",
            json={"service": "payments-api", "title": "Checkout", "template": "found"},
            headers=AUTH,
        )
        unknown = await http.post(
            "/api/v1/incidents/payments-api-1/updates", json={"template": "nope"}, headers=AUTH
        )
        both = await http.post(
            "/api/v1/incidents",
            json={"service": "payments-api", "title": "T", "template": "found", "body": "x"},
            headers=AUTH,
        )
    assert ok.status_code == 202
    [command] = sink.stored
    assert isinstance(command, OpenIncident)
    assert command.template == "found"
    assert command.status == "identified"
    assert unknown.status_code == 422
    assert "found" in unknown.json()["hint"]
    assert both.status_code == 400  # a body or a template, not both


async def test_an_open_is_stored_when_the_correlator_cannot_say_whether_one_is_open() -> None:
    """The 409 for a service with an open incident comes from asking the correlator
    (tests/test_control.py); when it does not answer, the command is stored all the same (the
    correlator applies the rule, its audit says so): never lost for a read that failed."""
    sink = Commands()
    async with in_process(app(sink)) as http:
        r = await http.post(
            "/api/v1/incidents", json={"service": "search", "title": "Slow"}, headers=AUTH
        )
    assert r.status_code == 202, r.text
    (command,) = sink.stored
    assert isinstance(command, OpenIncident)


async def test_changes_are_stored_when_the_correlator_cannot_say_whether_they_apply() -> None:
    """An update, resolve or cancel is refused up front only on the correlator's word
    (tests/test_control.py); without it the command is stored and the correlator decides."""
    sink = Commands()
    async with in_process(app(sink)) as http:
        update = await http.post(
            "/api/v1/incidents/search-3/updates", json={"body": "x"}, headers=AUTH
        )
        resolve = await http.post("/api/v1/incidents/search-3/resolve", json={}, headers=AUTH)
        cancel = await http.post("/api/v1/maintenances/mnt-1/cancel", headers=AUTH)
    assert [r.status_code for r in (update, resolve, cancel)] == [202, 202, 202], cancel.text
    assert [c.kind for c in sink.stored] == [
        "command.incident.update",
        "command.incident.resolve",
        "command.maintenance.cancel",
    ]


async def test_an_alert_resolve_is_503_when_the_correlator_cannot_say_it_fires() -> None:
    """Unlike the other commands, an alert's resolve is not stored blind: an unknown
    fingerprint is a command no service takes, that nothing would ever refuse (the 404 from
    the correlator's word: tests/test_control.py)."""
    sink = Commands()
    async with in_process(app(sink)) as http:
        r = await http.post("/api/v1/alerts/fp-1/resolve", json={}, headers=AUTH)
    assert r.status_code == 503, r.text
    assert "fp-1" in r.json()["detail"]
    assert "retry" in r.json()["hint"]
    assert sink.stored == []


async def test_a_verify_carries_its_body_and_is_idempotent() -> None:
    sink = Commands()
    async with in_process(app(sink)) as http:
        headers = {**AUTH, "Idempotency-Key": "v1"}
        body = {"body": "Upgrade done; checking the replicas."}
        first = await http.post("/api/v1/maintenances/mnt-1/verify", json=body, headers=headers)
        again = await http.post("/api/v1/maintenances/mnt-1/verify", json=body, headers=headers)
        bare = await http.post("/api/v1/maintenances/mnt-1/verify", headers=AUTH)
        bad = await http.post("/api/v1/maintenances/mnt-1/verify", json={"x": 1}, headers=AUTH)
    assert [r.status_code for r in (first, again, bare, bad)] == [202, 202, 202, 400]
    assert first.json()["kind"] == "command.maintenance.verify"
    assert first.json()["command_id"] == again.json()["command_id"]
    command = sink.stored[0]
    assert isinstance(command, VerifyMaintenance)
    assert (command.maintenance_id, command.body, command.actor) == (
        "mnt-1",
        "Upgrade done; checking the replicas.",
        "alice",
    )
    assert command.service is None  # every service that holds the window applies it
    assert isinstance(sink.stored[2], VerifyMaintenance)
    assert sink.stored[2].body == ""
