"""The notification service's settings, read from the environment by its composition roots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from messaging.credentials import NOBODY, Callers, callers_from_env
from messaging.settings import Env, ProcessSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ProcessSettings):
    smtp_host: str = "maildev"
    smtp_port: int = 1025
    mail_from: str = "orders@order-pipeline.local"
    # The mail server's HTTP API, asked whether an email in doubt (its sender died after
    # handing it over) arrived. Unset: such an email is sent again, with the same Message-ID.
    sent_mail_api: str | None = None
    # The worker's sweep for PENDING notifications whose send was lost or gave up; the API
    # tells a client to come back after one period when SMTP is down.
    resend_every_seconds: float = 10.0
    resend_older_than_seconds: float = 15.0  # younger rows are most likely queued or being retried
    # Whose tokens the guarded endpoints accept (messaging.guard): read for the API only.
    callers: Callers = NOBODY


def settings_from_env(environ: Mapping[str, str] | None = None, *, api: bool = False) -> Settings:
    """`api`: for the API, which also needs its callers' tokens (required there only)."""
    env = Env(environ)
    return Settings(
        **env.process(),
        callers=callers_from_env(env) if api else NOBODY,
        smtp_host=env.text("SMTP_HOST", Settings.smtp_host),
        smtp_port=env.integer("SMTP_PORT", Settings.smtp_port, minimum=1, maximum=65_535),
        mail_from=env.text("MAIL_FROM", Settings.mail_from),
        sent_mail_api=env.text("SENT_MAIL_API", "") or None,
        resend_every_seconds=env.seconds(
            "RESEND_EVERY_SECONDS", Settings.resend_every_seconds, minimum=0.1, maximum=3600
        ),
        resend_older_than_seconds=env.seconds(
            "RESEND_OLDER_THAN_SECONDS", Settings.resend_older_than_seconds
        ),
    )
