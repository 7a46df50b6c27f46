"""HTTP clients for inventory, payment and warehouse.

Timeouts (connect and read) on every call, retries with backoff and jitter (of timeouts and
5xx: a refused connection or a name that does not resolve fails at once), a circuit
breaker per dependency. Every write carries an idempotency key derived from the order,
which is what makes retrying a POST safe here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from opentelemetry.trace import SpanKind
from urllib3.exceptions import NameResolutionError, NewConnectionError

from messaging.backoff import backoff_seconds
from messaging.envelope import Envelope
from messaging.metrics import BREAKER_STATE, BREAKER_STATE_VALUES
from messaging.tracing import TRACEPARENT, current_traceparent, tracer
from order_service.breaker import CLOSED, CircuitBreaker, CircuitOpen


class DownstreamUnavailable(Exception):
    """No usable answer. `maybe_applied` is False only when no attempt reached the server."""

    def __init__(
        self, service: str, *, maybe_applied: bool, detail: str, retry_after: float = 5.0, gone: bool = False
    ) -> None:
        """`gone`: the service's name did not resolve (a stopped container's name is removed)."""
        super().__init__(f"{service} unavailable: {detail}")
        self.service, self.maybe_applied, self.retry_after = service, maybe_applied, retry_after
        self.gone = gone


@dataclass(frozen=True)
class Reserved:
    items: list[dict[str, Any]]
    total_cents: int


@dataclass(frozen=True)
class ReservationRefused:
    code: str  # out-of-stock, unknown-sku, reservation-released
    sku: str | None


@dataclass(frozen=True)
class Captured:
    payment_id: str


@dataclass(frozen=True)
class Declined:
    decline_code: str


@dataclass(frozen=True)
class Refused:
    """A definite 'no' to a commit, restock or cancel (e.g. reservation-released, shipment-dispatched)."""

    code: str


def _nobody_there(error: requests.RequestException) -> bool:
    """The connection was refused, had no route, or the name did not resolve: the request
    never left, and a retry 50 ms later finds the same (a stopped inventory made the first
    order after it wait through every attempt). Not a connect timeout: that one may pass."""
    return isinstance(_reason(error), NewConnectionError)  # NameResolutionError is one too


def _reason(error: requests.RequestException) -> object:
    """urllib3's reason for a failed connection (NewConnectionError, NameResolutionError ...)."""
    return getattr(error.args[0], "reason", None) if error.args else None


def _never_reached_server(error: requests.RequestException) -> bool:
    return isinstance(error, requests.ConnectTimeout) or _nobody_there(error)


def retry_pause_seconds(attempt: int) -> float:
    """50 ms, 100 ms, 200 ms ... (no cap needed: CALL_ATTEMPTS is small), with full jitter so
    retries from many requests spread out."""
    return backoff_seconds(attempt, first=0.05, cap=60.0, spread=1.0)


@dataclass(frozen=True)
class ClientSettings:
    connect_timeout: float
    read_timeout: float
    attempts: int
    breaker_failures: int  # consecutive failed calls that open the circuit
    breaker_reset_seconds: float  # how long it stays open before one probe


class ServiceClient:
    def __init__(self, *, name: str, base_url: str, settings: ClientSettings, token: str) -> None:
        """`token`: the order service's own (ORDER_SERVICE_TOKEN), which the guarded
        endpoints of the services it calls ask for (messaging.guard)."""
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        self.attempts = settings.attempts
        # Only DownstreamUnavailable counts as a failure: a 4xx answer (a decline, out of
        # stock) is the dependency working, so it never opens the circuit.
        state = BREAKER_STATE.labels(dependency=name)
        state.set(BREAKER_STATE_VALUES[CLOSED])  # the series exists before the first change
        self.breaker = CircuitBreaker(
            failures=settings.breaker_failures,
            reset_seconds=settings.breaker_reset_seconds,
            counts_as_failure=DownstreamUnavailable,
            # Each lookup of a stopped container's name costs a resolver timeout (1 s, compose's
            # dns_opt): measured, the first five orders after the inventory stopped took 6.4,
            # 6.2, 3.2 s ... before the circuit opened. A name that is gone opens it at once.
            opens_at_once=lambda error: getattr(error, "gone", False),
            on_change=lambda moved_to: state.set(BREAKER_STATE_VALUES[moved_to]),
        )
        self._local = threading.local()  # a Session per thread: keep-alive without sharing state

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            # Service to service inside the stack: no proxy or .netrc to look up, on every call.
            session.trust_env = False
            session.headers["Authorization"] = f"Bearer {self.token}"
            self._local.session = session
        return self._local.session

    def call(
        self, method: str, path: str, *, json: Any = None, key: str | None = None, retry_unknown: bool = True
    ) -> requests.Response:
        """`retry_unknown=False`: stop at the first answer-less attempt that may have reached
        the server, so the caller can look the outcome up instead of repeating the write. One
        CLIENT span per call (its retries included), whose traceparent every attempt sends: the
        callee's SERVER span is its child (by hand: see messaging.tracing)."""
        with tracer.start_as_current_span(f"{method} {self.name}", kind=SpanKind.CLIENT):
            try:
                return self.breaker.call(self._call_with_retries, method, path, json, key, retry_unknown)
            except CircuitOpen as error:
                raise DownstreamUnavailable(
                    self.name,
                    maybe_applied=False,
                    detail="circuit open",
                    retry_after=self.breaker.reset_seconds,
                ) from error

    def _call_with_retries(
        self, method: str, path: str, json: Any, key: str | None, retry_unknown: bool
    ) -> requests.Response:
        headers = {"Idempotency-Key": key} if key else {}
        if traceparent := current_traceparent():
            headers[TRACEPARENT] = traceparent
        maybe_applied, detail, gone = False, "", False
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(retry_pause_seconds(attempt))
            try:
                response = self.session.request(
                    method, self.base_url + path, json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as error:
                reached = not _never_reached_server(error)
                maybe_applied, detail = maybe_applied or reached, repr(error)
                if (reached and not retry_unknown) or _nobody_there(error):
                    gone = _reason(error).__class__ is NameResolutionError
                    break
                continue
            if response.status_code >= 500:
                maybe_applied, detail = True, f"HTTP {response.status_code}"
                if not retry_unknown:
                    break
                continue
            return response
        raise DownstreamUnavailable(self.name, maybe_applied=maybe_applied, detail=detail, gone=gone)


def _unexpected(client: ServiceClient, response: requests.Response) -> DownstreamUnavailable:
    return DownstreamUnavailable(
        client.name,
        maybe_applied=False,
        detail=f"unexpected HTTP {response.status_code}: {response.text[:200]}",
    )


def _problem_code(response: requests.Response) -> str:
    try:
        return response.json().get("code", "")
    except ValueError:
        return ""


def _ok_or_refused(
    client: ServiceClient, response: requests.Response, *, refusals: tuple[str, ...]
) -> Refused | None:
    if response.status_code == 200:
        return None
    code = _problem_code(response)
    if code in refusals:
        return Refused(code=code)
    raise _unexpected(client, response)


class InventoryClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def reserve(self, *, order_id: str, items: list[dict[str, Any]]) -> Reserved | ReservationRefused:
        response = self.client.call(
            "POST", "/reservations", json={"order_id": order_id, "items": items}, key=f"reserve:{order_id}"
        )
        if response.status_code in (200, 201):
            body = response.json()
            return Reserved(items=body["items"], total_cents=body["total_cents"])
        code = _problem_code(response)
        if code in ("out-of-stock", "unknown-sku", "reservation-released"):
            return ReservationRefused(code=code, sku=response.json().get("sku"))
        raise _unexpected(self.client, response)

    def commit(self, *, order_id: str) -> Refused | None:
        response = self.client.call("POST", f"/reservations/{order_id}/commit", key=f"commit:{order_id}")
        return _ok_or_refused(self.client, response, refusals=("reservation-released",))

    def release(self, *, order_id: str) -> Refused | None:
        response = self.client.call("POST", f"/reservations/{order_id}/release", key=f"release:{order_id}")
        return _ok_or_refused(self.client, response, refusals=())

    def products(self) -> list[Any]:
        """GET /products: every product not removed (the catalog copy's reconcile compares)."""
        response = self.client.call("GET", "/products")
        try:
            products = response.json() if response.status_code == 200 else None
        except ValueError:
            products = None
        if not isinstance(products, list):
            raise _unexpected(self.client, response)
        return products

    def restock(self, *, order_id: str) -> Refused | None:
        """Puts a cancelled order's committed stock back on the shelf."""
        response = self.client.call("POST", f"/reservations/{order_id}/restock", key=f"restock:{order_id}")
        return _ok_or_refused(self.client, response, refusals=("reservation-released",))


class PaymentClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def charge(
        self, *, order_id: str, amount_cents: int, currency: str, payment_token: str
    ) -> Captured | Declined:
        response = self.client.call(
            "POST",
            "/charges",
            json={
                "order_id": order_id,
                "amount_cents": amount_cents,
                "currency": currency,
                "payment_token": payment_token,
            },
            key=f"charge:{order_id}",
            retry_unknown=False,  # a timed-out charge is looked up, never blindly repeated
        )
        return self._outcome(response)

    def find_charge(self, *, order_id: str) -> Captured | Declined | None:
        """The charge made under `charge:{order_id}`, if the payment service has one."""
        response = self.client.call("GET", f"/payments?order_id={order_id}")
        if response.status_code != 200:
            raise _unexpected(self.client, response)
        for payment in response.json():
            if payment["status"] in ("CAPTURED", "REFUNDED"):
                return Captured(payment_id=payment["id"])
            if payment["status"] == "DECLINED":
                return Declined(decline_code=payment.get("decline_code") or "declined")
        return None

    def refund(self, *, order_id: str) -> Refused | None:
        response = self.client.call("POST", "/refunds", json={"order_id": order_id}, key=f"refund:{order_id}")
        # No payment at all (the charge never happened) leaves nothing to refund.
        return _ok_or_refused(self.client, response, refusals=("payment-not-found", "payment-not-refundable"))

    def _outcome(self, response: requests.Response) -> Captured | Declined:
        if response.status_code in (200, 201):
            return Captured(payment_id=response.json()["id"])
        if response.status_code == 402:
            return Declined(decline_code=response.json().get("decline_code", "declined"))
        raise _unexpected(self.client, response)


class WarehouseClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    def cancel_shipment(self, *, order_id: str) -> Refused | None:
        """Atomic in the warehouse: cancels a not-yet-dispatched shipment (or blocks a future
        one); refused with `shipment-dispatched` once it left."""
        response = self.client.call("POST", f"/shipments/{order_id}/cancel", key=f"cancel:{order_id}")
        return _ok_or_refused(self.client, response, refusals=("shipment-dispatched",))


class EventReceiverClient:
    """ORDER_FLOW=sync only: hands an event to a service's `POST /events` and waits for it to
    be handled, instead of publishing it. The receiver's inbox makes a repeat harmless, so
    retrying is safe (the event id is the key)."""

    def __init__(self, client: ServiceClient, *, event_types: frozenset[str]) -> None:
        self.client, self.event_types = client, event_types

    def deliver(self, envelope: Envelope) -> None:
        if envelope.type not in self.event_types:
            return
        response = self.client.call("POST", "/events", json=envelope.to_dict(), key=envelope.id)
        if response.status_code != 200:
            raise _unexpected(self.client, response)
