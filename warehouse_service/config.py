"""The warehouse service's settings, read from the environment by its composition roots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messaging.credentials import NOBODY, Callers, callers_from_env
from messaging.settings import Env, ProcessSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ProcessSettings):
    dispatch_delay_seconds: float = 2.0  # how long a shipment waits in PENDING (packing time)
    # How often due shipments are dispatched: often, so each tick is a small burst of events
    # (once a second made bursts that queued the notification emails behind them).
    dispatch_every_seconds: float = 0.25
    # Whose tokens the guarded endpoints accept (messaging.guard): read for the API only.
    callers: Callers = NOBODY


def settings_from_env(environ: Mapping[str, str] | None = None, *, api: bool = False) -> Settings:
    """`api`: for the API, which also needs its callers' tokens (required there only)."""
    env = Env(environ)
    return Settings(
        **env.process(),
        callers=callers_from_env(env) if api else NOBODY,
        dispatch_delay_seconds=env.seconds("DISPATCH_DELAY_SECONDS", Settings.dispatch_delay_seconds),
        dispatch_every_seconds=env.seconds(
            "DISPATCH_EVERY_SECONDS", Settings.dispatch_every_seconds, minimum=0.01, maximum=3600
        ),
    )
