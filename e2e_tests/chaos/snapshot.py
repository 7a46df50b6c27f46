"""One chaos run's data, read from every service: what the invariants are checked against.

Bulk reads go straight to each service's database, read-only (the APIs answer one order at
a time: thousands of calls per run), and to MailDev's `GET /email`; queue depths come from
passive AMQP declares. Everything is scoped to the run: its customer id, its orders, its SKUs,
its customers' email addresses.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests
import sqlalchemy as sa

from e2e_tests.chaos.driver import Catalog
from e2e_tests.stack import URLS, database_url, queue_state
from inventory_service.domain import availability
from messaging import topology

DATABASES = (
    "order_service",
    "inventory_service",
    "payment_service",
    "warehouse_service",
    "notification_service",
)
FINAL = frozenset({"SHIPPED", "REJECTED", "FAILED", "CANCELLED"})
PAID = frozenset({"CONFIRMED", "SHIPPED"})  # the order keeps the money and the stock
EVENT_QUEUES = tuple(topology.EVENT_QUEUES)
# The emails each final status calls for, and those it allows.
EXPECTED_KINDS = {
    "SHIPPED": {"order_confirmed", "order_shipped"},
    "REJECTED": {"order_rejected"},
    "FAILED": {"order_failed"},
    "CANCELLED": {"order_cancelled"},
}
ALLOWED_KINDS = {**EXPECTED_KINDS, "CANCELLED": {"order_confirmed", "order_cancelled", "order_shipped"}}
SETTLED_FLAGS = ("stock_settled", "payment_settled")  # the order service's "nothing owed" columns


class Stores:
    """Read-only connections to the five service databases."""

    def __init__(self) -> None:
        self.engines = {
            name: sa.create_engine(
                database_url(name),
                poolclass=sa.pool.NullPool,
                connect_args={"options": "-c default_transaction_read_only=on", "connect_timeout": 5},
            )
            for name in DATABASES
        }
        self._columns: dict[tuple[str, str], set[str]] = {}

    def rows(self, database: str, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engines[database].connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.text(sql), params)]

    def columns(self, database: str, table: str) -> set[str]:
        if (database, table) not in self._columns:
            found = self.rows(
                database,
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = :t AND table_schema = 'public'",
                t=table,
            )
            self._columns[(database, table)] = {row["column_name"] for row in found}
        return self._columns[(database, table)]

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


# --- reading the run's data ------------------------------------------------------------------


@dataclass
class Snapshot:
    orders: dict[str, dict[str, Any]]
    notifications: dict[str, list[dict[str, Any]]]
    unsent: dict[str, int]
    queues: dict[str, tuple[int, int]]
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    transitions: dict[str, list[str]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    shipments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    emails: dict[tuple[str, str], int] = field(default_factory=dict)
    email_times: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    stray_emails: list[str] = field(default_factory=list)
    steps: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # (seq, kind), by seq
    # Every product as the inventory holds it and as the order service's copy holds it, by SKU:
    # (version, name, price_cents, availability, removed).
    catalog_source: dict[str, tuple] = field(default_factory=dict)
    catalog_copy: dict[str, tuple] = field(default_factory=dict)


def email_steps_missing(snapshot: Snapshot, order_id: str) -> list[str]:
    """The kinds of the order's SENT emails its timeline has no step for (yet)."""
    sent = {n["kind"] for n in snapshot.notifications.get(order_id, []) if n["status"] == "SENT"}
    stepped = {kind.removeprefix("email.") for _, kind in snapshot.steps.get(order_id, [])}
    return sorted(sent - stepped)


def read_light(stores: Stores, *, customer_id: str) -> Snapshot:
    """What convergence needs: the run's orders, their notifications and steps, outboxes, event queues."""
    flags = [flag for flag in SETTLED_FLAGS if flag in stores.columns("order_service", "orders")]
    columns = ", ".join(["id", "status", "email", "items", "total_cents", "failure_reason", *flags])
    orders = {
        row["id"]: row
        for row in stores.rows(
            "order_service", f"SELECT {columns} FROM orders WHERE customer_id = :c", c=customer_id
        )
    }
    notifications: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if orders:
        for row in stores.rows(
            "notification_service",
            "SELECT order_id, kind, status, attempts FROM notifications WHERE order_id = ANY(:ids)",
            ids=list(orders),
        ):
            notifications[row["order_id"]].append(row)
    unsent = {
        database: stores.rows(database, "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")[0]["n"]
        for database in ("order_service", "warehouse_service", "notification_service", "inventory_service")
    }
    steps: dict[str, list[tuple[int, str]]] = defaultdict(list)
    if orders and stores.columns("order_service", "order_steps"):  # (a stack from before issue 14: none)
        for row in stores.rows(
            "order_service",
            "SELECT order_id, seq, kind FROM order_steps WHERE order_id = ANY(:ids) ORDER BY order_id, seq",
            ids=list(orders),
        ):
            steps[row["order_id"]].append((row["seq"], row["kind"]))
    return Snapshot(
        orders=orders,
        notifications=dict(notifications),
        unsent=unsent,
        queues=queue_state(EVENT_QUEUES),
        steps=dict(steps),
        **read_catalogs(stores),
    )


def read_catalogs(stores: Stores) -> dict[str, dict[str, tuple]]:
    """The inventory's products and the order service's copy of them (all of them: few)."""
    source = {
        row["sku"]: (
            row["version"],
            row["name"],
            row["price_cents"],
            availability(row["available"]).value,
            row["removed_at"] is not None,
        )
        for row in stores.rows(
            "inventory_service", "SELECT sku, version, name, price_cents, available, removed_at FROM products"
        )
    }
    copy = {
        row["sku"]: (row["version"], row["name"], row["price_cents"], row["availability"], row["removed"])
        for row in stores.rows(
            "order_service", "SELECT sku, version, name, price_cents, availability, removed FROM catalog"
        )
    }
    return {"catalog_source": source, "catalog_copy": copy}


def catalog_differences(snapshot: Snapshot) -> list[str]:
    """Every product the copy does not hold as the inventory does (a SKU only the copy has too)."""
    skus = sorted(snapshot.catalog_source.keys() | snapshot.catalog_copy.keys())
    return [
        f"{sku}: inventory {snapshot.catalog_source.get(sku)}, copy {snapshot.catalog_copy.get(sku)}"
        for sku in skus
        if snapshot.catalog_source.get(sku) != snapshot.catalog_copy.get(sku)
    ]


def read_full(
    stores: Stores, *, customer_id: str, catalog: Catalog, keys: list[str], emails: set[str]
) -> Snapshot:
    snapshot = read_light(stores, customer_id=customer_id)
    ids = list(snapshot.orders)
    snapshot.keys = {
        row["key"]: row
        for row in stores.rows(
            "order_service",
            "SELECT key, order_id, response_status FROM idempotency_keys WHERE key = ANY(:keys)",
            keys=keys,
        )
    }
    trail: dict[str, list[str]] = defaultdict(list)
    for row in stores.rows(
        "order_service",
        "SELECT order_id, to_status FROM order_transitions WHERE order_id = ANY(:ids) ORDER BY id",
        ids=ids,
    ):
        trail[row["order_id"]].append(row["to_status"])
    snapshot.transitions = dict(trail)
    skus = list(catalog.initial)
    snapshot.products = {
        row["sku"]: row
        for row in stores.rows(
            "inventory_service",
            "SELECT sku, available, reserved, sold FROM products WHERE sku = ANY(:skus)",
            skus=skus,
        )
    }
    reservations: dict[str, dict[str, Any]] = {}
    for row in stores.rows(
        "inventory_service",
        "SELECT r.order_id, r.status, l.sku, l.quantity FROM reservations r "
        "LEFT JOIN reservation_lines l ON l.order_id = r.order_id "
        "WHERE r.order_id = ANY(:ids) OR l.sku = ANY(:skus)",
        ids=ids,
        skus=skus,
    ):
        entry = reservations.setdefault(row["order_id"], {"status": row["status"], "lines": {}})
        if row["sku"] is not None:
            entry["lines"][row["sku"]] = row["quantity"]
    snapshot.reservations = reservations
    payments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in stores.rows(
        "payment_service",
        "SELECT id, order_id, status, amount_cents FROM payments WHERE order_id = ANY(:ids)",
        ids=ids,
    ):
        payments[row["order_id"]].append(row)
    snapshot.payments = dict(payments)
    shipments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in stores.rows(
        "warehouse_service", "SELECT id, order_id, status FROM shipments WHERE order_id = ANY(:ids)", ids=ids
    ):
        shipments[row["order_id"]].append(row)
    snapshot.shipments = dict(shipments)
    snapshot.email_times, snapshot.stray_emails = read_emails(emails)
    snapshot.emails = {key: len(times) for key, times in snapshot.email_times.items()}
    return snapshot


def read_emails(addresses: set[str]) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """MailDev's messages to the run's customers, counted per (order id, kind). The
    notification service sets Message-ID `<{order_id}.{kind}@...>` on every attempt."""
    mails = None
    for _ in range(10):  # bounded: MailDev may be busy for a moment
        try:
            response = requests.get(f"{URLS.maildev}/email", timeout=30)
            response.raise_for_status()
            mails = response.json()
            break
        except requests.RequestException:
            time.sleep(1)
    assert mails is not None, "MailDev GET /email did not answer"
    times: dict[tuple[str, str], list[str]] = defaultdict(list)
    stray: list[str] = []
    for mail in mails:
        if not any(to.get("address") in addresses for to in mail.get("to") or []):
            continue
        local = (mail.get("messageId") or "").strip("<>").split("@")[0]
        order_id, _, kind = local.rpartition(".")
        if order_id and kind:
            times[(order_id, kind)].append(mail.get("time") or mail.get("date") or "?")
        else:
            stray.append(f"{mail.get('subject')!r} to {mail.get('to')}")
    return {key: sorted(value) for key, value in times.items()}, stray


# --- convergence -----------------------------------------------------------------------------


def convergence_gaps(snapshot: Snapshot) -> list[str]:
    """What is still moving; empty once the run has converged."""
    gaps = []
    moving = Counter(o["status"] for o in snapshot.orders.values() if o["status"] not in FINAL)
    if moving:
        examples = [i for i, o in snapshot.orders.items() if o["status"] not in FINAL][:3]
        gaps.append(f"orders not final: {dict(moving)} e.g. {examples}")
    for flag in SETTLED_FLAGS:
        owed = [i for i, o in snapshot.orders.items() if o["status"] in FINAL and o.get(flag) is False]
        if owed:
            gaps.append(f"{len(owed)} final orders with {flag}=false e.g. {owed[:3]}")
    unsent_mail = []
    for order_id, order in snapshot.orders.items():
        sent = {n["kind"] for n in snapshot.notifications.get(order_id, []) if n["status"] == "SENT"}
        missing = EXPECTED_KINDS.get(order["status"], set()) - sent
        if missing:
            unsent_mail.append((order_id, sorted(missing)))
    if unsent_mail:
        gaps.append(f"{len(unsent_mail)} orders without all their emails SENT e.g. {unsent_mail[:3]}")
    # An email SENT reaches its order's timeline through the notification outbox and the order
    # worker (ready 0 in its queue may still be a batch in hand): wait for its step too.
    unstepped = [(i, missing) for i in snapshot.orders if (missing := email_steps_missing(snapshot, i))]
    if snapshot.steps and unstepped:
        gaps.append(f"{len(unstepped)} orders without a step for each email SENT e.g. {unstepped[:3]}")
    # The inventory's outbox sent is not the copy caught up: the follower reads the stream after.
    if behind := catalog_differences(snapshot):
        gaps.append(f"catalog copy: {len(behind)} products differ e.g. {behind[:2]}")
    for database, count in snapshot.unsent.items():
        if count:
            gaps.append(f"{database} outbox: {count} unsent")
    for queue, (ready, _consumers) in snapshot.queues.items():
        if ready:
            gaps.append(f"queue {queue}: {ready} ready")
    return gaps


def wait_converged(stores: Stores, *, customer_id: str, timeout: float) -> tuple[float | None, list[str]]:
    """Polls (deadline) until nothing of the run is moving: (seconds it took, None on timeout; gaps)."""
    began = time.monotonic()
    gaps: list[str] = ["not read yet"]
    while time.monotonic() - began < timeout:
        try:
            gaps = convergence_gaps(read_light(stores, customer_id=customer_id))
        except Exception as error:  # noqa: BLE001 - a store still coming back: keep polling
            gaps = [f"could not read: {error!r}"[:300]]
        if not gaps:
            return time.monotonic() - began, []
        time.sleep(1.0)
    return None, gaps
