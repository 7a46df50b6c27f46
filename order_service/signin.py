"""Sign-in by email link for "my orders": nobody lists the orders of an address they cannot
read mail at.

The link carries a token: the email address, signed with ORDER_WEB_SECRET (itsdangerous,
salted for this one use) and stamped with its time, so it is refused once older than
`max_age_seconds` or if altered. Following it puts the address in the Flask session (a cookie
signed with the same secret); the orders page lists that address's orders only.

Sent straight over SMTP (to MailDev in compose), not as a pipeline notification: it is not
about an order, it must arrive while the customer waits on the page (not after an event, an
outbox and a Celery queue), and a lost one costs nothing: the customer asks again. The
notification service's promise, once per order and kind, whatever fails, is for the emails
that the order's history owes.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from order_service.domain import EMAIL_PATTERN

SALT = "order-web.sign-in"


class InvalidSignInLink(ValueError):
    """Altered, for another purpose, or expired (`expired`)."""

    def __init__(self, *, expired: bool) -> None:
        super().__init__("the sign-in link has expired" if expired else "the sign-in link is not valid")
        self.expired = expired


def valid_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL_PATTERN.fullmatch(value) is not None


def normalized_email(value: str) -> str:
    """What a customer types, as the orders were stored: surrounding spaces off, nothing else
    (the part before the @ may be case-sensitive; the order API stores it as given)."""
    return value.strip()


@dataclass(frozen=True)
class SignInLinks:
    secret: str
    max_age_seconds: float

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=SALT)

    def token(self, email: str) -> str:
        return self._serializer().dumps(email)

    def email_of(self, token: str) -> str:
        """The address the token was made for; InvalidSignInLink if it is not one of ours, was
        altered, or is older than max_age_seconds."""
        try:
            email = self._serializer().loads(token, max_age=self.max_age_seconds)
        except SignatureExpired as error:
            raise InvalidSignInLink(expired=True) from error
        except BadSignature as error:
            raise InvalidSignInLink(expired=False) from error
        if not isinstance(email, str) or not valid_email(email):
            raise InvalidSignInLink(expired=False)
        return email


@dataclass(frozen=True)
class SignInMailer:
    """Sends the link over SMTP; a connection per email (a customer asks now and then)."""

    host: str
    port: int
    sender: str
    timeout_seconds: float = 5.0

    def send(self, *, to: str, link: str, minutes: int) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = "Your sign-in link: my orders"
        message.set_content(
            f"Follow this link to see your orders (it works for {minutes} minutes):\n\n{link}\n\n"
            "If you did not ask for it, ignore this email: nothing happens without the link.\n"
        )
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            smtp.send_message(message)
