"""What to tell the customer, and how to say it (stdlib only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

MESSAGE_ID_DOMAIN = "order-pipeline.local"
EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")  # the contracts' "email" format; no whitespace


class NotificationKind(StrEnum):
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_REJECTED = "order_rejected"
    ORDER_FAILED = "order_failed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_SHIPPED = "order_shipped"


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    # The mail server refused its recipient for good (5xx to every RCPT): no retry can send
    # it, so no sweep tries again (nor waits behind it). No notification.sent: it never went.
    UNDELIVERABLE = "UNDELIVERABLE"


KIND_BY_EVENT_TYPE = {
    "order.confirmed": NotificationKind.ORDER_CONFIRMED,
    "order.rejected": NotificationKind.ORDER_REJECTED,
    "order.failed": NotificationKind.ORDER_FAILED,
    "order.cancelled": NotificationKind.ORDER_CANCELLED,
    "shipment.dispatched": NotificationKind.ORDER_SHIPPED,
}

# News that a later one makes wrong: a confirmation that arrives (redelivered, reordered)
# after the order's cancellation is not sent, so the customer's last word is the true one.
SUPERSEDED_BY = {NotificationKind.ORDER_CONFIRMED: NotificationKind.ORDER_CANCELLED}

# Reason codes as the customer should read them; unknown codes are shown as words.
REASONS = {
    "out_of_stock": "an item you ordered is out of stock",
    "unknown_sku": "an item you ordered is not in our catalogue",
    "price_changed": "the price of an item changed since you saw it",
    "payment_declined": "your payment was declined",
    "customer_request": "you asked us to cancel it",
}


class InvalidEvent(ValueError):
    """An event we cannot write an email for: no retry will fix it."""


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


@dataclass(frozen=True)
class NotificationDraft:
    order_id: str
    kind: NotificationKind
    recipient: str
    email: Email


@dataclass(frozen=True)
class Notification:
    """A notification as the service keeps it (the email's text aside)."""

    notification_id: str
    order_id: str
    kind: NotificationKind
    recipient: str
    status: NotificationStatus
    created_at: datetime
    sent_at: datetime | None = None


@dataclass(frozen=True)
class ClaimedNotification:
    """A PENDING notification a sender has claimed: what it mails."""

    notification_id: str
    draft: NotificationDraft
    in_doubt: bool = False  # an earlier sender may have got it to the SMTP server
    traceparent: str | None = None  # the span that recorded it: the send continues its trace


SENT_EVENT = "notification.sent"  # what the service publishes: an email went out (contracts/)


def sent_event_data(claimed: ClaimedNotification, *, sent_at: datetime) -> dict[str, Any]:
    """The data of the `notification.sent` event of an email recorded SENT at `sent_at`."""
    return {
        "notification_id": claimed.notification_id,
        "order_id": claimed.draft.order_id,
        "kind": claimed.draft.kind.value,
        "sent_at": sent_at.isoformat(),
    }


def kind_for(event_type: str) -> NotificationKind | None:
    return KIND_BY_EVENT_TYPE.get(event_type)


def draft_notification(*, event_type: str, data: dict[str, Any]) -> NotificationDraft | None:
    """None for event types the customer is not told about."""
    kind = kind_for(event_type)
    if kind is None:
        return None
    order_id, recipient = data.get("order_id"), data.get("email")
    if not isinstance(order_id, str) or not order_id:
        raise InvalidEvent("data.order_id must be a non-empty string")
    # Both go into header lines (Subject, To), where a line break makes the mail unsendable:
    # refuse it now, not after it is recorded and every send (and the sweep) fails.
    if "\r" in order_id or "\n" in order_id:
        raise InvalidEvent("data.order_id must not contain line breaks")
    if not isinstance(recipient, str) or not EMAIL_ADDRESS.fullmatch(recipient):
        raise InvalidEvent("data.email must be an email address")
    return NotificationDraft(
        order_id=order_id,
        kind=kind,
        recipient=recipient,
        email=render(kind=kind, order_id=order_id, data=data),
    )


def render(*, kind: NotificationKind, order_id: str, data: dict[str, Any]) -> Email:
    if kind is NotificationKind.ORDER_CONFIRMED:
        total = format_money(data.get("total_cents"), data.get("currency"))
        paid = f" We received your payment of {total}." if total else ""
        return Email(
            subject=f"Your order {order_id} is confirmed",
            body=f"Thank you for your order {order_id}.{paid} We will let you know when it ships.\n",
        )
    if kind is NotificationKind.ORDER_REJECTED:
        return Email(
            subject=f"We could not accept your order {order_id}",
            body=f"We are sorry: we could not accept your order {order_id} because "
            f"{describe_reason(data.get('reason'))}. You have not been charged.\n",
        )
    if kind is NotificationKind.ORDER_FAILED:
        return Email(
            subject=f"Your order {order_id} could not be completed",
            body=f"We are sorry: your order {order_id} could not be completed because "
            f"{describe_reason(data.get('reason'))}.\n",
        )
    if kind is NotificationKind.ORDER_CANCELLED:
        return Email(
            subject=f"Your order {order_id} has been cancelled",
            body=f"Your order {order_id} has been cancelled because "
            f"{describe_reason(data.get('reason'))}. It will not be shipped, and if you were "
            "charged for it, the payment is refunded.\n",
        )
    shipment = data.get("shipment_id")
    reference = f" (shipment {shipment})" if isinstance(shipment, str) and shipment else ""
    return Email(
        subject=f"Your order {order_id} has shipped",
        body=f"Good news: your order {order_id} is on its way{reference}.\n",
    )


def describe_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason:
        return "of a problem on our side"
    return REASONS.get(reason, reason.replace("_", " "))


def format_money(cents: Any, currency: Any) -> str | None:
    if not isinstance(cents, int) or isinstance(cents, bool) or cents < 0:
        return None
    code = f" {currency}" if isinstance(currency, str) and currency else ""
    return f"{cents // 100}.{cents % 100:02d}{code}"


def message_id(*, order_id: str, kind: NotificationKind | str) -> str:
    """The same Message-ID for every attempt: a resent email can be recognised as a duplicate."""
    local = re.sub(r"[^A-Za-z0-9._-]", "-", f"{order_id}.{kind}")
    return f"<{local}@{MESSAGE_ID_DOMAIN}>"
