"""Message templates: defaults per channel kind, every variable, the sandbox (pure)."""

from __future__ import annotations

from herald.notifier.message_template import check_template, render
from herald.notifier.notice import Notice, build_notice
from herald.shared.config import MessageTemplate, parse_config
from herald.shared.events import AlertState, AlertSummary
from services.notifier.tests.events import T0, opened

CONFIG = parse_config(
    "page: {url: 'https://status.example.com'}\nservices: {payments-api: {name: Payments API}}"
)


def notice() -> Notice:
    n = build_notice(opened(), CONFIG)
    assert n is not None
    alert = AlertSummary(
        fingerprint="f1",
        alertname="CardFailures",
        severity="critical",
        status=AlertState.FIRING,
        starts_at=T0,
        summary="Card payments failing",
        generator_url="http://prometheus:9090/graph?g0.expr=up",
        runbook_url="https://runbooks.example.com/cards",
    )
    inc = n.incident.model_copy(update={"alerts": (alert,)})
    return n.model_copy(update={"incident": inc, "ack_url": "https://h.example.com/ack/t"})


def test_the_default_email_has_every_field_a_responder_needs() -> None:
    msg = render("email", notice())
    assert msg.title == "[OPENED] Payments API: Card payments failing (critical)"
    for line in (
        "5% of card payments fail",
        "Severity: critical. Status: investigating, impact: major.",
        "Started: 2024-05-01T12:00:00Z",
        "Acknowledge: https://h.example.com/ack/t",
        "Runbook: https://runbooks.example.com/cards",
        "Source: http://prometheus:9090/graph?g0.expr=up",
        "Status page: https://status.example.com",
    ):
        assert line in msg.body.splitlines()


def test_a_channel_template_replaces_only_what_it_sets() -> None:
    msg = render("apprise", notice(), MessageTemplate(title="{{ severity | upper }} {{ title }}"))
    assert msg.title == "CRITICAL Card payments failing"
    assert "Acknowledge: https://h.example.com/ack/t" in msg.body


def test_untrusted_text_stays_text_and_the_sandbox_holds() -> None:
    n = notice()
    evil = n.model_copy(
        update={"incident": n.incident.model_copy(update={"body": "{{ 7 * 7 }} <b>x</b>"})}
    )
    assert "{{ 7 * 7 }} <b>x</b>" in render("email", evil).body  # not rendered, not escaped
    # reaching Python internals from a template is refused: the default is used instead
    sneaky = MessageTemplate(title="{{ ''.__class__.__mro__ }}")
    assert render("webhook", n, sneaky).title == "[OPENED] Payments API: Card payments failing"


def test_syntax_errors_are_found_at_start() -> None:
    assert check_template("{{ title") is not None
    assert check_template("{{ title }}") is None
