"""The inventory service's settings, read from the environment by its composition roots
(`api.create_app()`, `expiry.main()` and `snapshot.main()`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messaging.credentials import NOBODY, Callers, callers_from_env
from messaging.settings import Env, ProcessSettings

# A hold or a sweep interval must be more than zero (a zero sweep would spin); Env's bounds are
# inclusive, so "more than zero" is written as a millisecond.
SHORTEST_SECONDS = 0.001


@dataclass(frozen=True, kw_only=True)
class Settings(ProcessSettings):
    # How long a reservation holds stock before the expirer releases it (API: set at reserve time).
    reservation_hold_seconds: float = 600.0
    # How often the expirer (`python -m inventory_service.expiry`) looks for expired holds.
    reservation_sweep_seconds: float = 5.0
    # How often the expirer publishes a product.snapshot of every product (when the outbox holds
    # none newer). At most a day: the catalog stream keeps 7 (messaging/topology.py), so its
    # retained part always holds each product's latest state.
    catalog_snapshot_seconds: float = 86_400.0
    # Whose tokens the guarded endpoints accept (messaging.guard): read for the API only.
    callers: Callers = NOBODY


def settings_from_env(environ: Mapping[str, str] | None = None, *, api: bool = False) -> Settings:
    """`api`: for the API, which also needs its callers' tokens (required there only)."""
    env = Env(environ)
    return Settings(
        **env.process(),
        callers=callers_from_env(env) if api else NOBODY,
        reservation_hold_seconds=env.seconds(
            "RESERVATION_HOLD_SECONDS", Settings.reservation_hold_seconds, minimum=SHORTEST_SECONDS
        ),
        reservation_sweep_seconds=env.seconds(
            "RESERVATION_SWEEP_SECONDS", Settings.reservation_sweep_seconds, minimum=SHORTEST_SECONDS
        ),
        catalog_snapshot_seconds=env.seconds(
            "CATALOG_SNAPSHOT_SECONDS", Settings.catalog_snapshot_seconds, minimum=1.0, maximum=86_400.0
        ),
    )
