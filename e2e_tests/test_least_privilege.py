"""Least privilege where the data lives (issue 12): each service's PostgreSQL role reaches its
own database and nothing else, and may not create roles or databases; each service's RabbitMQ
user has exactly the rights of messaging/permissions.py (what those rights refuse is shown
in messaging/tests/integration/test_broker_permissions.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from e2e_tests.stack import MANAGEMENT_URL, container_env, database_url, postgres_url
from messaging.permissions import BROKER_USERS

SERVICES = ("order", "inventory", "payment", "warehouse", "notification")


def role_url(service: str, database: str) -> str:
    """The service's own DATABASE_URL (as compose gave it to its API), aimed at `database`
    through the port the stack publishes."""
    url = sa.engine.make_url(container_env(f"{service}-api", "DATABASE_URL"))
    published = sa.engine.make_url(postgres_url())
    return url.set(host=published.host, port=published.port, database=database).render_as_string(
        hide_password=False
    )


def connects(url: str) -> bool:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("SELECT 1")).scalar() == 1
    except sa.exc.OperationalError as refused:
        assert "permission denied for database" in str(refused), refused
        return False
    finally:
        engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_role_connects_to_its_own_database_and_to_no_other(service):
    reachable = {other: connects(role_url(service, f"{other}_service")) for other in SERVICES}
    assert reachable == {other: other == service for other in SERVICES}


def test_no_service_role_is_privileged_or_owns_another_database():
    engine = sa.create_engine(database_url("postgres"), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        roles = connection.execute(
            sa.text(
                "SELECT r.rolname, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolbypassrls,"
                " array_agg(d.datname ORDER BY d.datname) FILTER (WHERE d.datname IS NOT NULL) AS owns"
                " FROM pg_roles r LEFT JOIN pg_database d ON d.datdba = r.oid"
                " WHERE r.rolname LIKE '%\\_service' GROUP BY 1, 2, 3, 4, 5"
            )
        ).all()
    engine.dispose()
    assert {
        row.rolname: (row.rolsuper, row.rolcreatedb, row.rolcreaterole, row.rolbypassrls, row.owns)
        for row in roles
    } == {f"{service}_service": (False, False, False, False, [f"{service}_service"]) for service in SERVICES}


def management(path: str) -> list[dict]:
    user, password = (container_env("rabbitmq", f"RABBITMQ_DEFAULT_{key}") for key in ("USER", "PASS"))
    response = requests.get(f"{MANAGEMENT_URL}/{path}", auth=(user, password), timeout=10)
    response.raise_for_status()
    return response.json()


def test_the_broker_holds_exactly_the_matrix_of_messaging_permissions():
    """broker-setup made a user per service with the rights of messaging/permissions.py, and
    nobody else has rights on the vhost but the administrator."""
    administrator = container_env("rabbitmq", "RABBITMQ_DEFAULT_USER")
    permissions = {
        each["user"]: {key: each[key] for key in ("configure", "write", "read")}
        for each in management("permissions")
        if each["user"] != administrator
    }
    topic = {
        (each["user"], each["exchange"]): {key: each[key] for key in ("write", "read")}
        for each in management("topic-permissions")
    }
    assert permissions == {service: user.permissions() for service, user in BROKER_USERS.items()}
    assert topic == {
        (service, exchange): keys
        for service, user in BROKER_USERS.items()
        for exchange, keys in user.topic_permissions().items()
    }


def test_the_services_connect_to_the_broker_as_their_own_users():
    users = {
        service: urlsplit(container_env(process, "BROKER_URL")).username
        for service, process in {
            "order": "order-relay",
            "order-journal": "order-journal",
            "order-catalog": "order-catalog",
            "order-worker": "order-worker",
            "warehouse": "warehouse-relay",
            "warehouse-worker": "warehouse-worker",
            "notification": "notification-worker",
            "notification-relay": "notification-relay",
            "inventory-relay": "inventory-relay",
        }.items()
    }
    assert users == {
        "order": "order",
        "order-journal": "order",
        "order-catalog": "order",
        "order-worker": "order",
        "warehouse": "warehouse",
        "warehouse-worker": "warehouse",
        "notification": "notification",
        "notification-relay": "notification",
        "inventory-relay": "inventory",
    }
    connected = {each["user"] for each in management("connections")}
    assert {"order", "warehouse", "notification", "inventory"} <= connected
