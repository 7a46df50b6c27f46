"""Who may do what where the data lives: the permission matrix, as data (issue 12).

One RabbitMQ user per service that uses the broker, with rights on its own queues only
(`<service>.*`: its event and task queues and their dead-letter queues), and topic
permissions so that it may publish only the events it owns to `events` (the design's single
writer: order `order.*`, warehouse `shipment.*`, notification `notification.*`, inventory
`product.*`) and only its own tasks to `tasks`. Its API may put its own dead letters back into
the queue they died in (GET and POST /dead-letters, messaging.dead_letters): read on its
dead-letter queues it has already, and it may publish to `replay` only with routing keys that
name its own queues (the API connects as the service's user: a user of its own would hold a
subset of rights the API's database role already outweighs, for two more passwords per
service). The topology (exchanges, queues, bindings) and the users are made by one set-up step
with the administrator (messaging.broker_setup), so no service needs configure rights on what it
does not own. The inventory only publishes (inventory-relay: its catalog's product events), so
its user owns no queue; payment never touches the broker: no user.

PostgreSQL: one role per service, owner of its own database, which only it may connect to
(infra/postgres/10-create-service-databases.sh; e2e_tests/test_least_privilege.py).

docs/security.md prints this matrix; the tests read it from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from messaging.topology import (
    ALL_QUEUES,
    CATALOG_STREAM,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    JOURNAL_STREAM,
    REPLAY_EXCHANGE,
    TASKS_EXCHANGE,
)

# Celery's native delayed delivery (retries with a countdown) declares these at every
# worker start, for all services alike: the one shared thing each worker configures.
CELERY_DELAYED = r"celery_delayed_.*"
# Server-named queues (queue.declare with no name): RabbitMQ names them amq.gen-<random>, and no
# client may declare a name starting with "amq.", so these rights reach only queues the broker
# named. order-web declares one per process, exclusive (no other connection may touch it) and
# auto-delete, for the `order.step` fan-out to its WebSockets (order_service/live.py).
SERVER_NAMED = r"amq\.gen-.*"


@dataclass(frozen=True)
class BrokerUser:
    service: str  # the user's name, and the prefix of the queues it owns
    publishes: str  # routing keys it may publish to `events` (a regex; "^$": none)
    reads: tuple[str, ...] = ()  # queues it does not own that it may read (consume from)
    server_named_queues: bool = False  # may declare, bind and read amq.gen-* queues (SERVER_NAMED)

    @property
    def queues(self) -> tuple[str, ...]:
        owned = [spec for name, spec in ALL_QUEUES.items() if name.startswith(f"{self.service}.")]
        return tuple(name for spec in owned for name in (spec.name, spec.dead_letter_name))

    @property
    def dead_letter_queues(self) -> tuple[str, ...]:
        """The queues its API lists and replays from (GET /dead-letters)."""
        return tuple(name for name in self.queues if name.endswith(".dead-letter"))

    @property
    def own(self) -> str:
        return rf"{re.escape(self.service)}\..*"

    def permissions(self) -> dict[str, str]:
        """RabbitMQ's configure / write / read regexes for the vhost. Declaring a queue takes
        configure on it (and write on its dead-letter exchange); binding takes write on the
        queue and read on the exchange; publishing, write on the exchange; consuming, read on
        the queue. `replay` is written only (broker_setup binds the queues to it)."""
        exchanges = "|".join(
            re.escape(name) for name in (EVENTS_EXCHANGE, TASKS_EXCHANGE, DEAD_LETTER_EXCHANGE)
        )
        read_too = "".join(f"|{re.escape(name)}" for name in self.reads)
        private = f"|{SERVER_NAMED}" if self.server_named_queues else ""
        return {
            "configure": f"^({self.own}|{CELERY_DELAYED}{private})$",
            "write": f"^({exchanges}|{re.escape(REPLAY_EXCHANGE)}|{self.own}|{CELERY_DELAYED}{private})$",
            "read": f"^({exchanges}|{self.own}|{CELERY_DELAYED}{read_too}{private})$",
        }

    def topic_permissions(self) -> dict[str, dict[str, str]]:
        """Per topic exchange, the routing keys it may publish (write) and bind (read). To
        `replay`: only its own queues' names (there, a routing key is a queue's name)."""
        return {
            EVENTS_EXCHANGE: {"write": self.publishes, "read": ".*"},
            TASKS_EXCHANGE: {"write": rf"^{self.own}$", "read": ".*"},
            REPLAY_EXCHANGE: {"write": rf"^{self.own}$", "read": "^$"},
        }


BROKER_USERS = {
    user.service: user
    for user in (
        # The order service indexes the journal (order_service/journal.py) and copies the catalog
        # (order_service/catalog_follower.py): it reads both streams; order-web binds a server-named
        # queue of its own to order.step (order_service/live.py).
        BrokerUser(
            "order",
            publishes=r"^order\.",
            reads=(JOURNAL_STREAM, CATALOG_STREAM),
            server_named_queues=True,
        ),
        BrokerUser("warehouse", publishes=r"^shipment\."),
        BrokerUser("notification", publishes=r"^notification\."),
        # The products' single writer publishes their events; it consumes nothing.
        BrokerUser("inventory", publishes=r"^product\."),
    )
}
# Each service's password comes from the environment (compose: its development default).
PASSWORD_VARIABLES = {service: f"{service.upper()}_BROKER_PASSWORD" for service in BROKER_USERS}


def markdown_matrix() -> str:
    """The broker's half of the matrix as docs/security.md shows it (a test keeps them equal)."""
    lines = [
        "| user | its queues (configure, read) | also reads | publishes to `events` | publishes to `tasks` "
        "| replays to (`replay`) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for user in BROKER_USERS.values():
        topics = user.topic_permissions()
        lines.append(
            f"| `{user.service}` | {', '.join(f'`{name}`' for name in user.queues) or '-'} "
            f"| {', '.join(f'`{name}`' for name in user.reads) or '-'} "
            f"| `{topics[EVENTS_EXCHANGE]['write']}` | `{topics[TASKS_EXCHANGE]['write']}` "
            f"| `{topics[REPLAY_EXCHANGE]['write']}` |"
        )
    return "\n".join(lines) + "\n"
