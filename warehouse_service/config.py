"""The warehouse service's settings: read from the environment at the composition roots only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str = "amqp://guest:guest@rabbitmq:5672/%2F"
    dispatch_delay_seconds: float = 2.0  # how long a shipment waits in PENDING (packing time)
    # How often due shipments are dispatched: often, so each tick is a small burst of events
    # (once a second made bursts that queued the notification emails behind them).
    dispatch_every_seconds: float = 0.25
    liveness_file: str = "/tmp/alive"


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    defaults = Settings(database_url="")
    return Settings(
        database_url=environ["DATABASE_URL"],
        broker_url=environ.get("BROKER_URL", defaults.broker_url),
        dispatch_delay_seconds=float(environ.get("DISPATCH_DELAY_SECONDS", defaults.dispatch_delay_seconds)),
        dispatch_every_seconds=float(environ.get("DISPATCH_EVERY_SECONDS", defaults.dispatch_every_seconds)),
        liveness_file=environ.get("LIVENESS_FILE", defaults.liveness_file),
    )
