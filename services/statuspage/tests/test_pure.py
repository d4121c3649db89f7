"""The page's small pure modules on plain values: uptime bars, the timeline, conditional GETs,
language negotiation, badges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.shared.events import ComponentStatus as C
from herald.shared.settings import SettingsError
from herald.statuspage import badge, catalogue, timeline, uptime
from herald.statuspage.options import StatuspageOptions
from herald.statuspage.revalidation import not_modified, validators

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def test_a_bar_a_day_coloured_by_the_worst_status_and_a_weighted_uptime():
    created = NOW - timedelta(days=200)
    spans = [
        uptime.Interval(NOW - timedelta(days=1, hours=2), NOW - timedelta(days=1), C.MAJOR_OUTAGE),
        uptime.Interval(NOW - timedelta(hours=10), NOW - timedelta(hours=8), C.PARTIAL_OUTAGE),
        uptime.Interval(NOW - timedelta(hours=6), NOW - timedelta(hours=5), C.DEGRADED_PERFORMANCE),
    ]

    found = uptime.bars(spans, NOW, created, days=3)

    assert [d.status for d in found.days] == [C.OPERATIONAL, C.MAJOR_OUTAGE, C.PARTIAL_OUTAGE]
    total = (2 * 24 + 12) * 3600
    down = 2 * 3600 + 0.3 * 2 * 3600  # major counts whole, partial 30 %, degraded not at all
    assert found.uptime == 1 - down / total
    assert uptime.percent(found.uptime) == "95.66%"


def test_days_before_the_component_existed_have_no_data():
    found = uptime.bars([], NOW, NOW - timedelta(days=1), days=5)

    assert [d.status for d in found.days] == [None, None, None, C.OPERATIONAL, C.OPERATIONAL]
    assert found.uptime == 1.0
    assert uptime.percent(uptime.bars([], NOW, NOW, days=2).uptime) == "-"


def test_the_timeline_of_an_open_changed_incident_is_newest_first(make):
    inc = make.incident().model_copy(
        update={"updated_at": make.t0 + timedelta(minutes=5), "component_status": C.MAJOR_OUTAGE}
    )

    entries = timeline.entries(inc, "Payments API", "Major Outage")

    assert [e.kind for e in entries] == ["updated", "opened"]
    assert entries[0].body == "The impact changed: Payments API is now Major Outage."
    assert entries[1].body == inc.body
    assert entries[0].id == "inc-1-updated-1714565100000"


def test_a_resolved_incident_ends_with_its_resolution(make):
    entries = timeline.entries(make.resolved_incident())
    assert [(e.kind, e.new_status) for e in entries] == [
        ("resolved", C.OPERATIONAL),
        ("opened", C.PARTIAL_OUTAGE),
    ]


def test_conditional_requests():
    v = validators(b"{}", NOW)
    assert v.last_modified == "Fri, 10 May 2024 12:00:00 GMT"
    assert not_modified(v, v.etag, None)
    assert not_modified(v, f'"x", W/{v.etag}', None)
    assert not_modified(v, "*", None)
    assert not not_modified(v, '"x"', v.last_modified)  # If-None-Match decides alone
    assert not_modified(v, None, "Fri, 10 May 2024 12:00:01 GMT")
    assert not not_modified(v, None, "Fri, 10 May 2024 11:59:59 GMT")
    assert not not_modified(v, None, "yesterday")
    assert not not_modified(v, None, None)


def test_language_negotiation():
    assert catalogue.negotiate("de-DE,de;q=0.9,en;q=0.8") == "de"
    assert catalogue.negotiate("en;q=0.5, de;q=0.9") == "de"
    assert catalogue.negotiate("fr", default="de") == "de"
    assert catalogue.negotiate(None, default="xx") == "en"
    assert catalogue.negotiate("de;q=0") == "en"
    assert set(catalogue.GERMAN) == set(catalogue.ENGLISH)  # nothing left untranslated


def test_a_badge_escapes_its_text():
    svg = badge.render('<a href="x">', "Major Outage & co", "major_outage")
    assert "<a " not in svg
    assert "&lt;a href=&quot;x&quot;&gt;" in svg or '&lt;a href="x"&gt;' in svg
    assert "Major Outage &amp; co" in svg


def test_the_live_page_options_come_from_the_environment():
    assert StatuspageOptions.from_env({}) == StatuspageOptions(10_000, 30)
    found = StatuspageOptions.from_env(
        {"HERALD_STATUSPAGE_MAX_SSE_CLIENTS": "5", "HERALD_STATUSPAGE_POLL_SECONDS": "2"}
    )
    assert (found.max_sse_clients, found.poll_seconds) == (5, 2)
    for bad in ("0", "-1", "1.5", "x", "²"):
        with pytest.raises(SettingsError, match="HERALD_STATUSPAGE_POLL_SECONDS"):
            StatuspageOptions.from_env({"HERALD_STATUSPAGE_POLL_SECONDS": bad})
