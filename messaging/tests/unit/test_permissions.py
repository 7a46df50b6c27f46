"""The permission matrix: every queue has exactly one owner, whose regexes admit it and no one
else's; docs/security.md shows the matrix as configured."""

from __future__ import annotations

import re
from pathlib import Path

from messaging.permissions import BROKER_USERS, markdown_matrix
from messaging.topology import ALL_QUEUES

ROOT = Path(__file__).resolve().parents[3]


def test_every_queue_and_its_dead_letter_queue_has_one_owner():
    owned = [queue for user in BROKER_USERS.values() for queue in user.queues]
    every = [name for spec in ALL_QUEUES.values() for name in (spec.name, spec.dead_letter_name)]
    assert sorted(owned) == sorted(every)


def test_a_user_may_configure_and_read_its_own_queues_and_no_others():
    for user in BROKER_USERS.values():
        rights = user.permissions()
        for other in BROKER_USERS.values():
            for queue in other.queues:
                mine = other is user
                assert bool(re.fullmatch(rights["configure"], queue)) is mine, (user.service, queue)
                assert bool(re.fullmatch(rights["read"], queue)) is mine, (user.service, queue)


def test_only_the_owner_of_an_event_may_publish_it():
    samples = {
        "order.confirmed": "order",
        "order.cancelled": "order",
        "shipment.dispatched": "warehouse",
        "notification.sent": "notification",
        "product.created": "inventory",
        "product.snapshot": "inventory",
    }
    for event_type, owner in samples.items():
        publishers = {
            user.service
            for user in BROKER_USERS.values()
            if re.search(user.topic_permissions()["events"]["write"], event_type)
        }
        assert publishers == {owner}, event_type


def test_docs_security_shows_the_matrix_as_configured():
    assert markdown_matrix() in (ROOT / "docs" / "security.md").read_text()
