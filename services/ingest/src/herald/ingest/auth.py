"""Which integration a request comes from: path token, then the Authorization header.

Secrets are resolved once, at startup. Every comparison is constant time: both sides are
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

from herald.shared.config import ConfigError, Integration


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _same(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


@dataclass(frozen=True)
class HeaderCredentials:
    """What the Authorization header must carry: `<scheme> <credentials>`."""

    scheme: str
    """Lower-cased auth scheme (`bearer`, `basic`, ...); schemes are case-insensitive."""
    digest: bytes = field(repr=False)
    """SHA-256 of the credentials part."""

    def accepts(self, header: str | None) -> bool:
        scheme, _, rest = (header or "").strip().partition(" ")
        matches = _same(_digest(rest.strip()), self.digest)
        return matches and scheme.lower() == self.scheme


@dataclass(frozen=True)
class Credentials:
    """One integration's resolved secrets."""

    integration: str
    token_digest: bytes = field(repr=False)
    header: HeaderCredentials | None = None
    """When set, the Authorization header must match too."""


def integration_credentials(
    integration_id: str, integration: Integration, environ: dict[str, str] | None = None
) -> Credentials | None:
    """Resolve one integration's secrets; None when its token is `optional` and unset
    (the integration is disabled). ConfigError names the integration and the secret's source."""
    where = f"integrations.{integration_id}"
    try:
        token = integration.token.resolve(environ)
        header: HeaderCredentials | None = None
        if integration.authorization is not None:
            creds = integration.authorization.credentials.resolve(environ)
            if creds is None:
                raise ValueError("authorization credentials are not set")
            header = HeaderCredentials(integration.authorization.type.lower(), _digest(creds))
        elif integration.basic_auth is not None:
            password = integration.basic_auth.password.resolve(environ)
            if password is None:
                raise ValueError("basic_auth password is not set")
            pair = f"{integration.basic_auth.username}:{password}".encode()
            header = HeaderCredentials("basic", _digest(base64.b64encode(pair).decode()))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if token is None:
        return None
    if not token.strip() or "/" in token:
        raise ConfigError(f"{where}.token: must be non-empty and contain no '/'")
    return Credentials(integration_id, _digest(token), header)


class Authenticator:
    """Maps (path token, Authorization header) to an integration id."""

    def __init__(self, credentials: list[Credentials]) -> None:
        seen: dict[bytes, str] = {}
        for cred in credentials:
            if cred.token_digest in seen:
                raise ConfigError(
                    f"integrations.{cred.integration}.token: same token as integration "
                    f"{seen[cred.token_digest]!r}; each integration needs its own"
                )
            seen[cred.token_digest] = cred.integration
        self._credentials = tuple(credentials)

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

    def integration_for_token(self, token: str) -> Credentials | None:
        """The integration whose token is `token`, compared against all of them."""
        given = _digest(token)
        found: Credentials | None = None
        for cred in self._credentials:
            if _same(given, cred.token_digest):
                found = cred
        return found

    def authenticate(self, token: str, authorization: str | None) -> Authentication:
        """Check a request's path token and Authorization header."""
        cred = self.integration_for_token(token)
        if cred is None:
            return Authentication(None, "unknown token")
        if cred.header is not None and not cred.header.accepts(authorization):
            return Authentication(None, "bad or missing credentials", cred.integration)
        return Authentication(cred.integration)


@dataclass(frozen=True)
class Authentication:
    """The outcome: `integration` when accepted, else why not (safe to log: no secrets)."""

    integration: str | None
    reason: str = ""
    claimed: str | None = None
    """The integration the token selected when only the header was wrong."""

    @property
    def ok(self) -> bool:
        return self.integration is not None
