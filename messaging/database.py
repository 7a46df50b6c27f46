"""SQLAlchemy engine and Alembic plumbing shared by every service."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

V = TypeVar("V", bound="DataclassInstance")


def make_engine(url: str, *, pool_size: int) -> sa.Engine:
    """`pool_size`: ProcessSettings.pool_size(role) of the process that uses it. Nothing
    connects until the first query."""
    # pre_ping: a Postgres restart leaves dead pooled connections; test each before use.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10, pool_recycle=300)


def first_unlocked(
    *columns: sa.ColumnElement[Any],
    where: Sequence[sa.ColumnElement[bool]],
    order_by: Sequence[sa.ColumnElement[Any]],
    limit: int,
) -> sa.Select[Any]:
    """SELECT `columns` of the first `limit` rows that match `where`, locked FOR UPDATE SKIP
    LOCKED: concurrent claimers (relays, sweepers, dispatchers, expirers) take disjoint rows
    and never wait for one another, and PostgreSQL re-checks `where` on a row it locks, so a
    row changed meanwhile is not taken."""
    return (
        sa.select(*columns).where(*where).order_by(*order_by).limit(limit).with_for_update(skip_locked=True)
    )


def from_row(value_type: type[V], row: sa.Row, **converted: Any) -> V:
    """A value (a dataclass) from a row with a column named as each of its fields; `converted`:
    the fields that are not a column as it is (an enum from its text, a column named
    otherwise, lines from other rows). Columns the value has no field for are left out."""
    columns = row._mapping
    plain = {name: columns[name] for name in _field_names(value_type) if name not in converted}
    return value_type(**plain, **converted)


@cache
def _field_names(value_type: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(value_type))


def upgrade_to_head(*, service_dir: Path, database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(service_dir / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def run_migrations_online(*, url: str, target_metadata: sa.MetaData | None = None) -> None:
    """Body of every service's migrations/env.py: one advisory lock so that two
    containers starting at once never run the same migration twice."""
    from alembic import context

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_advisory_lock(7413)"))
        try:
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(7413)"))
            connection.commit()
    engine.dispose()
