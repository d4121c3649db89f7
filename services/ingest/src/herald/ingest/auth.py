"""Which integration a request comes from: path token, then the Authorization header.

An integration may have several live tokens (`token` and `tokens`) and several accepted
Authorization credentials (a list under `authorization.credentials` or `basic_auth.password`),
so a sender moves to a new secret without a gap. Secrets are resolved once, at startup. Every comparison is constant time: both sides are
hashed to fixed-length digests first (so not even the length leaks) and compared with
`hmac.compare_digest`, and the path token is compared against every integration without
stopping at the first match. Secret values never appear in errors, `repr()` or logs: only
integration ids do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from herald.shared.config import ConfigError, Integration, RateLimit
from herald.shared.secret import SecretRef


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


@dataclass(frozen=True)
class HeaderCredentials:
    """What the Authorization header must carry: `<scheme> <credentials>`, any one of several
    live credentials (rotation)."""

    scheme: str
    """Lower-cased auth scheme (`bearer`, `basic`, ...); schemes are case-insensitive."""
    digests: tuple[bytes, ...] = field(repr=False)
    """SHA-256 of each accepted credentials part."""

    def accepts(self, header: str | None) -> bool:
        scheme, _, rest = (header or "").strip().partition(" ")
        given = _digest(rest.strip())
        matches = False
        for expected in self.digests:  # every one, no early exit: constant time
            matches |= _same(given, expected)
        return matches and scheme.lower() == self.scheme


@dataclass(frozen=True)
class Credentials:
    """One integration's resolved secrets."""

    integration: str
    token_digests: tuple[bytes, ...] = field(repr=False)
    """SHA-256 of each live path token (`token` and `tokens`)."""
    header: HeaderCredentials | None = None
    """When set, the Authorization header must match too."""
    rate_limit: RateLimit | None = None

    @property
    def token_digest(self) -> bytes:
        """The first live token's digest."""
        return self.token_digests[0]


def _resolve_all(refs: tuple[SecretRef, ...], environ: dict[str, str] | None) -> list[str]:
    return [v for v in (ref.resolve(environ) for ref in refs) if v is not None]


def integration_credentials(
    integration_id: str, integration: Integration, environ: dict[str, str] | None = None
) -> Credentials | None:
    """Resolve one integration's secrets; None when every token is `optional` and unset
    (the integration is disabled). ConfigError names the integration and the secret's source."""
    where = f"integrations.{integration_id}"
    tokens: list[tuple[str, str]] = []
    try:
        for key, ref in integration.all_tokens():
            value = ref.resolve(environ)
            if value is not None:
                tokens.append((key, value))
        header: HeaderCredentials | None = None
        if integration.authorization is not None:
            creds = _resolve_all(integration.authorization.all_credentials(), environ)
            if not creds:
                raise ValueError("authorization credentials are not set")
            header = HeaderCredentials(
                integration.authorization.type.lower(), tuple(_digest(c) for c in creds)
            )
        elif integration.basic_auth is not None:
            passwords = _resolve_all(integration.basic_auth.all_passwords(), environ)
            if not passwords:
                raise ValueError("basic_auth password is not set")
            user = integration.basic_auth.username
            header = HeaderCredentials(
                "basic",
                tuple(
                    _digest(base64.b64encode(f"{user}:{pw}".encode()).decode()) for pw in passwords
                ),
            )
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not tokens:
        return None
    digests: list[bytes] = []
    for key, token in tokens:
        if not token.strip() or "/" in token:
            raise ConfigError(f"{where}.{key}: must be non-empty and contain no '/'")
        if _digest(token) not in digests:
            digests.append(_digest(token))
    return Credentials(integration_id, tuple(digests), header, integration.rate_limit)


class Authenticator:
    """Maps (path token, Authorization header) to an integration id."""

    def __init__(self, credentials: list[Credentials]) -> None:
        seen: dict[bytes, str] = {}
        slots: list[tuple[bytes, Credentials, int]] = []
        for cred in credentials:
            for slot, digest in enumerate(cred.token_digests):
                if digest in seen:
                    raise ConfigError(
                        f"integrations.{cred.integration}.token: same token as integration "
                        f"{seen[digest]!r}; each integration needs its own"
                    )
                seen[digest] = cred.integration
                slots.append((digest, cred, slot))
        self._credentials = tuple(credentials)
        self._slots = tuple(slots)

    @classmethod
    def from_config(
        cls, integrations: Mapping[str, Integration], environ: dict[str, str] | None = None
    ) -> Authenticator:
        """Resolve every integration's secrets now (ConfigError when one cannot be)."""
        creds = [
            integration_credentials(iid, integ, environ) for iid, integ in integrations.items()
        ]
        return cls([c for c in creds if c is not None])

    @property
    def integrations(self) -> tuple[str, ...]:
        """Ids of the enabled integrations."""
        return tuple(c.integration for c in self._credentials)

    def _match(self, token: str) -> tuple[Credentials, int] | None:
        given = _digest(token)
        found: tuple[Credentials, int] | None = None
        for digest, cred, slot in self._slots:  # every one, no early exit
            if _same(given, digest):
                found = (cred, slot)
        return found

    def integration_for_token(self, token: str) -> Credentials | None:
        """The integration whose token (any live one) is `token`, compared against all."""
        match = self._match(token)
        return None if match is None else match[0]

    def authenticate(self, token: str, authorization: str | None) -> Authentication:
        """Check a request's path token (or PagerDuty routing key) and Authorization header."""
        match = self._match(token)
        if match is None:
            return Authentication(None, "unknown token")
        cred, slot = match
        if cred.header is not None and not cred.header.accepts(authorization):
            return Authentication(None, "bad or missing credentials", cred.integration)
        return Authentication(cred.integration, token_slot=slot, rate_limit=cred.rate_limit)


@dataclass(frozen=True)
class Authentication:
    """The outcome: `integration` when accepted, else why not (safe to log: no secrets)."""

    integration: str | None
    reason: str = ""
    claimed: str | None = None
    """The integration the token selected when only the header was wrong."""
    token_slot: int = 0
    """Which of the integration's live tokens it was (0 = the first): rate limits are per
    token. Never part of an alert's identity."""
    rate_limit: RateLimit | None = None

    @property
    def ok(self) -> bool:
        return self.integration is not None
