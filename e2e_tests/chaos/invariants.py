"""What the pipeline promises, checked against one chaos run's snapshot of every service's
data (snapshot.py): no order lost, one shipment and one email of each kind per order, no
duplicate or orphan charge, no oversold unit, no leaked reservation, and each order's
timeline: every transition and every email sent a step, numbered 1, 2, 3 ... once each; and
the order service's catalog copy holding every product as the inventory does."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from e2e_tests.chaos.driver import Catalog, OrderRecord
from e2e_tests.chaos.snapshot import (
    ALLOWED_KINDS,
    EXPECTED_KINDS,
    FINAL,
    PAID,
    Snapshot,
    catalog_differences,
    email_steps_missing,
)

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
        _check_steps(found, snapshot, order_id)
    _check_stock(found, snapshot, catalog)
    for difference in catalog_differences(snapshot):
        found.add("other", "catalog-copy-differs", difference)
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


def _check_steps(found: Findings, snapshot: Snapshot, order_id: str) -> None:
    if not snapshot.steps:  # a stack from before the order's steps
        return
    steps = snapshot.steps.get(order_id, [])
    seqs = [seq for seq, _ in steps]
    if seqs != list(range(1, len(steps) + 1)):
        found.add("other", "step-gap", f"steps numbered {seqs}", order_id=order_id)
    emails = Counter(kind for _, kind in steps if kind.startswith("email."))
    for kind, count in emails.items():
        if count > 1:
            found.add("other", "duplicate-email-step", f"{kind}: {count} steps", order_id=order_id)
    sent = {n["kind"] for n in snapshot.notifications.get(order_id, []) if n["status"] == "SENT"}
    for kind in sorted(set(emails) - {f"email.{kind}" for kind in sent}):
        found.add("other", "step-without-email", f"{kind} but no such email SENT", order_id=order_id)
    if missing := email_steps_missing(snapshot, order_id):
        found.add("other", "email-without-step", f"SENT {missing} without their steps", order_id=order_id)
    transitions = snapshot.transitions.get(order_id, [])
    if len(steps) - sum(emails.values()) != len(transitions):
        found.add(
            "other",
            "transition-without-step",
            f"{len(transitions)} transitions, steps {[kind for _, kind in steps]}",
            order_id=order_id,
        )


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
