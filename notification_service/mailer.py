"""SMTP adapter: one connection per thread, kept open between emails; and, where the mail
server has an API for it, the question "did you get this Message-ID?" (has_delivered).

Opening a connection costs far more than sending on it (MailDev greets about 100 ms after
the connect, measured from inside the stack, against ~3 ms for a send), so a connection is
reused. A reused connection is checked with NOOP first and replaced if the server dropped
it, so a stale connection never turns into a half-sent email; it is also retired once idle
for longer than servers usually keep one (MailDev and Postfix close after about a minute).
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.policy import SMTP, compat32
from email.utils import format_datetime
from urllib.error import URLError
from urllib.parse import urlencode
from urllib.request import urlopen

from notification_service.config import Settings

SMTP_TIMEOUT_SECONDS = 10.0
MAX_IDLE_SECONDS = 30.0
# Header lines up to RFC 5322's hard limit: with the default 78 a Message-ID built from a
# UUID gets folded onto a continuation line, which naive readers see with a leading space,
# and receivers deduplicate on that header.
POLICY = SMTP.clone(max_line_length=998)
# An all-ASCII email (nearly all of them) is built the compat32 way (MIMEText): EmailMessage's
# header registry parses every header it is given and took half of a send's CPU (py-spy).
ASCII_POLICY = compat32.clone(max_line_length=998)


class SmtpMailer:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        timeout_seconds: float = SMTP_TIMEOUT_SECONDS,
        max_idle_seconds: float = MAX_IDLE_SECONDS,
        sent_mail_api: str | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.timeout_seconds = host, port, sender, timeout_seconds
        self.max_idle_seconds = max_idle_seconds
        self.sent_mail_api = sent_mail_api
        self._local = threading.local()  # smtplib.SMTP is not thread-safe: one per thread

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            sent_mail_api=settings.sent_mail_api,
        )

    def send(
        self, *, to: str, subject: str, body: str, message_id: str, traceparent: str | None = None
    ) -> None:
        """Raises smtplib.SMTPException or OSError (timeouts included) unless the server took it.
        `traceparent`: the sending span's, as a `Traceparent` header: the email names its
        order's trace (messaging.tracing), for whoever follows it past the SMTP server."""
        message = _compose(sender=self.sender, to=to, subject=subject, body=body)
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(datetime.now(UTC))
        if traceparent:
            message["Traceparent"] = traceparent
        smtp = self._connection()
        try:
            smtp.send_message(message)
        except (smtplib.SMTPException, OSError):
            self.close()  # in an unknown state now: the next email starts on a fresh one
            raise
        self._local.last_used = time.monotonic()

    def has_delivered(self, message_id: str) -> bool | None:
        """Asks the mail server's HTTP API (MailDev's `GET /email?messageId=`; a provider's
        message search plays this part in production). None when there is no API to ask.
        Raises OSError when the API does not answer, so the caller retries rather than guesses."""
        if self.sent_mail_api is None:
            return None
        bare = message_id.strip("<>")  # MailDev keeps the id without its angle brackets
        url = f"{self.sent_mail_api.rstrip('/')}/email?{urlencode({'messageId': bare})}"
        try:
            with urlopen(url, timeout=self.timeout_seconds) as response:  # noqa: S310 - our setting, http(s)
                found = json.load(response)
        except (URLError, ValueError) as error:  # URLError is an OSError; ValueError: not JSON
            raise OSError(f"cannot ask {url} for the email: {error!r}") from error
        return any(mail.get("messageId", "").strip("<>") == bare for mail in found)

    def close(self) -> None:
        smtp = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()

    def _connection(self) -> smtplib.SMTP:
        smtp = getattr(self._local, "smtp", None)
        if smtp is not None and not self._still_usable(smtp):
            self.close()
            smtp = None
        if smtp is None:
            # The timeout covers connect and every read: a hung server must not hold the task forever.
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
            self._local.smtp = smtp
        return smtp

    def _still_usable(self, smtp: smtplib.SMTP) -> bool:
        if time.monotonic() - self._local.last_used > self.max_idle_seconds:
            return False
        try:
            return smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False


def _compose(*, sender: str, to: str, subject: str, body: str) -> Message:
    if all(text.isascii() for text in (sender, to, subject, body)):
        message: Message = MIMEText(body, "plain", policy=ASCII_POLICY)
    else:  # the header registry encodes what ASCII cannot say (RFC 2047, SMTPUTF8 addresses)
        message = EmailMessage(policy=POLICY)
        message.set_content(body)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    return message
