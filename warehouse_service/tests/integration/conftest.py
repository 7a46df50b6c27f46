from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from messaging.database import make_engine


@pytest.fixture
def warehouse_db(database_url) -> str:
    return database_url(migrate="warehouse_service")


@pytest.fixture
def engine(warehouse_db) -> Iterator[sa.Engine]:
    engine = make_engine(warehouse_db, pool_size=4)
    yield engine
    engine.dispose()
