"""Order tables and the queries the handlers need (SQLAlchemy Core)."""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, insert

from messaging.inbox import Inbox, inbox_table
from messaging.outbox import Outbox, outbox_table
from order_service.domain import (
    FINAL_STATUSES,
    IN_FLIGHT_STATUSES,
    IllegalTransition,
    OrderNotFound,
    check_transition,
    sources_of,
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
inbox = Inbox(inbox_table(metadata))


def get_idempotency_key(connection: sa.Connection, *, key: str) -> sa.Row | None:
    return connection.execute(sa.select(idempotency_keys).where(idempotency_keys.c.key == key)).first()


def record_response(
    connection: sa.Connection, *, key: str, order_id: str, status: int | None, body: Any
) -> None:
    connection.execute(
        idempotency_keys.update()
        .where(idempotency_keys.c.key == key)
        .values(order_id=order_id, response_status=status, response_body=body)
    )


def insert_order(
    connection: sa.Connection,
    *,
    idempotency_key: str,
    fingerprint: str,
    values: dict[str, Any],
    cause: str,
    hold_seconds: float,
) -> sa.Row | None:
    """The new order, its first transition and the idempotency key that names it, in one
    statement (the key's foreign key is checked at the statement's end, when the order
    exists). None when an earlier request holds the key: the caller must roll back, which
    takes the order back with it. A concurrent request with the key waits for ours to end."""
    params = {
        "key": idempotency_key,
        "fingerprint": fingerprint,
        "cause": cause,
        "hold_seconds": hold_seconds,
    }
    statement = _insert_order_statement(tuple(sorted(values)))
    row = connection.execute(statement, params | _bound_values(values)).one()
    return row if row.key_claimed else None


@cache  # one per set of columns: built once, so SQLAlchemy's compiled cache does the rest
def _insert_order_statement(names: tuple[str, ...]) -> sa.Select:
    new_order = (
        orders.insert()
        .values(next_attempt_at=_in_bound_seconds(), **_bound_columns(orders, names))
        .returning(*orders.c)
        .cte("new_order")
    )
    first_transition = order_transitions.insert().from_select(
        ["order_id", "to_status", "cause"],
        sa.select(new_order.c.id, new_order.c.status, sa.bindparam("cause", type_=sa.String)),
    )
    claim = (
        insert(idempotency_keys)
        .values(
            key=sa.bindparam("key"), fingerprint=sa.bindparam("fingerprint"), order_id=sa.bindparam("new_id")
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(idempotency_keys.c.key)
        .cte("claim")
    )
    claimed = sa.select(sa.func.count()).select_from(claim).scalar_subquery()
    return sa.select(*new_order.c, claimed.label("key_claimed")).add_cte(
        first_transition.cte("first_transition")
    )


def get_order(connection: sa.Connection, *, order_id: str, for_update: bool = False) -> sa.Row:
    query = sa.select(orders).where(orders.c.id == order_id)
    row = connection.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise OrderNotFound(order_id)
    return row


def _in(seconds: float | sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def transition(
    connection: sa.Connection, *, order_id: str, target: str, cause: str, hold_seconds: float, **changes: Any
) -> sa.Row:
    """Guarded state change: locks the row, moves it only from a status the state machine
    allows, records the transition. One statement (three before: a third of the order API's
    statements per order); only when nothing moved is the row read again, to say why.
    The sweeper leaves the order alone for `hold_seconds` (the live request is on it)."""
    params = {
        "order_id": order_id,
        "target": target,
        "sources": sources_of(target),
        "cause": cause[:200],
        "hold_seconds": hold_seconds,
    }
    statement = _transition_statement(tuple(sorted(changes)))
    row = connection.execute(statement, params | _bound_values(changes)).first()
    if row is None:
        check_transition(current=get_order(connection, order_id=order_id).status, target=target)
        raise IllegalTransition("a concurrent change", target)  # not reached: the check above raises
    return row


@cache  # one per set of changed columns (a handful): built once, then only executed
def _transition_statement(names: tuple[str, ...]) -> sa.Select:
    current = (
        sa.select(orders.c.id, orders.c.status, orders.c.attempts)
        .where(orders.c.id == sa.bindparam("order_id"))
        .with_for_update()  # waits for a concurrent transition, then sees its result
        .cte("current")
    )
    target = sa.bindparam("target", type_=sa.String)
    moved = (
        orders.update()
        .where(orders.c.id == current.c.id, current.c.status.in_(sa.bindparam("sources", expanding=True)))
        .values(
            status=target,
            updated_at=sa.func.now(),
            next_attempt_at=_in_bound_seconds(),
            **_bound_columns(orders, names),
        )
        .returning(
            *orders.c, current.c.status.label("from_status"), current.c.attempts.label("from_attempts")
        )
        .cte("moved")
    )
    logged = order_transitions.insert().from_select(
        ["order_id", "from_status", "to_status", "cause", "attempt"],
        sa.select(
            moved.c.id,
            moved.c.from_status,
            target,
            sa.bindparam("cause", type_=sa.String),
            moved.c.from_attempts,
        ),
    )
    return sa.select(*(moved.c[column.name] for column in orders.c)).add_cte(logged.cte("logged"))


def _bound_columns(table: sa.Table, names: tuple[str, ...]) -> dict[str, sa.BindParameter]:
    """Column values as parameters `new_<column>`, typed like their columns (JSONB, ...)."""
    return {name: sa.bindparam(f"new_{name}", type_=table.c[name].type) for name in names}


def _bound_values(values: dict[str, Any]) -> dict[str, Any]:
    """The parameters `_bound_columns` declares, for these values."""
    return {f"new_{name}": value for name, value in values.items()}


def _in_bound_seconds() -> sa.ColumnElement:
    return _in(sa.bindparam("hold_seconds", type_=sa.Float))


def update_order(connection: sa.Connection, *, order_id: str, **changes: Any) -> None:
    connection.execute(orders.update().where(orders.c.id == order_id).values(**changes))


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
    due = (
        sa.select(orders.c.id)
        .where(needs_work, orders.c.next_attempt_at <= sa.func.now())
        .order_by(orders.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = connection.execute(
        orders.update()
        .where(orders.c.id.in_(due.scalar_subquery()))
        .values(attempts=orders.c.attempts + 1, next_attempt_at=_in(lease_seconds))
        .returning(orders.c.id)
    )
    return [row.id for row in claimed]


def timeline(connection: sa.Connection, *, order_id: str) -> list[dict[str, Any]]:
    get_order(connection, order_id=order_id)  # 404 for an unknown order, not an empty list
    rows = connection.execute(
        sa.select(order_transitions)
        .where(order_transitions.c.order_id == order_id)
        .order_by(order_transitions.c.id)
    )
    return [
        {
            "at": row.at.isoformat(),
            "from": row.from_status,
            "to": row.to_status,
            "cause": row.cause,
            "attempt": row.attempt,
        }
        for row in rows
    ]


def list_orders(
    connection: sa.Connection,
    *,
    customer_id: str | None,
    status: str | None,
    limit: int,
    before_seq: int | None,
) -> list[sa.Row]:
    query = sa.select(orders).order_by(orders.c.seq.desc()).limit(limit)
    if customer_id:
        query = query.where(orders.c.customer_id == customer_id)
    if status:
        query = query.where(orders.c.status == status)
    if before_seq is not None:
        query = query.where(orders.c.seq < before_seq)
    return list(connection.execute(query))


def order_json(row: sa.Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "customer_id": row.customer_id,
        "email": row.email,
        "items": row.items,
        "total_cents": row.total_cents,
        "currency": row.currency,
        "failure_reason": row.failure_reason,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
