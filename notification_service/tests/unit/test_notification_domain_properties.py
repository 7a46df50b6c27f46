"""Properties of the notification's reader of events and its emails (hypothesis): any event
data is either a draft, nothing (an event the customer is not told about) or the domain's
own InvalidEvent, never another exception; what it writes is safe in a mail header."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from notification_service.domain import (
    EMAIL_ADDRESS,
    KIND_BY_EVENT_TYPE,
    InvalidEvent,
    NotificationDraft,
    NotificationKind,
    draft_notification,
    message_id,
)
from testsupport.json_values import bodies, json_values

event_types = st.sampled_from(sorted(KIND_BY_EVENT_TYPE)) | st.text(max_size=20)
valid_data = st.fixed_dictionaries(
    {
        "order_id": st.text(min_size=1, max_size=40),
        "email": st.from_regex(r"[a-z0-9.+]{1,20}@[a-z0-9.-]{1,20}", fullmatch=True),
        "reason": json_values,
        "total_cents": json_values | st.integers(min_value=0),
        "currency": json_values,
        "shipment_id": json_values,
    }
)
MESSAGE_ID = re.compile(r"<[A-Za-z0-9._-]+@order-pipeline\.local>")


@given(event_types, bodies(valid_data))
def test_event_data_is_a_draft_nothing_or_invalid(event_type, data):
    try:
        draft = draft_notification(event_type=event_type, data=data)
    except InvalidEvent:
        assert event_type in KIND_BY_EVENT_TYPE  # only events it reads can be invalid
        return
    if draft is None:
        assert event_type not in KIND_BY_EVENT_TYPE
        return
    assert isinstance(draft, NotificationDraft)
    assert draft.kind is KIND_BY_EVENT_TYPE[event_type]
    assert (draft.order_id, draft.recipient) == (data["order_id"], data["email"])
    # Subject and To are header lines: a line break in either would make the mail unsendable.
    assert "\r" not in draft.email.subject and "\n" not in draft.email.subject
    assert EMAIL_ADDRESS.fullmatch(draft.recipient)
    assert draft.order_id in draft.email.subject and draft.email.body.endswith("\n")


@given(st.text(max_size=60), st.sampled_from(NotificationKind))
def test_the_message_id_is_a_valid_header_value_for_any_order(order_id, kind):
    assert MESSAGE_ID.fullmatch(message_id(order_id=order_id, kind=kind))
    assert message_id(order_id=order_id, kind=kind) == message_id(order_id=order_id, kind=kind)
