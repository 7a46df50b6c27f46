import pytest

from messaging.database import make_engine


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url(migrate="order_service"), pool_size=4)
    yield engine
    engine.dispose()
