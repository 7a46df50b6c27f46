"""The notification service's settings: read from the environment at the composition roots only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str = "amqp://guest:guest@rabbitmq:5672/%2F"
    smtp_host: str = "maildev"
    smtp_port: int = 1025
    mail_from: str = "orders@order-pipeline.local"
    liveness_file: str = "/tmp/alive"


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Settings:
    defaults = Settings(database_url="")
    return Settings(
        database_url=environ["DATABASE_URL"],
        broker_url=environ.get("BROKER_URL", defaults.broker_url),
        smtp_host=environ.get("SMTP_HOST", defaults.smtp_host),
        smtp_port=int(environ.get("SMTP_PORT", defaults.smtp_port)),
        mail_from=environ.get("MAIL_FROM", defaults.mail_from),
        liveness_file=environ.get("LIVENESS_FILE", defaults.liveness_file),
    )
