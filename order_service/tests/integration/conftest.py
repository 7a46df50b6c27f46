import pytest

from messaging.database import make_engine


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url(migrate="order_service"), pool_size=4)
    yield engine
    engine.dispose()


@pytest.fixture
def catalog_broker(rabbitmq_server):
    """The broker with an empty catalog stream: a follower reads it from its start, and what
    another test published there would be copied too."""
    import pika

    from messaging.broker import connection_parameters
    from messaging.topology import CATALOG_STREAM, declare_with_pika

    with pika.BlockingConnection(connection_parameters(rabbitmq_server.url)) as connection:
        channel = connection.channel()
        channel.queue_delete(CATALOG_STREAM)
        declare_with_pika(channel)
    return rabbitmq_server
