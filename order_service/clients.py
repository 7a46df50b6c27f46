"""HTTP clients for inventory and payment: timeouts on every call, retries with backoff.

Every write carries an idempotency key derived from the order, so a retry can never
reserve or charge twice; that is what makes retrying a POST safe here.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError


class DownstreamUnavailable(Exception):
    """No usable answer. `maybe_applied` is False only when no attempt reached the server."""

    def __init__(self, service: str, *, maybe_applied: bool, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service, self.maybe_applied = service, maybe_applied


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


def _never_reached_server(error: requests.RequestException) -> bool:
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)  # connection refused / no route


def backoff_seconds(attempt: int) -> float:
    """50 ms, 100 ms, 200 ms ... with full jitter so retries from many requests spread out."""
    return random.uniform(0, 0.05 * 2**attempt)


class ServiceClient:
    def __init__(
        self, *, name: str, base_url: str, connect_timeout: float, read_timeout: float, attempts: int
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.attempts = attempts
        self._local = threading.local()  # a Session per thread: keep-alive without sharing state

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def call(self, method: str, path: str, *, json: Any = None, key: str | None = None) -> requests.Response:
        headers = {"Idempotency-Key": key} if key else {}
        maybe_applied, detail = False, ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(backoff_seconds(attempt))
            try:
                response = self.session.request(
                    method, self.base_url + path, json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as error:
                maybe_applied = maybe_applied or not _never_reached_server(error)
                detail = repr(error)
                continue
            if response.status_code >= 500:
                maybe_applied, detail = True, f"HTTP {response.status_code}"
                continue
            return response
        raise DownstreamUnavailable(self.name, maybe_applied=maybe_applied, detail=detail)


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

    def commit(self, *, order_id: str) -> None:
        response = self.client.call("POST", f"/reservations/{order_id}/commit", key=f"commit:{order_id}")
        if response.status_code != 200:
            raise _unexpected(self.client, response)

    def release(self, *, order_id: str) -> None:
        response = self.client.call("POST", f"/reservations/{order_id}/release", key=f"release:{order_id}")
        if response.status_code != 200:
            raise _unexpected(self.client, response)


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
        )
        if response.status_code in (200, 201):
            return Captured(payment_id=response.json()["id"])
        if response.status_code == 402:
            return Declined(decline_code=response.json().get("decline_code", "declined"))
        raise _unexpected(self.client, response)
