"""Sign-up input and the form's same-origin rule, on plain values."""

from __future__ import annotations

import pytest

from herald.shared.config import parse_config
from herald.statuspage.signup import SignupError, parse_signup, same_origin

CONFIG = parse_config(
    """
groups: {core: {name: Core}}
services:
  payments-api: {name: Payments API, group: core}
  search: {name: Search}
subscribers: {enabled: true}
"""
)


def test_a_valid_email_or_webhook_with_components() -> None:
    s = parse_signup(CONFIG, " Alice@Example.COM ", None, ["search"])
    assert (s.channel, s.address, s.components) == ("email", "Alice@example.com", ("search",))
    s = parse_signup(CONFIG, None, "https://hooks.example.com/x", ["core"])
    assert (s.channel, s.components) == ("webhook", ("payments-api",))
    assert parse_signup(CONFIG, "a@b.co", None, ["all", "search"]).components == ()
    assert parse_signup(CONFIG, "a@b.co", None, ["core", "search"]).components == ()


@pytest.mark.parametrize(
    ("email", "webhook", "components"),
    [
        (None, None, []),
        ("a@b.co", "https://x.example", []),
        ("not an address", None, []),
        ("a@b.co\r\nBcc: x@y.z", None, []),
        ("a@b.co", None, ["nope"]),
        (None, "javascript:alert(1)", []),
        (None, "https://user:pw@example.com/", []),
        (None, "https://example.com/" + "x" * 3000, []),
    ],
)
def test_bad_input_is_refused(
    email: str | None, webhook: str | None, components: list[str]
) -> None:
    with pytest.raises(SignupError):
        parse_signup(CONFIG, email, webhook, components)


def test_same_origin() -> None:
    assert same_origin("https://status.example.com", None, "https", "status.example.com")
    assert not same_origin("https://evil.example", None, "https", "status.example.com")
    assert not same_origin("null", None, "https", "status.example.com")
    assert same_origin(None, "same-origin", "https", "status.example.com")
    assert not same_origin(None, "cross-site", "https", "status.example.com")
    assert same_origin(None, None, "https", "status.example.com")
    # Referrer-Policy no-referrer: Chromium sends Origin null from the page itself.
    assert same_origin("null", "same-origin", "https", "status.example.com")
    assert not same_origin(
        "https://status.example.com", "cross-site", "https", "status.example.com"
    )
