"""Order tables and the queries the use cases need (SQLAlchemy Core); every order read
comes back as a domain `Order`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from messaging.database import first_unlocked, from_row
from messaging.inbox import Inbox, inbox_table
from messaging.outbox import Outbox, outbox_table
from messaging.stream_follower import stream_position_table
from order_service.domain import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    STEP_KIND_LENGTH,
    STEP_KINDS,
    IllegalTransition,
    JournalEntry,
    Order,
    OrderNotFound,
    OrderStatus,
    Step,
    Transition,
    check_transition,
    sources_of,
    step_reason,
)

metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),  # keyset pagination
    sa.Column("customer_id", sa.String(100), nullable=False, index=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("items", JSONB, nullable=False),
    sa.Column("total_cents", sa.Integer),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("payment_token", sa.String(100), nullable=False),
    sa.Column("failure_reason", sa.String(50)),
    sa.Column("failed_step", sa.String(50)),
    # False while inventory has not yet been told the final fate of the reservation.
    sa.Column("stock_settled", sa.Boolean, nullable=False, server_default=sa.false()),
    # False while a captured payment still has to be refunded.
    sa.Column("payment_settled", sa.Boolean, nullable=False, server_default=sa.true()),
    # The sweeper's schedule: an in-flight or unsettled order is resumed once this has passed.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    # The seq of the last step of its timeline (order_steps): bumped under the row's lock, so
    # two steps recorded at once still get 1, 2, 3 ... with no gap and no repeat.
    sa.Column("last_step", sa.Integer, nullable=False, server_default="0"),
    sa.Index("orders_email", "email"),  # the storefront's "my orders"
)

# The order's steps (domain.Step): every transition and every email sent, numbered per order.
order_steps = sa.Table(
    "order_steps",
    metadata,
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(STEP_KIND_LENGTH), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.String(50)),
)

order_transitions = sa.Table(
    "order_transitions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("from_status", sa.String(20)),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("cause", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(36), sa.ForeignKey("orders.id")),
    sa.Column("response_status", sa.Integer),
    sa.Column("response_body", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
)

outbox = Outbox(outbox_table(metadata))
# One inbox table; an Inbox per queue, each counting its duplicates under the queue's name.
_inbox = inbox_table(metadata)
shipments_inbox = Inbox(_inbox, consumer="order.shipments")
notifications_inbox = Inbox(_inbox, consumer="order.notifications")

# What the two statements below return, named in full: declared with .columns(), their result
# layout is worked out once and cached, not read from the cursor on every call. Measured with
# cProfile (insert, then two transitions): 800 Python calls per order; 1,180 without .columns();
# 820 with the SQLAlchemy-built statements these replaced.
ORDER_COLUMNS = ", ".join(column.name for column in orders.c)


def to_order(row: sa.Row) -> Order:
    """An order row (or a row that carries every order column, and maybe more) as an Order."""
    return from_row(Order, row, status=OrderStatus(row.status), items=tuple(row.items))


@dataclass(frozen=True)
class IdempotencyKey:
    fingerprint: str  # of the request body that first came with the key
    order_id: str
    response_status: int | None  # the first request's final answer; None while it has none
    response_body: Any


def get_idempotency_key(connection: sa.Connection, *, key: str) -> IdempotencyKey | None:
    row = connection.execute(sa.select(idempotency_keys).where(idempotency_keys.c.key == key)).first()
    if row is None:
        return None
    return from_row(IdempotencyKey, row)


def record_response(
    connection: sa.Connection, *, key: str, order_id: str, status: int | None, body: Any
) -> None:
    connection.execute(
        idempotency_keys.update()
        .where(idempotency_keys.c.key == key)
        .values(order_id=order_id, response_status=status, response_body=body)
    )


# The new order, its first transition and the idempotency key that names it: one statement,
# one round trip. Postgres checks the key's foreign key to orders at the end of the statement,
# after every step below has run, so the key may point at the order inserted beside it.
INSERT_ORDER_SQL = f"""
    WITH new_order AS (
        -- The order; the sweeper leaves it to the live request for :hold_seconds.
        INSERT INTO orders (id, customer_id, email, status, items, currency, payment_token, next_attempt_at,
                            last_step)
        VALUES (:id, :customer_id, :email, :status, :items, :currency, :payment_token,
                now() + make_interval(secs => :hold_seconds), 1)
        RETURNING *
    ), first_transition AS (
        -- Its timeline starts with the status it was created in.
        INSERT INTO order_transitions (order_id, to_status, cause)
        SELECT id, status, :cause FROM new_order
    ), first_step AS (
        -- And so do its steps: seq 1, placed.
        INSERT INTO order_steps (order_id, seq, kind, status, at)
        SELECT id, last_step, :kind, status, updated_at FROM new_order
    ), claim AS (
        -- Claim the idempotency key for it. Held by a transaction still running: wait for its
        -- end. Taken (then or before): insert nothing, and key_claimed says so.
        INSERT INTO idempotency_keys (key, fingerprint, order_id)
        VALUES (:key, :fingerprint, :id)
        ON CONFLICT (key) DO NOTHING
        RETURNING key
    )
    SELECT {ORDER_COLUMNS}, EXISTS (SELECT 1 FROM claim) AS key_claimed FROM new_order
"""
INSERT_ORDER = (
    sa.text(INSERT_ORDER_SQL)
    .bindparams(sa.bindparam("items", type_=JSONB))
    .columns(*orders.c, sa.column("key_claimed", sa.Boolean))
)


def insert_order(
    connection: sa.Connection,
    *,
    idempotency_key: str,
    fingerprint: str,
    order_id: str,
    customer_id: str,
    email: str,
    status: OrderStatus,
    items: list[dict[str, Any]],
    currency: str,
    payment_token: str,
    cause: str,
    hold_seconds: float,
) -> Order | None:
    """The new order, or None when an earlier request holds the key: the caller must then
    roll back, which takes the order back with it."""
    row = connection.execute(
        INSERT_ORDER,
        {
            "id": order_id,
            "customer_id": customer_id,
            "email": email,
            "status": status,
            "items": items,
            "currency": currency,
            "payment_token": payment_token,
            "cause": cause[:200],
            "kind": STEP_KINDS[status],
            "hold_seconds": hold_seconds,
            "key": idempotency_key,
            "fingerprint": fingerprint,
        },
    ).one()
    return to_order(row) if row.key_claimed else None


def get_order(connection: sa.Connection, *, order_id: str) -> Order:
    row = connection.execute(sa.select(orders).where(orders.c.id == order_id)).first()
    if row is None:
        raise OrderNotFound(order_id)
    return to_order(row)


# The guarded state change: one statement, one round trip (three before: a third of the order
# API's statements per order). A change passed as NULL leaves its column as it is.
TRANSITION_SQL = f"""
    WITH locked AS (
        -- Lock the order's row. A concurrent transition holding it makes us wait; Read
        -- Committed then reads the row again, so we check the status it left, not a stale one.
        SELECT id, status, attempts FROM orders WHERE id = :order_id FOR UPDATE
    ), moved AS (
        -- Move it, only from a status the state machine allows (:sources); else no row.
        UPDATE orders SET
            status = :target,
            items = COALESCE(:items, orders.items),
            total_cents = COALESCE(:total_cents, orders.total_cents),
            failure_reason = COALESCE(:failure_reason, orders.failure_reason),
            failed_step = COALESCE(:failed_step, orders.failed_step),
            stock_settled = COALESCE(:stock_settled, orders.stock_settled),
            payment_settled = COALESCE(:payment_settled, orders.payment_settled),
            updated_at = now(),
            last_step = orders.last_step + 1,
            -- the sweeper leaves the order to the live request for :hold_seconds
            next_attempt_at = now() + make_interval(secs => :hold_seconds)
        FROM locked
        WHERE orders.id = locked.id AND locked.status IN :sources
        RETURNING orders.*, locked.status AS from_status, locked.attempts AS from_attempts
    ), logged AS (
        -- Record the transition in the timeline, with the attempt it was made in.
        INSERT INTO order_transitions (order_id, from_status, to_status, cause, attempt)
        SELECT id, from_status, status, :cause, from_attempts FROM moved
    ), stepped AS (
        -- And as the order's next step, numbered by the row it just bumped.
        INSERT INTO order_steps (order_id, seq, kind, status, at, reason)
        SELECT id, last_step, :kind, status, updated_at, :reason FROM moved
    )
    SELECT {ORDER_COLUMNS} FROM moved
"""
TRANSITION = (
    sa.text(TRANSITION_SQL)
    .bindparams(
        # none_as_null: no new items is SQL NULL (keep the column), not the JSON value null.
        sa.bindparam("items", type_=JSONB(none_as_null=True)),
        sa.bindparam("sources", expanding=True),
    )
    .columns(*orders.c)
)


def transition(
    connection: sa.Connection,
    *,
    order_id: str,
    target: OrderStatus,
    cause: str,
    hold_seconds: float,
    items: list[dict[str, Any]] | None = None,
    total_cents: int | None = None,
    failure_reason: str | None = None,
    failed_step: str | None = None,
    stock_settled: bool | None = None,
    payment_settled: bool | None = None,
) -> Order:
    """Move the order to `target`, setting the columns given (None: unchanged), or raise
    IllegalTransition / OrderNotFound: only then is the row read again, to say why."""
    row = connection.execute(
        TRANSITION,
        {
            "order_id": order_id,
            "target": target,
            "sources": sources_of(target),
            "cause": cause[:200],
            "kind": STEP_KINDS[target],
            "reason": step_reason(target, failure_reason),
            "hold_seconds": hold_seconds,
            "items": items,
            "total_cents": total_cents,
            "failure_reason": failure_reason,
            "failed_step": failed_step,
            "stock_settled": stock_settled,
            "payment_settled": payment_settled,
        },
    ).first()
    if row is None:
        check_transition(current=get_order(connection, order_id=order_id).status, target=target)
        raise IllegalTransition("a concurrent change", target)  # not reached: the check above raises
    return to_order(row)


def _in(seconds: float) -> sa.ColumnElement:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def mark_settled(
    connection: sa.Connection, *, order_id: str, stock: bool = False, payment: bool = False
) -> None:
    """Inventory (`stock`) or payment confirmed the compensation the order owed."""
    settled: dict[str, bool] = {}
    if stock:
        settled["stock_settled"] = True
    if payment:
        settled["payment_settled"] = True
    connection.execute(orders.update().where(orders.c.id == order_id).values(**settled))


def postpone(connection: sa.Connection, *, order_id: str, seconds: float) -> None:
    connection.execute(
        orders.update()
        .where(orders.c.id == order_id)
        .values(attempts=orders.c.attempts + 1, next_attempt_at=_in(seconds))
    )


def claim_due_orders(connection: sa.Connection, *, limit: int, lease_seconds: float) -> list[str]:
    """Orders whose saga stopped moving, or whose stock/payment is not settled yet, and whose
    time has come. Claiming pushes next_attempt_at out, so two sweepers never take the same one."""
    needs_work = sa.or_(
        orders.c.status.in_(IN_FLIGHT_STATUSES),
        sa.not_(orders.c.stock_settled) & orders.c.status.in_(FINAL_STATUSES),
        sa.not_(orders.c.payment_settled),
    )
    due = first_unlocked(
        orders.c.id,
        where=[needs_work, orders.c.next_attempt_at <= sa.func.now()],
        order_by=[orders.c.next_attempt_at],
        limit=limit,
    )
    claimed = connection.execute(
        orders.update()
        .where(orders.c.id.in_(due.scalar_subquery()))
        .values(attempts=orders.c.attempts + 1, next_attempt_at=_in(lease_seconds))
        .returning(orders.c.id)
    )
    return [row.id for row in claimed]


@dataclass(frozen=True)
class InFlight:
    """The orders whose saga has not ended, for the metrics (order_service.gauges)."""

    count: int
    overdue: int  # the sweeper should have resumed them more than a horizon ago
    oldest_seconds: float  # since the least recently moved one last moved (0: none in flight)


def in_flight(connection: sa.Connection, *, horizon_seconds: float) -> InFlight:
    """One statement; the status index finds the few in-flight rows among all the orders. An
    order is due when next_attempt_at passes, and the sweeper (every SWEEP_EVERY_SECONDS)
    claims it at once, pushing next_attempt_at out: one still due a horizon later is stuck."""
    overdue = orders.c.next_attempt_at < sa.func.now() - sa.func.make_interval(
        0, 0, 0, 0, 0, 0, horizon_seconds
    )
    row = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(overdue),
            sa.func.extract("epoch", sa.func.now() - sa.func.min(orders.c.updated_at)),
        ).where(orders.c.status.in_(IN_FLIGHT_STATUSES))
    ).one()
    return InFlight(count=row[0], overdue=row[1], oldest_seconds=float(row[2] or 0.0))


def transitions_of(connection: sa.Connection, *, order_id: str) -> list[Transition]:
    """The order's timeline, oldest first (empty for an unknown order)."""
    rows = connection.execute(
        sa.select(order_transitions)
        .where(order_transitions.c.order_id == order_id)
        .order_by(order_transitions.c.id)
    )
    return [from_row(Transition, row) for row in rows]


def step_of(order: Order) -> Step:
    """The step the order's last transition recorded (from the row it returned)."""
    return Step(
        order_id=order.id, seq=order.last_step, kind=STEP_KINDS[order.status], status=order.status,
        at=order.updated_at, reason=step_reason(order.status, order.failure_reason),
    )  # fmt: skip


# An email sent, as the order's next step: the order's row numbers it (under its lock), at
# the time the notification service sent it. None when the order is unknown.
RECORD_EMAIL_STEP = sa.text("""
    WITH bumped AS (
        UPDATE orders SET last_step = last_step + 1 WHERE id = :order_id
        RETURNING id, last_step, status
    )
    INSERT INTO order_steps (order_id, seq, kind, status, at)
    SELECT id, last_step, :kind, status, :at FROM bumped
    RETURNING order_id, seq, kind, status, at, reason
""")


def record_email_step(connection: sa.Connection, *, order_id: str, kind: str, at: datetime) -> Step | None:
    row = connection.execute(RECORD_EMAIL_STEP, {"order_id": order_id, "kind": kind, "at": at}).first()
    return None if row is None else from_row(Step, row)


def steps_of(connection: sa.Connection, *, order_id: str, after: int = 0) -> list[Step]:
    """The order's steps after seq `after`, oldest first (empty for an unknown order)."""
    rows = connection.execute(
        sa.select(order_steps)
        .where(order_steps.c.order_id == order_id, order_steps.c.seq > after)
        .order_by(order_steps.c.seq)
    )
    return [from_row(Step, row) for row in rows]


def orders_of_email(connection: sa.Connection, *, email: str, limit: int = 50) -> list[Order]:
    """The orders placed with this email address, newest first."""
    query = sa.select(orders).where(orders.c.email == email).order_by(orders.c.seq.desc()).limit(limit)
    return [to_order(row) for row in connection.execute(query)]


# The journal's index: an event of the stream per row, by its id (published twice, recorded
# once), and how far into each stream its follower has read (messaging.stream_follower).
journal = sa.Table(
    "journal",
    metadata,
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("stream_offset", sa.BigInteger, nullable=False),
    sa.Column("order_id", sa.String(100), index=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("producer", sa.String(100), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("trace_id", sa.String(32)),
)
# Named for its first user; the catalog copy's follower keeps its row here too.
journal_position = stream_position_table(metadata, "journal_position")


def record_journal(connection: sa.Connection, entries: list[JournalEntry]) -> None:
    """The entries, an event already recorded left as it is (the follower stores the position
    after them in the same transaction)."""
    if entries:
        rows = [vars(entry) for entry in entries]
        connection.execute(insert(journal).on_conflict_do_nothing(index_elements=["event_id"]), rows)


def journal_of(connection: sa.Connection, *, order_id: str) -> list[JournalEntry]:
    """Every indexed event about the order, oldest first (as produced; the stream's order
    between two of the same time)."""
    rows = connection.execute(
        sa.select(journal)
        .where(journal.c.order_id == order_id)
        .order_by(journal.c.occurred_at, journal.c.stream_offset)
    )
    return [from_row(JournalEntry, row) for row in rows]


def list_orders(
    connection: sa.Connection,
    *,
    customer_id: str | None,
    status: str | None,
    limit: int,
    before_seq: int | None,
) -> list[Order]:
    query = sa.select(orders).order_by(orders.c.seq.desc()).limit(limit)
    if customer_id:
        query = query.where(orders.c.customer_id == customer_id)
    if status:
        query = query.where(orders.c.status == status)
    if before_seq is not None:
        query = query.where(orders.c.seq < before_seq)
    return [to_order(row) for row in connection.execute(query)]
