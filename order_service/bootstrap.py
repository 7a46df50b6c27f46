"""The order service's composition root: settings in, the adapters the use cases run on out.
The API (api.py) and the worker (celery_app.py) both wire themselves here; tests build
`Dependencies` directly, with fakes in place of the HTTP clients."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from messaging import topology
from order_service.clients import (
    EventReceiverClient,
    InventoryClient,
    PaymentClient,
    ServiceClient,
    WarehouseClient,
)
from order_service.config import Settings


@dataclass(frozen=True)
class Dependencies:
    engine: sa.Engine
    inventory: InventoryClient
    payment: PaymentClient
    warehouse: WarehouseClient
    currency: str
    hold_seconds: float = 10.0  # how long the sweeper leaves an order to the request working on it
    step_pause_seconds: float = 0.0  # test hook: widens the windows the chaos suite kills order-api in
    # ORDER_FLOW=sync (the benchmark's baseline): who gets each event over HTTP; empty = outbox.
    event_receivers: tuple[EventReceiverClient, ...] = ()


# What the warehouse and notification workers consume: their queues' bindings.
WAREHOUSE_EVENTS = frozenset(topology.EVENT_QUEUES["warehouse.orders"].routing_keys)
NOTIFICATION_EVENTS = frozenset(topology.EVENT_QUEUES["notification.events"].routing_keys)


def build_dependencies(settings: Settings, *, engine: sa.Engine) -> Dependencies:
    """The wiring both composition roots share: the API and the worker (sweeper). `engine`:
    the caller's, pooled for its kind of process (or a test's own)."""
    return Dependencies(
        engine=engine,
        inventory=inventory_client(settings),
        payment=PaymentClient(
            ServiceClient(
                name="payment",
                base_url=settings.payment_url,
                settings=settings.payment,
                token=settings.service_token,
            )
        ),
        warehouse=WarehouseClient(
            ServiceClient(
                name="warehouse",
                base_url=settings.warehouse_url,
                settings=settings.warehouse,
                token=settings.service_token,
            )
        ),
        currency=settings.currency,
        hold_seconds=settings.stale_after_seconds,
        step_pause_seconds=settings.step_pause_seconds,
        event_receivers=_event_receivers(settings),
    )


def inventory_client(settings: Settings) -> InventoryClient:
    """Also order-catalog's, which reconciles its copy with GET /products."""
    return InventoryClient(
        ServiceClient(
            name="inventory",
            base_url=settings.inventory_url,
            settings=settings.inventory,
            token=settings.service_token,
        )
    )


def _event_receivers(settings: Settings) -> tuple[EventReceiverClient, ...]:
    if settings.flow != "sync":
        return ()  # hybrid: events leave through the outbox
    return (
        EventReceiverClient(
            ServiceClient(
                name="warehouse",
                base_url=settings.warehouse_url,
                settings=settings.warehouse,
                token=settings.service_token,
            ),
            event_types=WAREHOUSE_EVENTS,
        ),
        EventReceiverClient(
            ServiceClient(
                name="notification",
                base_url=settings.notification_url,
                settings=settings.notification,
                token=settings.service_token,
            ),
            event_types=NOTIFICATION_EVENTS,
        ),
    )
