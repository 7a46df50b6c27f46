"""An inventory app on a fresh, migrated database per test (seeded catalog included)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from inventory_service.api import create_app
from inventory_service.config import Settings


@pytest.fixture
def inventory_app(database_url) -> Iterator[Flask]:
    app = create_app(Settings(database_url=database_url(migrate="inventory_service")))
    app.testing = True
    yield app
    # Every test has its own database: free its pooled connections before the next one.
    app.extensions["engine"].dispose()


@pytest.fixture
def inventory_client(inventory_app: Flask) -> FlaskClient:
    return inventory_app.test_client()


@pytest.fixture
def inventory_engine(inventory_app: Flask) -> sa.Engine:
    return inventory_app.extensions["engine"]
