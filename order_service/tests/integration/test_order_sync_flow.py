"""ORDER_FLOW=sync, the benchmark's baseline: events go over HTTP inline, not through the outbox."""

from __future__ import annotations

import pytest

from contracts.schemas import validate_event
from messaging.settings import ConfigurationError
from order_service import bootstrap
from order_service.api import answer_place_order
from order_service.config import settings_from_env
from order_service.tests.integration.fakes import FakeEventReceiver, FakePayment
from order_service.tests.integration.support import make_deps, order_body, outbox_events


def receivers(*, warehouse_down=False):
    return (
        FakeEventReceiver(event_types=bootstrap.WAREHOUSE_EVENTS, down=warehouse_down),
        FakeEventReceiver(event_types=bootstrap.NOTIFICATION_EVENTS),
    )


def place(engine, deps_receivers, key="k", **fakes):
    deps = make_deps(engine, receivers=deps_receivers, **fakes)
    return answer_place_order(deps=deps, idempotency_key=key, body=order_body())


def test_a_confirmed_order_is_handed_to_warehouse_and_notification_inline_not_queued(engine):
    warehouse, notification = receivers()

    reply = place(engine, (warehouse, notification))

    assert reply.body["status"] == "CONFIRMED"
    [shipped] = warehouse.delivered
    [told] = notification.delivered
    assert shipped is told  # the very same event (same id) to both
    validate_event(shipped.to_dict())
    assert (shipped.type, shipped.data["order_id"]) == ("order.confirmed", reply.order_id)
    assert outbox_events(engine) == []


def test_a_rejection_goes_to_the_notification_service_only(engine):
    warehouse, notification = receivers()

    reply = place(engine, (warehouse, notification), payment=FakePayment(decline=True))

    assert reply.body["status"] == "FAILED"
    assert warehouse.delivered == []
    assert [event.type for event in notification.delivered] == ["order.failed"]


def test_an_unreachable_receiver_gets_the_event_through_the_outbox_so_nothing_is_lost(engine):
    warehouse, notification = receivers(warehouse_down=True)

    reply = place(engine, (warehouse, notification))

    assert reply.body["status"] == "CONFIRMED"  # the order stands; only the hand-over changed
    [queued] = outbox_events(engine)
    assert (queued["type"], queued["data"]["order_id"]) == ("order.confirmed", reply.order_id)
    assert notification.delivered == []  # the outbox reaches both consumers


def test_the_flow_is_a_setting_and_a_typo_is_refused():
    base = {"DATABASE_URL": "postgresql://x/y", "ORDER_SERVICE_TOKEN": "env-order"}
    assert settings_from_env(base).flow == "hybrid"
    assert settings_from_env(base | {"ORDER_FLOW": "sync"}).flow == "sync"
    wired = bootstrap.build_dependencies(settings_from_env(base | {"ORDER_FLOW": "sync"}), engine=object())
    assert [r.event_types for r in wired.event_receivers] == [
        bootstrap.WAREHOUSE_EVENTS,
        bootstrap.NOTIFICATION_EVENTS,
    ]
    assert bootstrap.build_dependencies(settings_from_env(base), engine=object()).event_receivers == ()
    with pytest.raises(ConfigurationError, match="ORDER_FLOW"):
        settings_from_env(base | {"ORDER_FLOW": "async"})
