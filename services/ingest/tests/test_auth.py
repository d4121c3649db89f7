from __future__ import annotations

import base64

import pytest

from herald.ingest.auth import Authenticator
from herald.shared.config import ConfigError, Integration


def integrations(**raw: dict[str, object]) -> dict[str, Integration]:
    return {iid: Integration.model_validate(doc) for iid, doc in raw.items()}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator.from_config(
        integrations(
            plain={"token": "tok-plain"},
            bearer={
                "token": {"env": "BEARER_TOKEN"},
                "authorization": {"credentials": {"env": "BEARER_CREDS"}},
            },
            basic={"token": "tok-basic", "basic_auth": {"username": "am", "password": "s3cret"}},
            disabled={"token": {"env": "UNSET", "optional": True}},
        ),
        environ={"BEARER_TOKEN": "tok-bearer", "BEARER_CREDS": "creds-1"},
    )


def test_token_selects_its_integration(auth: Authenticator) -> None:
    assert auth.authenticate("tok-plain", None).integration == "plain"
    assert auth.authenticate("tok-plain", "Bearer anything").integration == "plain"


def test_unknown_token_is_rejected(auth: Authenticator) -> None:
    for token in ("nope", "tok-plai", "tok-plainx", "", "TOK-PLAIN"):
        result = auth.authenticate(token, None)
        assert not result.ok
        assert result.claimed is None


def test_optional_unset_token_disables_the_integration(auth: Authenticator) -> None:
    assert auth.integrations == ("plain", "bearer", "basic")


def test_bearer_integration_needs_the_header(auth: Authenticator) -> None:
    assert auth.authenticate("tok-bearer", "Bearer creds-1").integration == "bearer"
    assert (
        auth.authenticate("tok-bearer", "bearer creds-1").integration == "bearer"
    )  # scheme is case-insensitive
    for header in (
        None,
        "",
        "Bearer",
        "Bearer creds-2",
        "Basic creds-1",
        "creds-1",
        "Bearer creds-1x",
    ):
        result = auth.authenticate("tok-bearer", header)
        assert not result.ok, header
        assert result.claimed == "bearer"


def test_custom_authorization_type() -> None:
    a = Authenticator.from_config(
        integrations(x={"token": "t", "authorization": {"type": "Token", "credentials": "c"}})
    )
    assert a.authenticate("t", "Token c").ok
    assert not a.authenticate("t", "Bearer c").ok


def test_basic_auth_integration(auth: Authenticator) -> None:
    assert auth.authenticate("tok-basic", basic("am", "s3cret")).integration == "basic"
    assert not auth.authenticate("tok-basic", basic("am", "wrong")).ok
    assert not auth.authenticate("tok-basic", basic("other", "s3cret")).ok
    assert not auth.authenticate("tok-basic", None).ok


def test_secrets_do_not_appear_in_repr(auth: Authenticator) -> None:
    text = repr(auth._credentials) + repr(auth.authenticate("tok-bearer", "Bearer nope"))
    for secret in ("tok-plain", "tok-bearer", "creds-1", "s3cret"):
        assert secret not in text


def test_unresolvable_secret_is_a_config_error_naming_the_integration() -> None:
    with pytest.raises(ConfigError, match=r"integrations\.am: .*MISSING_VAR") as err:
        Authenticator.from_config(integrations(am={"token": {"env": "MISSING_VAR"}}), environ={})
    assert "MISSING_VAR" in str(err.value)


def test_unresolvable_credentials_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"integrations\.am"):
        Authenticator.from_config(
            integrations(am={"token": "t", "authorization": {"credentials": {"env": "NOPE"}}}),
            environ={},
        )


def test_two_integrations_with_one_token_are_refused() -> None:
    with pytest.raises(ConfigError, match="same token"):
        Authenticator.from_config(integrations(a={"token": "same"}, b={"token": "same"}))


def test_token_with_slash_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"integrations\.a\.token"):
        Authenticator.from_config(integrations(a={"token": "x/y"}))


def test_several_live_tokens_select_one_integration() -> None:
    a = Authenticator.from_config(
        integrations(
            am={
                "token": "old",
                "tokens": ["new", {"env": "NEXT"}, {"env": "GONE", "optional": True}],
            },
            other={"tokens": ["theirs"]},
        ),
        environ={"NEXT": "next"},
    )
    slots = {t: a.authenticate(t, None) for t in ("old", "new", "next", "theirs")}
    assert {t: r.integration for t, r in slots.items()} == {
        "old": "am",
        "new": "am",
        "next": "am",
        "theirs": "other",
    }
    assert [slots[t].token_slot for t in ("old", "new", "next")] == [0, 1, 2]
    assert not a.authenticate("GONE", None).ok


def test_several_credentials_during_rotation() -> None:
    a = Authenticator.from_config(
        integrations(
            bearer={"token": "t1", "authorization": {"credentials": ["c-old", {"env": "C_NEW"}]}},
            basic={"token": "t2", "basic_auth": {"username": "am", "password": ["p1", "p2"]}},
        ),
        environ={"C_NEW": "c-new"},
    )
    assert a.authenticate("t1", "Bearer c-old").ok
    assert a.authenticate("t1", "Bearer c-new").ok
    assert not a.authenticate("t1", "Bearer c-other").ok
    assert a.authenticate("t2", basic("am", "p1")).ok
    assert a.authenticate("t2", basic("am", "p2")).ok
    assert not a.authenticate("t2", basic("am", "p3")).ok


def test_a_token_shared_by_two_integrations_through_tokens_is_refused() -> None:
    with pytest.raises(ConfigError, match="same token"):
        Authenticator.from_config(integrations(a={"token": "x"}, b={"tokens": ["y", "x"]}))


def test_a_bad_token_in_the_list_is_named() -> None:
    with pytest.raises(ConfigError, match=r"integrations\.a\.tokens\.1"):
        Authenticator.from_config(integrations(a={"token": "x", "tokens": ["y", "a/b"]}))


def test_rate_limit_travels_with_the_authentication() -> None:
    a = Authenticator.from_config(
        integrations(a={"token": "x", "rate_limit": {"per_second": 5, "burst": 20}})
    )
    limit = a.authenticate("x", None).rate_limit
    assert limit is not None
    assert (limit.per_second, limit.capacity) == (5.0, 20)
