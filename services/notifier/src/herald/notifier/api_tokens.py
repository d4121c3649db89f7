"""The bearer tokens of the notifier's API (`notifier.api_tokens`, else `HERALD_API_TOKEN`):
who may acknowledge by API, read the on-call and failed deliveries, and manage subscribers. A
named token's name is who did it (an acknowledgement by API records it, as the admin API's
named tokens do); a token of a list has no name."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from herald.shared.config import ConfigError, HeraldConfig

FALLBACK_VARIABLE = "HERALD_API_TOKEN"


@dataclass(frozen=True)
class ApiToken:
    name: str | None
    """`notifier.api_tokens`' key for a named token; None for a token of a list or the env."""
    value: str = field(repr=False)


@dataclass(frozen=True)
class ApiTokens:
    tokens: tuple[ApiToken, ...] = ()

    def holder(self, request: Request) -> ApiToken | None:
        """The token the request's `Authorization: Bearer` header carries, if it is one of
        ours (compared in constant time with each)."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        found = None
        for token in self.tokens:
            if hmac.compare_digest(given.encode(), token.value.encode()):
                found = token
        return found

    def refusal(self, request: Request) -> Response | None:
        """Why the request may not use the API (503 when no token is configured, 401 without
        one of them), or None when it may."""
        if not self.tokens:
            return JSONResponse(
                {"detail": "no API token is configured (notifier.api_tokens)"}, status_code=503
            )
        if self.holder(request) is None:
            return JSONResponse(
                {"detail": "a valid bearer token is required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None


def api_tokens_for(config: HeraldConfig, env: Mapping[str, str]) -> ApiTokens:
    """`notifier.api_tokens` resolved (a mapping: named tokens; a list: unnamed ones), else
    HERALD_API_TOKEN; a reference that cannot be resolved is a config error naming it."""
    configured = config.notifier.api_tokens
    entries = (
        [(name, name, ref) for name, ref in configured.items()]
        if isinstance(configured, Mapping)
        else [(str(n), None, ref) for n, ref in enumerate(configured)]
    )
    tokens = []
    for where, name, ref in entries:
        try:
            value = ref.resolve(dict(env))
        except ValueError as exc:
            raise ConfigError(f"notifier.api_tokens.{where}: {exc}") from None
        if value:
            tokens.append(ApiToken(name, value))
    if not tokens and env.get(FALLBACK_VARIABLE):
        tokens.append(ApiToken(None, env[FALLBACK_VARIABLE]))
    return ApiTokens(tuple(tokens))
