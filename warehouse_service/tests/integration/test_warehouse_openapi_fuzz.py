"""The warehouse API against its OpenAPI document: generated requests, valid and invalid, to
every operation, on a real database and broker; no 5xx and no answer the document does not describe."""

from __future__ import annotations

import pytest

from testsupport.callers import TEST_CALLERS
from testsupport.openapi_fuzz import fuzz
from warehouse_service.api import create_app
from warehouse_service.config import Settings

pytestmark = pytest.mark.fuzz


def test_generated_requests_get_documented_answers(engine, rabbitmq_server, fuzz_summary):
    settings = Settings(
        database_url="unused",
        broker_url=rabbitmq_server.user_url("warehouse"),  # GET and POST /dead-letters
        dispatch_delay_seconds=60,
        callers=TEST_CALLERS,
    )
    app = create_app(settings, engine=engine)
    report = fuzz(app, service="warehouse", examples=145)
    fuzz_summary(report.line())
    assert report.requests >= 1000
    assert report.failures == [], "\n".join(report.failures[:20])
