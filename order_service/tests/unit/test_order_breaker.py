import threading

import pytest

from order_service.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen


class Down(Exception):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, failures: int = 2) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, reset_seconds=10, counts_as_failure=Down, clock=clock)


def fail() -> None:
    raise Down


def test_consecutive_failures_open_the_circuit_and_it_then_fails_fast():
    circuit, calls = breaker(Clock()), []
    for _ in range(2):
        with pytest.raises(Down):
            circuit.call(fail)

    with pytest.raises(CircuitOpen):
        circuit.call(calls.append, "not called")

    assert circuit.current_state == OPEN
    assert calls == []


def test_a_success_resets_the_count_of_failures():
    circuit = breaker(Clock())
    with pytest.raises(Down):
        circuit.call(fail)
    assert circuit.call(lambda: "ok") == "ok"
    with pytest.raises(Down):
        circuit.call(fail)

    assert circuit.current_state == CLOSED


def test_other_errors_are_not_the_dependency_failing():
    circuit = breaker(Clock(), failures=1)
    with pytest.raises(KeyError):
        circuit.call(lambda: {}["missing"])

    assert circuit.current_state == CLOSED


def test_after_the_cool_down_one_probe_goes_through_and_its_success_closes_the_circuit():
    clock = Clock()
    circuit = breaker(clock, failures=1)
    with pytest.raises(Down):
        circuit.call(fail)
    clock.now = 10.0
    assert circuit.current_state == HALF_OPEN
    inside, release = threading.Event(), threading.Event()
    probe = threading.Thread(target=circuit.call, args=(lambda: inside.set() or release.wait(5),))
    probe.start()
    assert inside.wait(5)

    with pytest.raises(CircuitOpen):  # only one probe at a time
        circuit.call(lambda: "second")
    release.set()
    probe.join(5)

    assert circuit.current_state == CLOSED
    assert circuit.call(lambda: "after") == "after"


def test_a_failed_probe_opens_the_circuit_for_another_cool_down():
    clock = Clock()
    circuit = breaker(clock, failures=3)
    for _ in range(3):
        with pytest.raises(Down):
            circuit.call(fail)
    clock.now = 10.0
    with pytest.raises(Down):
        circuit.call(fail)

    assert circuit.current_state == OPEN
    clock.now = 19.9
    with pytest.raises(CircuitOpen):
        circuit.call(lambda: "too soon")


def test_calls_run_concurrently_not_one_at_a_time():
    circuit, arrived = breaker(Clock()), threading.Barrier(4, timeout=5)
    threads = [threading.Thread(target=circuit.call, args=(arrived.wait,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(6)

    assert not arrived.broken  # all four were inside the protected call at once


def test_each_move_is_reported_once_when_it_is_made():
    clock, moves = Clock(), []
    circuit = CircuitBreaker(
        failures=2, reset_seconds=10, counts_as_failure=Down, clock=clock, on_change=moves.append
    )
    circuit.call(lambda: None)
    with pytest.raises(Down):
        circuit.call(fail)
    assert moves == []  # one failure of two: still closed
    with pytest.raises(Down):
        circuit.call(fail)
    clock.now = 10
    with pytest.raises(Down):
        circuit.call(fail)  # the probe fails: open again
    clock.now = 20
    circuit.call(lambda: None)  # the probe succeeds
    circuit.call(lambda: None)

    assert moves == [OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]


def test_the_order_service_clients_report_their_breakers_state_as_a_gauge():
    from prometheus_client import REGISTRY

    from order_service.clients import DownstreamUnavailable, ServiceClient
    from order_service.config import DEFAULT_CLIENT

    client = ServiceClient(name="test-dependency", base_url="http://x", settings=DEFAULT_CLIENT, token="t")
    state = lambda: REGISTRY.get_sample_value("pipeline_breaker_state", {"dependency": "test-dependency"})  # noqa: E731
    assert state() == 0

    def down():
        raise DownstreamUnavailable("test-dependency", maybe_applied=False, detail="down")

    for _ in range(DEFAULT_CLIENT.breaker_failures):
        with pytest.raises(DownstreamUnavailable):
            client.breaker.call(down)
    assert state() == 2
