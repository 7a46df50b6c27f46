"""A payment app on a fresh, migrated database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from payment_service.api import create_app
from payment_service.config import Settings


@pytest.fixture
def payment_app(database_url) -> Iterator[Flask]:
    app = create_app(Settings(database_url=database_url(migrate="payment_service")))
    app.testing = True
    yield app
    # Every test has its own database: free its pooled connections before the next one.
    app.extensions["engine"].dispose()


@pytest.fixture
def payment_client(payment_app: Flask) -> FlaskClient:
    return payment_app.test_client()
