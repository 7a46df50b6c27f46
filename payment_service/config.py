"""Settings of the payment service; the environment is read here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_TIMEOUT_TOKEN_DELAY_SECONDS = 5.0


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed: the process cannot start."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    # How late the first answer to a `tok_timeout` charge comes (after the payment committed):
    # longer than the order service's read timeout (3 s), so that its call times out.
    timeout_token_delay_seconds: float = DEFAULT_TIMEOUT_TOKEN_DELAY_SECONDS


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        raise ConfigurationError("DATABASE_URL is required")
    raw_delay = env.get("PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS", str(DEFAULT_TIMEOUT_TOKEN_DELAY_SECONDS))
    try:
        delay = float(raw_delay)
    except ValueError:
        delay = -1.0
    if not 0 <= delay <= 60:
        raise ConfigurationError("PAYMENT_TIMEOUT_TOKEN_DELAY_SECONDS must be a number from 0 to 60")
    return Settings(database_url=database_url, timeout_token_delay_seconds=delay)
