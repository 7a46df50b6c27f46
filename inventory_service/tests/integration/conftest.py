"""An inventory app on a fresh, migrated database per test (seeded catalog included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from inventory_service.api import create_app
from inventory_service.config import Settings
from messaging.credentials import ORDER_SERVICE
from testsupport.callers import TEST_CALLERS, acting_as


@pytest.fixture
def inventory_app(database_url) -> Iterator[Flask]:
    app = create_app(Settings(database_url=database_url(migrate="inventory_service"), callers=TEST_CALLERS))
    app.testing = True
    yield app
    # Every test has its own database: free its pooled connections before the next one.
    app.extensions["engine"].dispose()


@pytest.fixture
def inventory_client(inventory_app: Flask) -> FlaskClient:
    """The order service, the reservations' caller (PUT /products: `stock.put_product`, as admin)."""
    return acting_as(inventory_app.test_client(), ORDER_SERVICE)


@pytest.fixture
def inventory_engine(inventory_app: Flask) -> sa.Engine:
    return inventory_app.extensions["engine"]
