"""Subscribers end to end, in process, against real servers: the status page takes sign-ups
(JSON API and form), the notifier sends the confirmation mail to a real SMTP server (aiosmtpd)
and the challenge to a real HTTP receiver, then tells both about a public incident (coalesced,
the resolve always), never about an internal one, with one-click unsubscribe and signed
Statuspage-format webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import nats
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from herald.correlator.app import create_app as correlator_app
from herald.notifier.app import create_app as notifier_app
from herald.notifier.subscribers.courier import VERIFIED, Courier, Told
from herald.notifier.subscribers.digest_store import DigestStore
from herald.notifier.subscribers.hook import Hooks
from herald.shared.config import HeraldConfig, parse_config
from herald.shared.events import (
    INCIDENT_EVENT_NAMES,
    ComponentStatus,
    Impact,
    Incident,
    IncidentEvent,
    IncidentOpened,
    IncidentResolved,
    IncidentStatus,
    IncidentUpdated,
    MaintenanceChanged,
    MaintenanceStatus,
    MaintenanceWindow,
    ScheduleMaintenance,
    TimelineEntry,
)
from herald.shared.runtime import Clock, utc_now
from herald.shared.subjects import command_subject, incident_subject
from herald.shared.subscriber_store import SubscriberStore
from herald.shared.subscription_links import unsubscribe_token, webhook_key
from herald.shared.subscriptions import Subscriber, SubscriptionRequested, subscriber_id
from herald.shared.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from herald.statuspage.app import create_app as statuspage_app
from services.notifier.tests.events import T0, T1
from tests.asgi import in_process
from tests.infra import Infra
from tests.receiver import WAIT, Received, Receiver
from tests.smtp_sink import SmtpSink

pytestmark = pytest.mark.integration

SECRET = "test-subscribers-secret"
TOKEN = "admin-token"
PAGE = "http://status.test"


def signed_by(key: str, request: Received) -> bool:
    """Whether a webhook we received is signed with `key` (as of the time it says it was sent:
    the notifier runs on the test's clock)."""
    timestamp = request.headers[TIMESTAMP_HEADER.lower()]
    return verify(
        key.encode(),
        timestamp,
        request.raw,
        request.headers[SIGNATURE_HEADER.lower()],
        float(timestamp),
    )


def config_for(smtp: SmtpSink) -> HeraldConfig:
    return parse_config(
        f"""
page: {{title: Acme Status, url: "{PAGE}"}}
services:
  payments-api: {{name: Payments API}}
  search: {{name: Search}}
  billing: {{name: Billing}}
subscribers:
  enabled: true
  secret: {SECRET}
  sender: "Acme Status <status@acme.test>"
  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}
  private_webhooks: true
  coalesce: 1h
  signups_per_ip: 5
  signups_per_address: 2
"""
    )


def incident(
    iid: str,
    service: str = "payments-api",
    *,
    status: IncidentStatus = IncidentStatus.INVESTIGATING,
    public: bool = True,
    updates: int = 1,
) -> Incident:
    resolved = status is IncidentStatus.RESOLVED
    timeline = [
        TimelineEntry(at=T0, status=IncidentStatus.INVESTIGATING, body="Card payments fail")
    ]
    for n in range(1, updates):
        timeline.append(
            TimelineEntry(
                at=T0.replace(minute=n), status=IncidentStatus.IDENTIFIED, body=f"Update {n}"
            )
        )
    if resolved:
        timeline.append(TimelineEntry(at=T1, status=status, body="All good again"))
    return Incident(
        id=iid,
        service=service,
        title="Card payments failing",
        body="",
        status=status,
        impact=Impact.MAJOR,
        component_status=ComponentStatus.MAJOR_OUTAGE,
        started_at=T0,
        updated_at=T1 if resolved else T0,
        resolved_at=T1 if resolved else None,
        public=public,
        timeline=tuple(timeline),
    )


@dataclass
class Running:
    page: httpx.AsyncClient
    notifier: httpx.AsyncClient
    smtp: SmtpSink
    receiver: Receiver
    told: asyncio.Queue[Told]
    js: nats.js.JetStreamContext

    async def publish(self, event: IncidentEvent) -> None:
        subject = incident_subject(event.service, INCIDENT_EVENT_NAMES[event.kind])
        await self.js.publish(
            subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
        )

    async def subscribers(self) -> list[dict[str, object]]:
        r = await self.notifier.get(
            "/api/subscribers", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 200, r.text
        found: list[dict[str, object]] = r.json()["subscribers"]
        return found

    async def verified(self) -> Told:
        """The next webhook subscriber that answered its challenge (and is stored)."""
        async with asyncio.timeout(WAIT):
            while (told := await self.told.get()).topic != VERIFIED:
                pass
        return told


@asynccontextmanager
async def running(infra: Infra, clock: Clock = utc_now) -> AsyncIterator[Running]:
    told: asyncio.Queue[Told] = asyncio.Queue()
    async with SmtpSink() as smtp, Receiver() as receiver:
        receiver.echo_challenge("/sub")
        config = config_for(smtp)
        env = {"HERALD_API_TOKEN": TOKEN}
        page = statuspage_app(config, infra.settings(), environ={})
        notifier = notifier_app(
            config,
            infra.settings(),
            registry=CollectorRegistry(),
            environ=env,
            clock=clock,
            on_told=told.put_nowait,
        )
        nc = await nats.connect(infra.nats_url)
        try:
            async with (
                in_process(page, PAGE) as page_client,
                in_process(notifier) as notifier_client,
            ):
                yield Running(page_client, notifier_client, smtp, receiver, told, nc.jetstream())
        finally:
            await nc.close()


def link_in(message: EmailMessage, prefix: str) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    (url,) = [w for w in text.split() if w.startswith(prefix)]
    return url


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def test_subscribers_hear_of_public_incidents_by_mail_and_signed_webhook(
    infra: Infra,
) -> None:
    async with running(infra) as run:
        # Email, double opt-in: the answer is 202 and a confirmation mail arrives.
        r = await run.page.post(
            "/api/subscribers", json={"email": "alice@Example.COM", "components": ["payments-api"]}
        )
        assert r.status_code == 202, r.text
        mail, rcpt = await run.smtp.next()
        assert rcpt == ["alice@example.com"]
        assert "Confirm your subscription to Acme Status" in mail["Subject"]
        confirm = link_in(mail, f"{PAGE}/subscribe/confirm?token=")
        # The link's GET changes nothing (mail scanners follow links); the button's POST does.
        page = await run.page.get(urlsplit(confirm).path + "?" + urlsplit(confirm).query)
        assert page.status_code == 200
        assert 'id="confirm-button"' in page.text
        assert await run.subscribers() == []
        done = await run.page.post(
            "/subscribe/confirm", data={"token": token_of(confirm)}, headers={"Origin": PAGE}
        )
        assert done.status_code == 200
        assert 'data-state="confirmed"' in done.text

        # Webhook, verified with a challenge that the receiver echoes; the challenge carries the
        # key that signs everything after it.
        r = await run.page.post("/api/subscribers", json={"webhook": run.receiver.url_for("/sub")})
        assert r.status_code == 202, r.text
        challenge = await run.receiver.next("/sub")
        assert challenge.body["type"] == "challenge"
        key = challenge.body["secret"]
        assert signed_by(key, challenge)
        await run.verified()
        subscribers = await run.subscribers()
        assert len(subscribers) == 2
        assert {s["channel"] for s in subscribers} == {"email", "webhook"}
        assert {s["address"] for s in subscribers} == {
            "alice@example.com",
            run.receiver.url_for("/sub"),
        }

        # An internal incident: nobody hears of it. A public one: both do.
        await run.publish(
            IncidentOpened(
                event_id="int-1",
                occurred_at=T0,
                service="payments-api",
                version=1,
                incident=incident("inc-internal", public=False),
            )
        )
        await run.publish(  # a resolve is final, never held: still nobody hears of it
            IncidentResolved(
                event_id="int-2",
                occurred_at=T1,
                service="payments-api",
                version=2,
                incident=incident("inc-internal", status=IncidentStatus.RESOLVED, public=False),
            )
        )
        await run.publish(
            IncidentOpened(
                event_id="pub-1",
                occurred_at=T0,
                service="payments-api",
                version=3,
                incident=incident("inc-1"),
            )
        )
        mail, rcpt = await run.smtp.next()
        assert rcpt == ["alice@example.com"]
        assert mail["Subject"] == "[Acme Status] Investigating: Card payments failing"
        unsubscribe = mail["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith(f"{PAGE}/unsubscribe?token=")
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        hook = await run.receiver.next("/sub")
        assert signed_by(key, hook)
        assert not signed_by("another key", hook)
        body = hook.body
        assert set(body) == {"meta", "page", "incident"}
        assert body["meta"]["unsubscribe"].startswith(f"{PAGE}/unsubscribe?token=")
        assert body["page"]["status_indicator"] == "major"
        assert body["incident"]["id"] == "inc-1"
        assert body["incident"]["shortlink"] == f"{PAGE}/incidents/inc-1"
        assert body["incident"]["incident_updates"][0]["status"] == "investigating"
        assert body["incident"]["components"][0]["id"] == "payments-api"

        # Updates within the coalescing interval wait; the resolve goes at once and carries
        # everything since (the updates folded into it).
        await run.publish(
            IncidentUpdated(
                event_id="pub-2",
                occurred_at=T0,
                service="payments-api",
                version=4,
                incident=incident("inc-1", updates=2),
            )
        )
        await run.publish(
            IncidentUpdated(
                event_id="pub-3",
                occurred_at=T0,
                service="payments-api",
                version=5,
                incident=incident("inc-1", updates=3),
            )
        )
        await run.publish(
            IncidentResolved(
                event_id="pub-4",
                occurred_at=T1,
                service="payments-api",
                version=6,
                incident=incident("inc-1", status=IncidentStatus.RESOLVED, updates=3),
            )
        )
        mail, _ = await run.smtp.next()
        assert mail["Subject"] == "[Acme Status] Resolved: Card payments failing"
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Update 2" in text
        assert "All good again" in text
        hook = await run.receiver.next("/sub")
        assert hook.body["incident"]["status"] == "resolved"
        assert [u["body"] for u in hook.body["incident"]["incident_updates"]][:2] == [
            "All good again",
            "Update 2",
        ]
        assert hook.body["page"]["status_indicator"] == "none"

        # Resolved for the public while internal alerts keep it open (public_status): told at
        # once, as resolved, without the internal update.
        await run.publish(
            IncidentOpened(
                event_id="p2-1",
                occurred_at=T0,
                service="payments-api",
                version=7,
                incident=incident("inc-2"),
            )
        )
        mail, _ = await run.smtp.next()
        assert "Investigating" in mail["Subject"]
        await run.receiver.next("/sub")
        internal = TimelineEntry(
            at=T1, status=IncidentStatus.IDENTIFIED, body="db-7 internal", public=False
        )
        base = incident("inc-2")
        await run.publish(
            IncidentUpdated(
                event_id="p2-2",
                occurred_at=T1,
                service="payments-api",
                version=8,
                incident=base.model_copy(
                    update={
                        "timeline": (*base.timeline, internal),
                        "public_status": IncidentStatus.RESOLVED,
                        "public_resolved_at": T1,
                    }
                ),
            )
        )
        mail, _ = await run.smtp.next()
        assert mail["Subject"] == "[Acme Status] Resolved: Card payments failing"
        assert "db-7" not in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        hook = await run.receiver.next("/sub")
        assert hook.body["incident"]["status"] == "resolved"
        assert "db-7" not in hook.raw.decode()

        # A component alice does not follow: only the webhook (every component) hears of it.
        await run.publish(
            IncidentOpened(
                event_id="s-1",
                occurred_at=T0,
                service="search",
                version=1,
                incident=incident("inc-s", service="search"),
            )
        )
        hook = await run.receiver.next("/sub")
        assert hook.body["incident"]["id"] == "inc-s"

        # One-click unsubscribe (RFC 8058): the mail provider POSTs, no Origin, no cookie.
        r = await run.page.post(
            urlsplit(unsubscribe).path + "?" + urlsplit(unsubscribe).query,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200
        assert 'data-state="unsubscribed"' in r.text
        (left,) = await run.subscribers()
        assert left["channel"] == "webhook"
        # Removal on request by an admin (`herald subscribers remove`).
        r = await run.notifier.delete(
            f"/api/subscribers/{left['id']}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 204
        assert await run.subscribers() == []
        r = await run.notifier.delete(
            f"/api/subscribers/{left['id']}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 404
        # Nothing sent to the internal incident's subscribers, ever.
        assert all(t.topic != "incident:inc-internal" for t in _drain(run.told))


def _drain(queue: asyncio.Queue[Told]) -> list[Told]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_sign_up_answers_the_same_whatever_the_address_and_limits_abuse(infra: Infra) -> None:
    async with running(infra) as run:
        answers = set()
        for _ in range(3):  # the per-address limit (2 a day) drops the third, silently
            r = await run.page.post("/api/subscribers", json={"email": "bob@example.com"})
            answers.add((r.status_code, r.text))
        r = await run.page.post("/api/subscribers", json={"email": "nobody@example.com"})
        answers.add((r.status_code, r.text))
        assert len(answers) == 1  # known, busy or new: the same answer
        # Two confirmation mails for bob, one for nobody: the third for bob was dropped.
        got = sorted([(await run.smtp.next())[1][0] for _ in range(3)])
        assert got == ["bob@example.com", "bob@example.com", "nobody@example.com"]
        # Five sign-ups an hour from one client address, then 429.
        r = await run.page.post("/api/subscribers", json={"email": "carol@example.com"})
        assert r.status_code == 202
        r = await run.page.post("/api/subscribers", json={"email": "dave@example.com"})
        assert r.status_code == 429
        assert r.headers["Retry-After"]
        # Bad input is a clear 4xx; a cross-origin form POST is refused (CSRF).
        assert (
            await run.page.post("/api/subscribers", json={"email": "not an address"})
        ).status_code == 400
        assert (
            await run.page.post(
                "/api/subscribers",
                content=b"email=x@y.z",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        ).status_code == 415
        cross = await run.page.post(
            "/subscribe", data={"email": "eve@example.com"}, headers={"Origin": "https://evil.test"}
        )
        assert cross.status_code == 403
        assert "form-action 'self'" in cross.headers["Content-Security-Policy"]
        # A forged or expired token is refused.
        assert (
            await run.page.post("/api/subscribers/confirm", json={"token": "x.y"})
        ).status_code == 400
        assert (await run.page.get("/unsubscribe?token=forged.token")).status_code == 400
        # The admin API wants its token.
        assert (await run.notifier.get("/api/subscribers")).status_code == 401


def window(status: MaintenanceStatus, *, cancelled: bool = False) -> MaintenanceWindow:
    """Window mw-1 over Payments API and Billing, at `status` (each service holds a copy)."""
    started = T0 if status is not MaintenanceStatus.SCHEDULED else None
    verifying = T0 + (T1 - T0) / 2 if status is MaintenanceStatus.VERIFYING else None
    completed = T1 if status is MaintenanceStatus.COMPLETED else None
    return MaintenanceWindow(
        id="mw-1",
        title="Database upgrade",
        body="Payments may be slow for a few minutes.",
        services=("payments-api", "billing"),
        status=status,
        starts_at=T0,
        ends_at=T1,
        created_at=T0.replace(hour=9),
        updated_at=completed or verifying or started or T0.replace(hour=9),
        started_at=started,
        verifying_at=verifying,
        completed_at=completed,
        cancelled=cancelled,
    )


async def test_subscribers_hear_once_when_maintenance_is_scheduled_starts_is_verified_and_completes(
    infra: Infra,
) -> None:
    """Each service a window covers publishes its own copy of every change, and JetStream may
    redeliver: each state still reaches each subscriber of an affected component once, by mail
    and by signed webhook, with an unsubscribe link; a subscriber of another component hears
    nothing of it."""
    key = SECRET.encode()
    async with running(infra) as run:
        hook_url = run.receiver.url_for("/sub")
        redis = Redis.from_url(infra.redis_url)
        store = SubscriberStore(redis)
        for channel, address, components in (
            ("email", "alice@example.com", ("payments-api",)),
            ("email", "bob@example.com", ("search",)),
            ("webhook", hook_url, ()),
        ):
            await store.put(
                Subscriber(
                    id=subscriber_id(key, channel, address),  # type: ignore[arg-type]
                    channel=channel,  # type: ignore[arg-type]
                    address=address,
                    components=components,
                    created_at=T0,
                )
            )
        await redis.aclose()
        hook_key = webhook_key(key, subscriber_id(key, "webhook", hook_url))
        version = {"payments-api": 10, "billing": 20}

        async def copy(service: str, status: MaintenanceStatus) -> None:
            version[service] += 1
            await run.publish(
                MaintenanceChanged(
                    event_id=f"{service}-{version[service]}",
                    occurred_at=T0,
                    service=service,
                    version=version[service],
                    maintenance=window(status),
                )
            )

        steps = [
            (MaintenanceStatus.SCHEDULED, "Scheduled maintenance", "scheduled"),
            (MaintenanceStatus.IN_PROGRESS, "Maintenance in progress", "in_progress"),
            (MaintenanceStatus.VERIFYING, "Maintenance being verified", "verifying"),
            (MaintenanceStatus.COMPLETED, "Maintenance completed", "completed"),
        ]
        for n, (status, subject, word) in enumerate(steps):
            await copy("payments-api", status)
            mail, rcpt = await run.smtp.next()
            assert rcpt == ["alice@example.com"]
            assert mail["Subject"] == f"[Acme Status] {subject}: Database upgrade"
            text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert "Payments API, Billing" in text
            unsubscribe = mail["List-Unsubscribe"].strip("<>")
            assert unsubscribe.startswith(f"{PAGE}/unsubscribe?token=")
            assert unsubscribe in text
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            hook = await run.receiver.next("/sub")
            assert signed_by(hook_key, hook)
            inc = hook.body["incident"]
            assert set(hook.body) == {"meta", "page", "incident"}
            assert hook.body["meta"]["unsubscribe"].startswith(f"{PAGE}/unsubscribe?token=")
            assert inc["id"] == "mw-1"
            assert inc["impact"] == "maintenance"
            assert inc["status"] == word
            assert inc["scheduled_for"] == "2024-05-01T12:00:00.000Z"
            assert inc["scheduled_until"] == "2024-05-01T12:30:00.000Z"
            assert inc["incident_updates"][0]["status"] == word
            assert [c["id"] for c in inc["components"]] == ["payments-api", "billing"]
            active = (MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING)
            expected = "maintenance" if status in active else "none"
            assert hook.body["page"]["status_indicator"] == expected

            # Billing's copy of the same state, and payments-api's again (another replica's
            # event id): nothing more. Then an incident bob follows, published after them: the
            # next mail is his (a copy told again, or told to bob, would have come first).
            await copy("billing", status)
            await copy("payments-api", status)
            await run.publish(
                IncidentOpened(
                    event_id=f"s-{n}",
                    occurred_at=T0,
                    service="search",
                    version=n + 1,
                    incident=incident(f"inc-s{n}", service="search"),
                )
            )
            mail, rcpt = await run.smtp.next()
            assert rcpt == ["bob@example.com"]
            assert "Card payments failing" in mail["Subject"]
            hook = await run.receiver.next("/sub")
            assert hook.body["incident"]["id"] == f"inc-s{n}"
        assert run.smtp.empty()


class Hands:
    """A clock the test moves (the correlator's: its windows start and end when it says)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_window_the_correlator_runs_reaches_subscribers_as_it_starts_and_completes(
    infra: Infra,
) -> None:
    """The whole way: `herald maintenance schedule`'s command -> the correlator (a copy per
    service, on its own clock) -> the notifier -> aiosmtpd and the local receiver."""
    key = SECRET.encode()
    hands = Hands(datetime.now(UTC).replace(microsecond=0))
    async with running(infra) as run:
        hook_url = run.receiver.url_for("/sub")
        redis = Redis.from_url(infra.redis_url)
        store = SubscriberStore(redis)
        for channel, address in (("email", "alice@example.com"), ("webhook", hook_url)):
            await store.put(
                Subscriber(
                    id=subscriber_id(key, channel, address),  # type: ignore[arg-type]
                    channel=channel,  # type: ignore[arg-type]
                    address=address,
                    components=("billing",),
                    created_at=T0,
                )
            )
        await redis.aclose()
        correlator = correlator_app(config_for(run.smtp), infra.settings(), clock=hands)
        async with in_process(correlator):
            command = ScheduleMaintenance(
                event_id="cmd-mw",
                occurred_at=hands.now,
                idempotency_key="mw",
                actor="ops",
                maintenance_id="mw-7",
                services=("payments-api", "billing"),
                title="Network switch swap",
                starts_at=hands.now + timedelta(hours=1),
                ends_at=hands.now + timedelta(hours=2),
            )
            await run.js.publish(
                command_subject(None),
                command.model_dump_json().encode(),
                headers={"Nats-Msg-Id": command.event_id},
            )
            for subject, word, at in (
                ("Scheduled maintenance", "scheduled", timedelta(hours=1, minutes=1)),
                ("Maintenance in progress", "in_progress", timedelta(hours=2, minutes=1)),
                ("Maintenance completed", "completed", None),
            ):
                mail, rcpt = await run.smtp.next()
                assert rcpt == ["alice@example.com"]
                assert mail["Subject"] == f"[Acme Status] {subject}: Network switch swap"
                hook = await run.receiver.next("/sub")
                while "component_update" in hook.body:  # billing under maintenance, and back
                    assert hook.body["component"]["id"] == "billing"
                    hook = await run.receiver.next("/sub")
                assert hook.body["incident"]["id"] == "mw-7"
                assert hook.body["incident"]["status"] == word
                assert hook.body["incident"]["impact"] == "maintenance"
                if at is not None:
                    hands.now = command.occurred_at + at  # the sweep sees it within a second
        assert run.smtp.empty()


async def test_an_update_held_by_coalescing_goes_by_itself_once_the_interval_is_over(
    infra: Infra,
) -> None:
    """A timeline update within `coalesce` (1 h, on the notifier's clock) of the last message
    waits; when the interval is over it goes by itself, with the latest state, though no
    resolve follows."""
    key = SECRET.encode()
    hands = Hands(datetime.now(UTC).replace(microsecond=0))
    async with running(infra, clock=hands) as run:
        hook_url = run.receiver.url_for("/sub")
        redis = Redis.from_url(infra.redis_url)
        sid = subscriber_id(key, "webhook", hook_url)
        await SubscriberStore(redis).put(
            Subscriber(id=sid, channel="webhook", address=hook_url, created_at=T0)
        )
        await redis.aclose()
        await run.publish(
            IncidentOpened(
                event_id="o",
                occurred_at=T0,
                service="payments-api",
                version=1,
                incident=incident("inc-1"),
            )
        )
        assert (await run.receiver.next("/sub")).body["incident"]["status"] == "investigating"
        await run.publish(
            IncidentUpdated(
                event_id="u",
                occurred_at=T0,
                service="payments-api",
                version=2,
                incident=incident("inc-1", updates=3),
            )
        )
        # An incident on search, published after it, goes at once: its message comes first
        # (an update not held would have come before it).
        await run.publish(
            IncidentOpened(
                event_id="s",
                occurred_at=T0,
                service="search",
                version=1,
                incident=incident("inc-s", service="search"),
            )
        )
        assert (await run.receiver.next("/sub")).body["incident"]["id"] == "inc-s"
        hands.now += timedelta(hours=1, seconds=1)  # the timer looks again within a second
        hook = await run.receiver.next("/sub")
        assert hook.body["incident"]["id"] == "inc-1"
        newest = hook.body["incident"]["incident_updates"][0]
        assert (newest["status"], newest["body"]) == ("identified", "Update 2")


async def test_a_webhook_is_subscribed_only_when_it_echoes_from_a_public_address(
    infra: Infra,
) -> None:
    """The courier over real Redis and a real receiver: a URL that answers the challenge
    without echoing it, one that redirects (never followed), and a loopback one while
    `private_webhooks` is off (never posted to) are not subscribed; one that echoes is."""
    key = SECRET.encode()
    redis = Redis.from_url(infra.redis_url)
    store = SubscriberStore(redis)
    async with SmtpSink() as smtp, Receiver() as receiver, httpx.AsyncClient() as http:
        receiver.echo_challenge("/echo")
        receiver.redirect("/moved", 307, receiver.url_for("/echo"))
        lenient = config_for(smtp)
        strict = lenient.model_copy(
            update={
                "subscribers": lenient.subscribers.model_copy(update={"private_webhooks": False})
            }
        )

        def courier(config: HeraldConfig) -> Courier:
            hooks = Hooks(http, config.subscribers.private_webhooks, utc_now)
            return Courier(config, key, store, DigestStore(redis), None, hooks, utc_now)

        def signup(path: str) -> SubscriptionRequested:
            url = receiver.url_for(path)
            return SubscriptionRequested(
                event_id=path, occurred_at=T0, channel="webhook", address=url
            )

        try:
            await courier(lenient).on_request(signup("/silent"))
            assert (await receiver.next("/silent")).body["type"] == "challenge"
            await courier(lenient).on_request(signup("/moved"))
            await courier(strict).on_request(signup("/echo"))
            assert receiver.count("/echo") == 0  # neither followed nor posted to
            assert await store.all() == []
            await courier(lenient).on_request(signup("/echo"))
            (stored,) = await store.all()
            assert stored.address == receiver.url_for("/echo")
        finally:
            await redis.aclose()


async def test_the_json_api_confirms_and_unsubscribes_and_redis_keeps_only_what_is_needed(
    infra: Infra,
) -> None:
    """`POST /api/subscribers/confirm` and `/unsubscribe` with their tokens; what is kept is the
    id, channel, address, components and time, the limit counters hold digests (never the
    address or the client's IP), and unsubscribing leaves the address nowhere."""
    async with running(infra) as run:
        address = "carol@example.com"
        r = await run.page.post(
            "/api/subscribers", json={"email": address, "components": ["search"]}
        )
        assert r.status_code == 202, r.text
        mail, _ = await run.smtp.next()
        token = token_of(link_in(mail, f"{PAGE}/subscribe/confirm?token="))
        r = await run.page.post("/api/subscribers/confirm", json={"token": token})
        assert r.status_code == 200, r.text
        assert r.json()["components"] == ["search"]
        sid = r.json()["id"]
        redis = Redis.from_url(infra.redis_url, decode_responses=True)

        async def kept() -> dict[str, str]:
            """Every subscriber key and its value, whatever its type."""
            read = {
                "string": redis.get,
                "set": redis.smembers,
                "hash": redis.hgetall,
                "zset": lambda k: redis.zrange(k, 0, -1),
            }
            return {
                k: repr(await read[await redis.type(k)](k))
                for k in await redis.keys("herald:{subscribers}:*")
            }

        try:
            stored = await kept()
            holding = [k for k, v in stored.items() if address in k or address in v]
            assert holding == [f"herald:{{subscribers}}:subscriber:{sid}"]
            (record,) = await run.subscribers()
            assert set(record) == {"id", "channel", "address", "components", "created_at"}
            assert not any("127.0.0.1" in k or "127.0.0.1" in v for k, v in stored.items())
            unsubscribe = unsubscribe_token(SECRET.encode(), sid)
            r = await run.page.post("/api/subscribers/unsubscribe", json={"token": unsubscribe})
            assert r.status_code == 200, r.text
            assert await run.subscribers() == []
            assert not any(address in k or address in v for k, v in (await kept()).items())
        finally:
            await redis.aclose()
