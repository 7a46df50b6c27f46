"""The payment service's settings, read from the environment by its composition root
(`api.create_app()`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messaging.credentials import NOBODY, Callers, callers_from_env
from messaging.settings import Env, ProcessSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ProcessSettings):
    # How late the first answer to a `tok_timeout` charge comes (after the payment committed):
    # longer than the order service's read timeout (3 s), so that its call times out.
    timeout_token_delay_seconds: float = 5.0
    # Whose tokens the guarded endpoints accept (messaging.guard): read for the API only.
    callers: Callers = NOBODY


def settings_from_env(environ: Mapping[str, str] | None = None, *, api: bool = False) -> Settings:
    """`api`: for the API, which also needs its callers' tokens (required there only)."""
    env = Env(environ)
    return Settings(
        **env.process(),
        callers=callers_from_env(env) if api else NOBODY,
        timeout_token_delay_seconds=env.seconds(
            "PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS", Settings.timeout_token_delay_seconds, maximum=60
        ),
    )
