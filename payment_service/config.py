"""The payment service's settings, read from the environment by its composition root
(`api.create_app()`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messaging.settings import Env, ProcessSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ProcessSettings):
    # How late the first answer to a `tok_timeout` charge comes (after the payment committed):
    # longer than the order service's read timeout (3 s), so that its call times out.
    timeout_token_delay_seconds: float = 5.0


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = Env(environ)
    return Settings(
        **env.process(),
        timeout_token_delay_seconds=env.seconds(
            "PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS", Settings.timeout_token_delay_seconds, maximum=60
        ),
    )
