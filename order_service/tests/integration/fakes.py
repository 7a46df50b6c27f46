"""In-memory stand-ins for inventory, payment and warehouse, recording every call."""

from __future__ import annotations

from order_service.clients import (
    Captured,
    Declined,
    DownstreamUnavailable,
    Refused,
    ReservationRefused,
    Reserved,
)


class Crash(BaseException):
    """The process dies here: nothing in the saga catches it."""


class FakeInventory:
    """`unit_price_cents`: its price for every SKU, what a reservation's lines come back with."""

    def __init__(
        self, *, refuse=None, down=False, maybe_applied=False, commit_refused=None, commit_down=False,
        unit_price_cents=700,
    ):  # fmt: skip
        self.refuse, self.down, self.maybe_applied = refuse, down, maybe_applied
        self.commit_refused, self.commit_down = commit_refused, commit_down
        self.unit_price_cents = unit_price_cents
        self.calls: list[tuple[str, str]] = []

    def reserve(self, *, order_id, items):
        self.calls.append(("reserve", order_id))
        if self.down:
            raise DownstreamUnavailable("inventory", maybe_applied=self.maybe_applied, detail="down")
        if self.refuse:
            return ReservationRefused(code=self.refuse, sku=items[0]["sku"])
        price = self.unit_price_cents
        priced = [{**item, "unit_price_cents": price} for item in items]
        return Reserved(items=priced, total_cents=sum(i["quantity"] * price for i in items))

    def commit(self, *, order_id):
        self.calls.append(("commit", order_id))
        if self.commit_down:
            raise DownstreamUnavailable("inventory", maybe_applied=False, detail="down")
        return Refused(code=self.commit_refused) if self.commit_refused else None

    def release(self, *, order_id):
        self.calls.append(("release", order_id))
        if self.down:
            raise DownstreamUnavailable("inventory", maybe_applied=False, detail="down")

    def restock(self, *, order_id):
        self.calls.append(("restock", order_id))


class FakePayment:
    def __init__(self, *, decline=False, down=False, maybe_applied=False, crash=False, recorded=None):
        self.decline, self.down, self.maybe_applied, self.crash = decline, down, maybe_applied, crash
        self.recorded = recorded  # what find_charge answers (the payment service's row)
        self.charges: list[dict] = []
        self.calls: list[tuple[str, str]] = []

    def charge(self, **charge):
        self.charges.append(charge)
        if self.crash:
            raise Crash()
        if self.down:
            raise DownstreamUnavailable("payment", maybe_applied=self.maybe_applied, detail="down")
        return Declined(decline_code="generic_decline") if self.decline else Captured(payment_id="pay-1")

    def find_charge(self, *, order_id):
        self.calls.append(("find_charge", order_id))
        return self.recorded

    def refund(self, *, order_id):
        self.calls.append(("refund", order_id))


class FakeWarehouse:
    def __init__(self, *, dispatched=False, down=False):
        self.dispatched, self.down = dispatched, down
        self.calls: list[str] = []

    def cancel_shipment(self, *, order_id):
        self.calls.append(order_id)
        if self.down:
            raise DownstreamUnavailable("warehouse", maybe_applied=False, detail="down")
        return Refused(code="shipment-dispatched") if self.dispatched else None


class FakeEventReceiver:
    """A warehouse or notification `POST /events` for ORDER_FLOW=sync."""

    def __init__(self, *, event_types, down=False):
        self.event_types, self.down = event_types, down
        self.delivered: list = []

    def deliver(self, envelope):
        if envelope.type not in self.event_types:
            return
        if self.down:
            raise DownstreamUnavailable("warehouse", maybe_applied=False, detail="down")
        self.delivered.append(envelope)
