from alembic import context

from messaging.database import run_migrations_online
from notification_service.db import metadata

run_migrations_online(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
