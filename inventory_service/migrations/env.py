"""Alembic entry point: the shared runner takes an advisory lock, then applies versions/."""

from alembic import context

from inventory_service.db import metadata
from messaging.database import run_migrations_online

run_migrations_online(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
