"""The load generator: closed-loop and open-loop `POST /orders`, run in a child process.

The child process keeps the generator's GIL and CPU apart from the parent's samplers
(docker stats, queue polls). Each thread owns one `requests.Session`, so connections are
kept alive the way a real client pool would. Every step is bounded in time and in count.
"""

from __future__ import annotations

import queue
import resource
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests


@dataclass
class StepResult:
    mode: str  # "closed" | "open"
    concurrency: int
    target_rate: float | None  # open loop only (orders/s)
    seconds: float  # wall time from the first send to the last answer
    latencies: list[float] = field(default_factory=list)  # seconds, every finished request
    ok_latencies: list[float] = field(default_factory=list)  # 201 CONFIRMED only
    errors: dict[str, int] = field(default_factory=dict)  # "503", "201 FAILED", "ConnectionError", ...
    order_ids: list[str] = field(default_factory=list)  # the confirmed orders
    not_sent: int = 0  # open loop: scheduled sends still queued when the step's time ran out
    generator_cpu_seconds: float = 0.0  # the generator's own CPU (user + system)

    @property
    def attempted(self) -> int:
        return len(self.latencies) + self.not_sent

    @property
    def confirmed(self) -> int:
        return len(self.ok_latencies)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Recorder:
    """Thread-safe collection of one step's outcomes."""

    def __init__(self, result: StepResult) -> None:
        self.result = result
        self.lock = threading.Lock()

    def add(self, latency: float, outcome: str | None, order_id: str | None) -> None:
        with self.lock:
            self.result.latencies.append(latency)
            if outcome is None:
                self.result.ok_latencies.append(latency)
                if order_id:
                    self.result.order_ids.append(order_id)
            else:
                self.result.errors[outcome] = self.result.errors.get(outcome, 0) + 1


def _place(session: requests.Session, url: str, sku: str, run_id: str, timeout: float) -> tuple:
    """One order; returns (error or None, order id). Anything but 201 CONFIRMED is an error."""
    customer = f"bench-{run_id}"
    body = {
        "customer_id": customer,
        "email": f"{customer}@example.test",
        "items": [{"sku": sku, "quantity": 1}],
        "payment_token": "tok_visa",
    }
    try:
        response = session.post(
            f"{url}/orders", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=timeout
        )
    except requests.RequestException as error:
        return type(error).__name__, None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    status = answer.get("status") if isinstance(answer, dict) else None
    if response.status_code == 201 and status == "CONFIRMED":
        return None, answer.get("id")
    return f"{response.status_code} {status or ''}".strip(), answer.get("id") if isinstance(
        answer, dict
    ) else None


def closed_loop(
    url: str,
    skus: list[str],
    run_id: str,
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    timeout: float,
) -> StepResult:
    """`concurrency` threads, each sending its next order as soon as the last one answered,
    until `seconds` passed or `max_requests` were sent (whichever first)."""
    result = StepResult(mode="closed", concurrency=concurrency, target_rate=None, seconds=0.0)
    recorder = _Recorder(result)
    budget = iter(range(max_requests))  # next() on a range iterator is atomic under the GIL
    budget_lock = threading.Lock()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    deadline = start + seconds

    def worker(index: int) -> None:
        sku = skus[index % len(skus)]
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                with budget_lock:
                    if next(budget, None) is None:
                        return
                sent = time.perf_counter()
                error, order_id = _place(session, url, sku, run_id, timeout)
                recorder.add(time.perf_counter() - sent, error, order_id)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + timeout + 5)  # bounded even if a thread hangs
    result.seconds = time.perf_counter() - start
    result.generator_cpu_seconds = _cpu_seconds() - cpu_before
    return result


def open_loop(
    url: str,
    skus: list[str],
    run_id: str,
    *,
    rate: float,
    seconds: float,
    threads: int,
    timeout: float,
) -> StepResult:
    """Orders on a fixed schedule (`rate` per second for `seconds`), whatever the answers do.

    Latency counts from the *scheduled* send time, not the actual one: when the system falls
    behind and sends queue up, that wait is part of what a client would see (no coordinated
    omission). Sends still queued `timeout` seconds after the schedule ended count as `not_sent`.
    """
    total = max(1, int(rate * seconds))
    result = StepResult(mode="open", concurrency=threads, target_rate=rate, seconds=0.0)
    recorder = _Recorder(result)
    schedule: queue.SimpleQueue[float] = queue.SimpleQueue()
    cpu_before = _cpu_seconds()
    start = time.perf_counter() + 0.1  # the threads are up before the first slot
    for i in range(total):
        schedule.put(start + i / rate)
    give_up = start + seconds + timeout

    def worker(index: int) -> None:
        sku = skus[index % len(skus)]
        with requests.Session() as session:
            while True:
                try:
                    slot = schedule.get_nowait()
                except queue.Empty:
                    return
                now = time.perf_counter()
                if now > give_up:
                    schedule.put(slot)  # leave it counted as not sent
                    return
                if slot > now:
                    time.sleep(slot - now)
                error, order_id = _place(session, url, sku, run_id, timeout)
                recorder.add(time.perf_counter() - slot, error, order_id)

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=seconds + 2 * timeout + 5)
    result.not_sent = schedule.qsize()
    result.seconds = time.perf_counter() - start
    result.generator_cpu_seconds = _cpu_seconds() - cpu_before
    return result


def create_skus(url: str, *, count: int, stock: int, run_id: str, headers: dict[str, str]) -> list[str]:
    """Fresh products with ample stock (PUT /products/{sku} creates or restocks); `headers`:
    the operator's credential, which PUT /products asks for."""
    skus = []
    with requests.Session() as session:
        session.headers.update(headers)
        for i in range(count):
            sku = f"BENCH-{run_id}-{i:02d}"
            response = session.put(
                f"{url}/products/{sku}",
                json={"name": f"Bench item {i}", "price_cents": 1000, "available": stock},
                timeout=10,
            )
            response.raise_for_status()
            skus.append(sku)
    return skus


class LoadProcess:
    """One spawned child process that runs every load step (spawn, not fork: the parent has
    sampler threads and docker clients that a forked child must not inherit)."""

    def __init__(self, url: str, skus: list[str], run_id: str, timeout: float) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.url, self.skus, self.run_id, self.timeout = url, skus, run_id, timeout
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def closed(self, *, concurrency: int, seconds: float, max_requests: int) -> StepResult:
        return self.pool.submit(
            closed_loop,
            self.url,
            self.skus,
            self.run_id,
            concurrency=concurrency,
            seconds=seconds,
            max_requests=max_requests,
            timeout=self.timeout,
        ).result()

    def open(self, *, rate: float, seconds: float) -> StepResult:
        # Enough threads that the generator is not the limit: ~1 s of arrivals in flight.
        threads = max(16, min(128, int(rate) + 1))
        return self.pool.submit(
            open_loop,
            self.url,
            self.skus,
            self.run_id,
            rate=rate,
            seconds=seconds,
            threads=threads,
            timeout=self.timeout,
        ).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
