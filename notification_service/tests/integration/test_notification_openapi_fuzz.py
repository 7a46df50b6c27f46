"""The notification API against its OpenAPI document: generated requests, valid and invalid, to
every operation, on a real database and broker; no 5xx and no answer the document does not describe."""

from __future__ import annotations

import pytest

from notification_service.api import create_app
from notification_service.config import Settings
from testsupport.callers import TEST_CALLERS
from testsupport.openapi_fuzz import fuzz

pytestmark = pytest.mark.fuzz


class NoMail:
    """Takes every email: the fuzz is about the API, not SMTP."""

    def send(self, **_: str) -> None:
        pass


def test_generated_requests_get_documented_answers(engine, rabbitmq_server, fuzz_summary):
    settings = Settings(
        database_url="unused",
        broker_url=rabbitmq_server.user_url("notification"),  # GET and POST /dead-letters
        callers=TEST_CALLERS,
    )
    app = create_app(settings, engine=engine, mailer=NoMail())
    report = fuzz(app, service="notification", examples=250)
    fuzz_summary(report.line())
    assert report.requests >= 1000
    assert report.failures == [], "\n".join(report.failures[:20])
