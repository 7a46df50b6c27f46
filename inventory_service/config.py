"""Settings of the inventory service; the environment is read here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOLD_SECONDS = 600.0
DEFAULT_SWEEP_SECONDS = 5.0


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed: the process cannot start."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    # How long a reservation holds stock before the expirer releases it (API: set at reserve time).
    reservation_hold_seconds: float = DEFAULT_HOLD_SECONDS
    # How often the expirer (`python -m inventory_service.expiry`) looks for expired holds.
    reservation_sweep_seconds: float = DEFAULT_SWEEP_SECONDS
    liveness_file: str = "/tmp/alive"


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 86_400:
        raise ConfigurationError(f"{name} must be a number of seconds from 0 (excluded) to 86400")
    return value


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        raise ConfigurationError("DATABASE_URL is required")
    return Settings(
        database_url=database_url,
        reservation_hold_seconds=_positive_seconds(env, "RESERVATION_HOLD_SECONDS", DEFAULT_HOLD_SECONDS),
        reservation_sweep_seconds=_positive_seconds(env, "RESERVATION_SWEEP_SECONDS", DEFAULT_SWEEP_SECONDS),
        liveness_file=env.get("LIVENESS_FILE", "").strip() or Settings.liveness_file,
    )
