from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from messaging.database import make_engine


@pytest.fixture
def notification_db(database_url) -> str:
    return database_url(migrate="notification_service")


@pytest.fixture
def engine(notification_db) -> Iterator[sa.Engine]:
    engine = make_engine(notification_db, pool_size=4)
    yield engine
    engine.dispose()
