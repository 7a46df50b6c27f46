"""What the pipeline promises, checked against every service's data for one chaos run.

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

from e2e_tests.chaos.driver import Catalog, OrderRecord
from e2e_tests.stack import URLS, database_url, queue_state
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

# Table columns of the report; a violation counts in one of them (or in "other").
COLUMNS = (
    "lost",
    "dup_shipments",
    "dup_emails",
    "dup_charges",
    "charged_not_confirmed",
    "oversold",
    "leaked",
    "other",
)


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


def read_light(stores: Stores, *, customer_id: str) -> Snapshot:
    """What convergence needs: the run's orders, their notifications, outboxes, event queues."""
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
        for database in ("order_service", "warehouse_service")
    }
    return Snapshot(
        orders=orders, notifications=dict(notifications), unsent=unsent, queues=queue_state(EVENT_QUEUES)
    )


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


# --- the invariants --------------------------------------------------------------------------


@dataclass
class Findings:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    violations: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(
        self, column: str, kind: str, detail: str, *, amount: int = 1, order_id: str | None = None
    ) -> None:
        self.counts[column] += amount
        self.violations.append({"column": column, "kind": kind, "order_id": order_id, "detail": detail})

    @property
    def clean(self) -> bool:
        return not any(self.counts.values())


def check(snapshot: Snapshot, *, records: list[OrderRecord], catalog: Catalog) -> Findings:
    found = Findings()
    orders = snapshot.orders
    _check_answers(found, snapshot, records)
    for order_id, order in orders.items():
        _check_order_integrity(found, snapshot, order_id, order)
        _check_money(found, snapshot, order_id, order)
        _check_shipments(found, snapshot, order_id, order)
        _check_notifications(found, snapshot, order_id, order)
    _check_stock(found, snapshot, catalog)
    statuses = Counter(o["status"] for o in orders.values())
    keys = {r.key for r in records}
    answered = {r.key for r in records if not r.duplicate and r.status is not None}
    found.figures = {
        "placed": len(keys),
        "posts": len(records),
        "duplicate_posts": sum(r.duplicate for r in records),
        "answered": len(answered),
        "unanswered": len(keys - answered),
        "http": dict(Counter(str(r.status) for r in records)),
        "orders_in_db": len(orders),
        "statuses": dict(statuses),
        "confirmed": statuses["CONFIRMED"] + statuses["SHIPPED"],
        "failed": statuses["FAILED"],
        "rejected": statuses["REJECTED"],
        "cancelled": statuses["CANCELLED"],
        "refunded": sum(p["status"] == "REFUNDED" for ps in snapshot.payments.values() for p in ps),
        "emails": sum(snapshot.emails.values()),
    }
    return found


def _check_answers(found: Findings, snapshot: Snapshot, records: list[OrderRecord]) -> None:
    by_key: dict[str, list[OrderRecord]] = defaultdict(list)
    for record in records:
        by_key[record.key].append(record)
    for key, same_key in by_key.items():
        stored = snapshot.keys.get(key)
        ids = {r.order_id for r in same_key if r.order_id}
        if len(ids) > 1:
            found.add("other", "one-key-two-orders", f"key {key} answered with orders {sorted(ids)}")
        for record in same_key:
            if record.status not in (201, 202):
                continue
            order_id = record.order_id
            if stored is None:
                found.add(
                    "lost",
                    "answered-key-unknown",
                    f"key {key} answered {record.status}, no such key stored",
                    order_id=order_id,
                )
            elif order_id is None:
                found.add(
                    "other", "answer-without-id", f"key {key} answered {record.status} without an order id"
                )
            elif order_id not in snapshot.orders:
                found.add(
                    "lost",
                    "answered-order-missing",
                    f"key {key} answered {record.status} {record.answered_status}, order not in the order DB",
                    order_id=order_id,
                )
            else:
                final = snapshot.orders[order_id]["status"]
                said = record.answered_status
                if said == "CONFIRMED" and final not in PAID | {"CANCELLED"}:
                    found.add(
                        "lost",
                        "confirmed-answer-contradicted",
                        f"answered CONFIRMED, ended {final}",
                        order_id=order_id,
                    )
                elif said in ("REJECTED", "FAILED") and final != said:
                    found.add(
                        "other",
                        "final-answer-contradicted",
                        f"answered {said}, ended {final}",
                        order_id=order_id,
                    )
        if stored is not None and ids and stored["order_id"] not in ids:
            found.add(
                "other", "key-points-elsewhere", f"key {key} stored for {stored['order_id']}, answered {ids}"
            )
    referenced = {row["order_id"] for row in snapshot.keys.values()}
    for key, row in snapshot.keys.items():
        if row["order_id"] is None:
            found.add("other", "half-written-key", f"key {key} stored without an order")
    for order_id in set(snapshot.orders) - referenced:
        found.add(
            "other", "orphan-order", "an order of the run no Idempotency-Key points to", order_id=order_id
        )


def _check_order_integrity(found: Findings, snapshot: Snapshot, order_id: str, order: dict[str, Any]) -> None:
    trail = snapshot.transitions.get(order_id, [])
    if not trail or trail[-1] != order["status"]:
        found.add(
            "other", "half-written-order", f"status {order['status']}, transitions {trail}", order_id=order_id
        )
    priced = order["total_cents"] is not None and all(
        i.get("unit_price_cents") is not None for i in order["items"]
    )
    if order["status"] in PAID and not priced:
        found.add(
            "other",
            "half-written-order",
            f"{order['status']} without prices: {order['items']}",
            order_id=order_id,
        )
    if order["status"] not in FINAL:
        found.add("other", "not-converged", f"still {order['status']}", order_id=order_id)


def _check_money(found: Findings, snapshot: Snapshot, order_id: str, order: dict[str, Any]) -> None:
    payments = snapshot.payments.get(order_id, [])
    captured = [p for p in payments if p["status"] == "CAPTURED"]
    if len(captured) > 1:
        found.add(
            "dup_charges",
            "duplicate-charge",
            f"{len(captured)} CAPTURED payments",
            amount=len(captured) - 1,
            order_id=order_id,
        )
    if captured and order["status"] not in PAID:
        found.add(
            "charged_not_confirmed",
            "captured-not-confirmed",
            f"CAPTURED {captured[0]['amount_cents']} but order {order['status']} ({order['failure_reason']})",
            order_id=order_id,
        )
    if order["status"] in PAID and not captured:
        found.add(
            "other", "confirmed-without-capture", f"{order['status']}, payments {payments}", order_id=order_id
        )
    for payment in captured:
        if order["total_cents"] is not None and payment["amount_cents"] != order["total_cents"]:
            found.add(
                "other",
                "amount-mismatch",
                f"captured {payment['amount_cents']}, order total {order['total_cents']}",
                order_id=order_id,
            )


def _check_shipments(found: Findings, snapshot: Snapshot, order_id: str, order: dict[str, Any]) -> None:
    shipments = snapshot.shipments.get(order_id, [])
    if order["status"] in PAID and not shipments:
        found.add(
            "lost", "confirmed-without-shipment", f"{order['status']} with no shipment", order_id=order_id
        )
    if len(shipments) > 1:
        found.add(
            "dup_shipments",
            "duplicate-shipment",
            f"{len(shipments)} shipments",
            amount=len(shipments) - 1,
            order_id=order_id,
        )
    if shipments and order["status"] not in PAID | {"CANCELLED"}:
        found.add(
            "other",
            "shipment-for-unpaid-order",
            f"order {order['status']}, shipments {shipments}",
            order_id=order_id,
        )


def _check_notifications(found: Findings, snapshot: Snapshot, order_id: str, order: dict[str, Any]) -> None:
    rows = snapshot.notifications.get(order_id, [])
    per_kind = Counter(n["kind"] for n in rows)
    attempts = {n["kind"]: n["attempts"] or 0 for n in rows}
    kinds = set(per_kind) | {kind for (oid, kind) in snapshot.emails if oid == order_id}
    for kind in kinds:
        mails = snapshot.emails.get((order_id, kind), 0)
        extra = max(per_kind[kind] - 1, attempts.get(kind, 0) - 1, mails - 1, 0)
        if extra:
            found.add(
                "dup_emails",
                "duplicate-email",
                f"{kind}: {mails} emails in MailDev (at {snapshot.email_times.get((order_id, kind))}), "
                f"{per_kind[kind]} rows, attempts {attempts.get(kind)}",
                amount=extra,
                order_id=order_id,
            )
        if kind not in ALLOWED_KINDS.get(order["status"], set()):
            found.add("other", "unexpected-email", f"{kind} for a {order['status']} order", order_id=order_id)
    sent = {n["kind"] for n in rows if n["status"] == "SENT"}
    for kind in EXPECTED_KINDS.get(order["status"], set()):
        if kind not in sent:
            found.add(
                "other",
                "missing-notification",
                f"{kind} not SENT for a {order['status']} order",
                order_id=order_id,
            )
        elif not snapshot.emails.get((order_id, kind)):
            found.add("other", "missing-email", f"{kind} SENT but not in MailDev", order_id=order_id)


def _check_stock(found: Findings, snapshot: Snapshot, catalog: Catalog) -> None:
    orders = snapshot.orders
    expected_sold: Counter[str] = Counter()
    for order in orders.values():
        if order["status"] in PAID:
            for item in order["items"]:
                expected_sold[item["sku"]] += item["quantity"]
    held: Counter[str] = Counter()
    for order_id, reservation in snapshot.reservations.items():
        status = reservation["status"]
        order = orders.get(order_id)
        order_status = order["status"] if order else None
        if status == "RESERVED":
            for sku, quantity in reservation["lines"].items():
                held[sku] += quantity
            if order_status is None or order_status in FINAL | {"CONFIRMED"}:
                found.add(
                    "leaked",
                    "leaked-reservation",
                    f"RESERVED {reservation['lines']} but order {order_status}",
                    order_id=order_id,
                )
        elif status == "COMMITTED" and order_status not in PAID:
            found.add(
                "oversold",
                "committed-for-unpaid-order",
                f"COMMITTED but order {order_status}",
                amount=0,
                order_id=order_id,
            )
        elif status in ("RELEASED", "RESTOCKED") and order_status in PAID and reservation["lines"]:
            found.add(
                "oversold",
                "released-for-paid-order",
                f"{status} but order {order_status}",
                amount=0,
                order_id=order_id,
            )
    for sku, initial in catalog.initial.items():
        product = snapshot.products.get(sku)
        if product is None:
            found.add("other", "product-missing", f"{sku} not in the inventory")
            continue
        available, reserved, sold = product["available"], product["reserved"], product["sold"]
        units = (
            max(0, -available) + abs(available + reserved + sold - initial) + abs(sold - expected_sold[sku])
        )
        if units:
            found.add(
                "oversold",
                "stock-mismatch",
                f"{sku}: initial {initial}, available {available} reserved {reserved} sold {sold}, "
                f"paid orders hold {expected_sold[sku]}",
                amount=units,
            )
        if reserved != held[sku]:
            found.add("other", "reserved-mismatch", f"{sku}: reserved {reserved}, RESERVED lines {held[sku]}")
