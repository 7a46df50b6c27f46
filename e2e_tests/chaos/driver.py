"""The order driver: a few threads placing orders against the order API while faults land.

Every order of a run has the run's `customer_id`, its own email address (so its emails can be
found in MailDev) and its own Idempotency-Key. Every HTTP attempt is recorded: status code,
answer, latency, or the network error. A client that got no answer retries with the same key
(bounded in count and time), as a real client would; an order whose POST never got an answer
may or may not exist, and is not "lost" unless it was answered 201/202.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

from e2e_tests.stack import URLS, admin_headers

APPROVING = ("tok_visa", "tok_mastercard")
DECLINING = ("tok_chargeDeclined", "tok_chargeDeclinedInsufficientFunds", "tok_chaos_invalid")
# Answers a client retries with the same key: the request may not have been handled.
RETRIED_STATUSES = (500, 502, 504)
RETRIED_PROBLEMS = ("database-unavailable",)


@dataclass(frozen=True)
class Catalog:
    """The run's own SKUs: `initial` is the stock each was created with."""

    initial: dict[str, int]
    plenty: tuple[str, ...]
    scarce: tuple[str, ...]
    unknown: str  # never created: orders for it are rejected (unknown_sku)


def stock_catalog(*, run_id: str, rng: random.Random, plenty: int = 3, scarce: int = 1) -> Catalog:
    """Creates fresh SKUs for one run through the inventory API (PUT /products/{sku})."""
    initial: dict[str, int] = {}
    names = {"plenty": [], "scarce": []}
    for kind, count, stock in (("plenty", plenty, 100_000), ("scarce", scarce, 20)):
        for index in range(count):
            sku = f"CHAOS-{run_id}-{kind[0].upper()}{index}"
            response = requests.put(
                f"{URLS.inventory}/products/{sku}",
                json={
                    "name": f"Chaos {kind} {sku}",
                    "price_cents": rng.randrange(300, 5000),
                    "available": stock,
                },
                headers=admin_headers(),
                timeout=10,
            )
            assert response.status_code == 201, f"PUT /products/{sku}: {response.status_code} {response.text}"
            initial[sku] = stock
            names[kind].append(sku)
    return Catalog(
        initial=initial,
        plenty=tuple(names["plenty"]),
        scarce=tuple(names["scarce"]),
        unknown=f"CHAOS-{run_id}-UNKNOWN",
    )


@dataclass
class Attempt:
    started: float  # seconds since the driver started
    seconds: float
    status: int | None = None  # None: no HTTP answer
    answer: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class OrderRecord:
    key: str
    body: dict[str, Any]
    duplicate: bool = False  # a repeated POST of an earlier key, same body
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def final(self) -> Attempt | None:
        """The last attempt that got an HTTP answer."""
        answered = [a for a in self.attempts if a.status is not None]
        return answered[-1] if answered else None

    @property
    def status(self) -> int | None:
        return self.final.status if self.final else None

    @property
    def order_id(self) -> str | None:
        for attempt in reversed(self.attempts):
            answer = attempt.answer or {}
            found = answer.get("id") or (answer.get("order") or {}).get("id")
            if found:
                return found
        return None

    @property
    def answered_status(self) -> str | None:
        """The order status the answer stated (201/202 body, or the 503 problem's `order`)."""
        answer = (self.final.answer or {}) if self.final else {}
        return answer.get("status") if "id" in answer else (answer.get("order") or {}).get("status")

    @property
    def started(self) -> float:
        return self.attempts[0].started if self.attempts else 0.0

    @property
    def ended(self) -> float:
        last = self.attempts[-1] if self.attempts else None
        return last.started + last.seconds if last else 0.0


class OrderDriver:
    """Places orders from `threads` threads until stopped, or `max_orders` / `max_seconds`."""

    def __init__(
        self,
        *,
        run_id: str,
        catalog: Catalog,
        rng: random.Random,
        threads: int = 3,
        pace: tuple[float, float] = (0.2, 0.7),
        max_orders: int = 1500,
        max_seconds: float = 240.0,
        read_timeout: float = 60.0,
        retry_for_seconds: float = 45.0,
        duplicate_rate: float = 0.06,
    ) -> None:
        self.run_id = run_id
        self.customer_id = f"chaos-{run_id}"
        self.catalog = catalog
        self.threads = threads
        self.pace = pace
        self.max_orders = max_orders
        self.max_seconds = max_seconds
        self.read_timeout = read_timeout
        self.retry_for_seconds = retry_for_seconds
        self.duplicate_rate = duplicate_rate
        self._seeds = [rng.random() for _ in range(threads)]
        self._lock = threading.Lock()
        self._records: list[OrderRecord] = []
        self._count = 0
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._t0 = time.monotonic()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> OrderDriver:
        self._t0 = time.monotonic()
        for index, seed in enumerate(self._seeds):
            worker = threading.Thread(
                target=self._run, args=(index, random.Random(seed)), name=f"driver-{index}", daemon=True
            )
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self, timeout: float = 120.0) -> None:
        """Stops placing orders; waits (bounded) for the requests in flight and their retries."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        alive = [w.name for w in self._workers if w.is_alive()]
        assert not alive, f"driver threads still running after {timeout}s: {alive}"

    def now(self) -> float:
        return time.monotonic() - self._t0

    @property
    def records(self) -> list[OrderRecord]:
        with self._lock:
            return list(self._records)

    @property
    def emails(self) -> set[str]:
        return {record.body["email"] for record in self.records}

    def wait_for_success(self, *, after: float, timeout: float) -> OrderRecord:
        """Polls (deadline) until an order POSTed after `after` (driver time) was answered 201."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records:
                if record.started >= after and record.status == 201:
                    return record
            if self._stop.is_set() and not any(w.is_alive() for w in self._workers):
                break  # nothing more will be placed
            time.sleep(0.2)
        raise AssertionError(f"no order placed after t={after:.1f}s was answered 201 within {timeout}s")

    # --- one thread -------------------------------------------------------------------------

    def _run(self, index: int, rng: random.Random) -> None:
        while not self._stop.is_set() and self.now() < self.max_seconds:
            with self._lock:
                if self._count >= self.max_orders:
                    return
                self._count += 1
                number = self._count
            record = self._new_record(rng, number)
            roll = rng.random()
            if roll < self.duplicate_rate / 2:
                # The same POST twice at once: one of them answers from the stored key.
                twin = OrderRecord(key=record.key, body=record.body, duplicate=True)
                other = threading.Thread(target=self._place, args=(twin,), daemon=True)
                other.start()
                self._place(record)
                other.join(self.read_timeout * 3)
            elif roll < self.duplicate_rate:
                self._place(record)
                self._place(OrderRecord(key=record.key, body=record.body, duplicate=True))
            else:
                self._place(record)
            self._stop.wait(rng.uniform(*self.pace))

    def _new_record(self, rng: random.Random, number: int) -> OrderRecord:
        catalog = self.catalog
        pick = rng.random()
        if pick < 0.02:
            sku, quantity = catalog.unknown, 1
        elif pick < 0.17 and catalog.scarce:
            sku, quantity = rng.choice(catalog.scarce), rng.choice((1, 2, 3))
        else:
            sku, quantity = rng.choice(catalog.plenty), rng.choice((1, 2))
        token = rng.choice(APPROVING) if rng.random() < 0.75 else rng.choice(DECLINING)
        body = {
            "customer_id": self.customer_id,
            "email": f"chaos-{self.run_id}-{number}@example.test",
            "items": [{"sku": sku, "quantity": quantity}],
            "payment_token": token,
        }
        return OrderRecord(key=f"chaos-{self.run_id}-{number}-{uuid.uuid4().hex[:6]}", body=body)

    def _place(self, record: OrderRecord) -> None:
        with self._lock:
            self._records.append(record)
        first = time.monotonic()
        for attempt_number in range(8):
            attempt = Attempt(started=self.now(), seconds=0.0)
            record.attempts.append(attempt)
            began = time.monotonic()
            try:
                response = requests.post(
                    f"{URLS.order}/orders",
                    json=record.body,
                    headers={"Idempotency-Key": record.key},
                    timeout=(3.0, self.read_timeout),
                )
                attempt.status = response.status_code
                try:
                    attempt.answer = response.json()
                except ValueError:
                    attempt.answer = {"raw": response.text[:300]}
            except requests.RequestException as error:
                attempt.error = f"{type(error).__name__}: {str(error)[:200]}"
            attempt.seconds = time.monotonic() - began
            if not self._should_retry(attempt):
                return
            delay = min(4.0, 0.5 * 2**attempt_number)
            if time.monotonic() + delay - first > self.retry_for_seconds:
                return
            time.sleep(delay)  # a client's backoff between retries of one request

    @staticmethod
    def _should_retry(attempt: Attempt) -> bool:
        if attempt.status is None:
            return True
        code = (attempt.answer or {}).get("code")
        return attempt.status in RETRIED_STATUSES or (attempt.status == 503 and code in RETRIED_PROBLEMS)
