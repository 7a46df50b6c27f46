"""A payment app on a fresh, migrated database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from messaging.credentials import ORDER_SERVICE
from payment_service.api import create_app
from payment_service.config import Settings
from testsupport.callers import TEST_CALLERS, acting_as


@pytest.fixture
def payment_app(database_url) -> Iterator[Flask]:
    app = create_app(Settings(database_url=database_url(migrate="payment_service"), callers=TEST_CALLERS))
    app.testing = True
    yield app
    # Every test has its own database: free its pooled connections before the next one.
    app.extensions["engine"].dispose()


@pytest.fixture
def payment_client(payment_app: Flask) -> FlaskClient:
    """The order service, the charges' and refunds' caller."""
    return acting_as(payment_app.test_client(), ORDER_SERVICE)
