import pytest

from e2e_tests.stack import wait_for_stack


@pytest.fixture(scope="session", autouse=True)
def stack():
    """The compose stack must be up (`make up`); wait, with a deadline, until every part is ready."""
    wait_for_stack()
