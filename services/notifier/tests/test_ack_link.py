"""Signed, expiring acknowledge and resolve links (ack_link.py): plain values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.notifier.ack_link import (
    Action,
    Expired,
    Links,
    Tampered,
    make_token,
    read_token,
)

KEY = b"s3cret"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def token(action: Action = Action.ACK, user: str | None = "alice") -> str:
    return make_token(KEY, action, "payments-api", "payments-api-7", user, T0, DAY)


def test_a_token_reads_back_what_it_was_made_with_until_it_expires() -> None:
    claim = read_token(KEY, token(), T0 + DAY - timedelta(seconds=1))
    assert (claim.action, claim.service, claim.incident_id, claim.user) == (
        Action.ACK,
        "payments-api",
        "payments-api-7",
        "alice",
    )
    assert claim.expires_at == T0 + DAY
    assert read_token(KEY, token(Action.RESOLVE, None), T0).user is None


def test_an_expired_token_is_refused_as_expired() -> None:
    with pytest.raises(Expired, match="expired at 2026-05-02T12:00:00"):
        read_token(KEY, token(), T0 + DAY)


def test_a_token_changed_anywhere_or_signed_by_another_key_is_tampered() -> None:
    good = token()
    payload, _, signature = good.partition(".")
    forged_payload = token(user="mallory").partition(".")[0]
    for bad in (
        f"{forged_payload}.{signature}",  # another claim under the genuine signature
        f"{payload}.{signature[:-2]}AA",
        good[:-1],
        payload,
        "",
        "x" * 3000,
    ):
        with pytest.raises(Tampered):
            read_token(KEY, bad, T0)
    with pytest.raises(Tampered):
        read_token(b"another key", good, T0)
    assert not isinstance(Tampered("x"), Expired)  # the route answers 400 and 410 apart


def test_a_page_gets_a_resolve_link_only_when_they_are_allowed() -> None:
    without = Links(KEY, "https://herald.example.com/notifier/", DAY)
    ack, resolve = without.for_page("payments-api", "payments-api-7", "alice", T0)
    assert ack.startswith("https://herald.example.com/notifier/ack/")
    assert resolve == ""
    assert without.read(ack.rsplit("/", 1)[1], T0).action is Action.ACK
    with_resolve = Links(KEY, "https://herald.example.com/notifier", DAY, resolve_links=True)
    _, resolve = with_resolve.for_page("payments-api", "payments-api-7", "alice", T0)
    assert with_resolve.read(resolve.rsplit("/", 1)[1], T0).action is Action.RESOLVE
