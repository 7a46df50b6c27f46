"""Who is calling: the bearer tokens an API knows, one per caller, and the check of a request's
`Authorization` header against them. Standard library only (the Flask side is `guard.py`).

Two callers exist: the order service (the only service that calls others over HTTP) and an
operator (`admin`). Every API knows both tokens, so a known caller on an endpoint it has no
business with is told 403 `forbidden`, and anything else 401 `unauthenticated`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from messaging.settings import ConfigurationError, Env

ADMIN = "admin"
ORDER_SERVICE = "order-service"
# Each caller's token is read from one variable. There is no default here: the development
# values live in compose.yaml, and a process that needs one and lacks it does not start.
TOKEN_VARIABLES: Mapping[str, str] = {ADMIN: "ADMIN_TOKEN", ORDER_SERVICE: "ORDER_SERVICE_TOKEN"}


class Unauthenticated(Exception):
    """No credential, or one that no caller holds (401 `unauthenticated`)."""

    def __init__(self, message: str, *, challenge: str = "Bearer") -> None:
        super().__init__(message)
        self.challenge = challenge  # the WWW-Authenticate header (RFC 6750)


class Forbidden(Exception):
    """A known caller on an endpoint it has no business with (403 `forbidden`)."""

    def __init__(self, caller: str) -> None:
        super().__init__(f"the {caller} credential is not accepted here")
        self.caller = caller


@dataclass(frozen=True)
class Callers:
    """The callers an API knows: caller name -> its token. Empty, nobody gets in."""

    tokens: Mapping[str, str] = field(default_factory=dict)

    def identify(self, authorization: str | None) -> str:
        """The caller whose token `authorization` (the header's value) presents, else
        Unauthenticated. Tokens are compared in constant time, and all of them, so the time
        taken tells neither how much of a token matched nor which caller's it was."""
        presented = bearer_token(authorization)
        if presented is None:
            raise Unauthenticated("send Authorization: Bearer <token>")
        # compare_digest takes str only when ASCII: a header may hold any Latin-1 character.
        wanted = presented.encode("utf-8", "surrogatepass")
        matches = [
            caller
            for caller, token in self.tokens.items()
            if hmac.compare_digest(wanted, token.encode("utf-8", "surrogatepass"))
        ]
        if not matches:
            raise Unauthenticated(
                "the token is not one this service knows", challenge='Bearer error="invalid_token"'
            )
        return matches[0]

    def authorize(self, authorization: str | None, *, allowed: frozenset[str]) -> str:
        """The caller, if it is one of `allowed`; else Unauthenticated or Forbidden."""
        caller = self.identify(authorization)
        if caller not in allowed:
            raise Forbidden(caller)
        return caller


NOBODY = Callers()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive,
    RFC 9110), or None for no header, another scheme or an empty token."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def callers_from_env(env: Env) -> Callers:
    """Every caller's token, each required: an API that cannot tell its callers apart would
    refuse them all, which is better said at start than as 401s at the first order."""
    tokens = {caller: env.text(variable) for caller, variable in TOKEN_VARIABLES.items()}
    if len(set(tokens.values())) < len(tokens):
        # One token for two callers would let the order service act as the operator.
        raise ConfigurationError(f"{' and '.join(TOKEN_VARIABLES.values())} must differ")
    return Callers(tokens)
