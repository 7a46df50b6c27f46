"""GET /dead-letters and POST /dead-letters/replay of the notification API on a real broker, as the
notification's own user: every documented status, and a 503 when the broker does not answer."""

from __future__ import annotations

from notification_service.api import create_app
from notification_service.config import Settings
from testsupport.callers import TEST_CALLERS
from testsupport.dead_letters import (
    UNREACHABLE_BROKER,
    broker_down_is_a_documented_503,
    reach_every_documented_status,
)

NO_DATABASE = "postgresql+psycopg2://nobody:nothing@127.0.0.1:1/notification"  # never reached here


def test_the_dead_letters_answer_as_documented(rabbitmq_server):
    settings = Settings(
        database_url=NO_DATABASE, broker_url=rabbitmq_server.user_url("notification"), callers=TEST_CALLERS
    )
    reach_every_documented_status(
        create_app(settings), rabbitmq_server.url, "notification.events.dead-letter"
    )


def test_a_broker_that_does_not_answer_is_a_documented_503():
    settings = Settings(database_url=NO_DATABASE, broker_url=UNREACHABLE_BROKER, callers=TEST_CALLERS)
    broker_down_is_a_documented_503(create_app(settings), "notification.tasks.dead-letter")
