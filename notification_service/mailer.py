"""SMTP adapter: one connection per email (sends are rare; no connection to keep alive)."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

SMTP_TIMEOUT_SECONDS = 10.0
# Header lines up to RFC 5322's hard limit: with the default 78 a Message-ID built from a
# UUID gets folded onto a continuation line, which naive readers see with a leading space,
# and receivers deduplicate on that header.
POLICY = SMTP.clone(max_line_length=998)


class SmtpMailer:
    def __init__(
        self, *, host: str, port: int, sender: str, timeout_seconds: float = SMTP_TIMEOUT_SECONDS
    ) -> None:
        self.host, self.port, self.sender, self.timeout_seconds = host, port, sender, timeout_seconds

    def send(self, *, to: str, subject: str, body: str, message_id: str) -> None:
        """Raises smtplib.SMTPException or OSError (timeouts included) unless the server took it."""
        message = EmailMessage(policy=POLICY)
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(datetime.now(UTC))
        message.set_content(body)
        # The timeout covers connect and every read: a hung server must not hold the task forever.
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            smtp.send_message(message)
