"""The part of every service's Celery worker that is the same: the app built from settings
(not from the environment at import, so a test can build one in-process), the safe
settings, the periodic tasks, the event consumer step, and resources made per process.

A service's `celery_app.py` has `create_worker(settings) -> Celery` and ends with
`__getattr__ = worker_entry_point(...)`, so that `celery -A <service>.celery_app` builds
the app from the environment when it asks for `app`, and importing the module does nothing.
Its `tasks.py` declares `shared_task`s that reach the resources through `task.app.service`:
tasks never import the app module, so the two cannot import each other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from celery import Celery, Task, bootsteps, shared_task
from celery.signals import setup_logging, worker_init, worker_process_init, worker_process_shutdown
from sqlalchemy.exc import OperationalError

from messaging.celery_settings import hide_periodic_ticks, reliable_settings
from messaging.consumer import BatchHandler, event_consumer_step
from messaging.database import make_engine
from messaging.logs import configure_logging, process_name
from messaging.metrics import mark_process_dead, serve_metrics
from messaging.settings import ProcessSettings, Role
from messaging.tracing import configure_tracing, flush_tracing

T = TypeVar("T")
S = TypeVar("S", bound=ProcessSettings)


class PerProcess(Generic[T]):
    """A resource (engine, SMTP connection) made on first use in the process that uses it. A
    pool child forked after the parent made one gets its own: `forget` drops the parent's
    without closing what the parent still uses (SQLAlchemy's advice for engines:
    `dispose(close=False)`)."""

    def __init__(self, make: Callable[[], T], *, forget: Callable[[T], None] = lambda _: None) -> None:
        self._make, self._forget = make, forget
        self._value: T | None = None
        os.register_at_fork(after_in_child=self._after_fork)

    def __call__(self) -> T:
        if self._value is None:
            self._value = self._make()
        return self._value

    def _after_fork(self) -> None:
        if self._value is not None:
            self._forget(self._value)
            self._value = None


def worker_engine(settings: ProcessSettings) -> PerProcess[sa.Engine]:
    """The database engine of a worker process, sized for one (see Role.WORKER)."""
    return PerProcess(
        lambda: make_engine(settings.database_url, pool_size=settings.pool_size(Role.WORKER)),
        forget=lambda engine: engine.dispose(close=False),
    )


@dataclass(frozen=True)
class WorkerResources(Generic[S]):
    """What a worker's consumer step and tasks use (`task.app.service`): its settings and its
    engine, made per process. A service whose tasks need more subclasses it (notification:
    the mailer)."""

    settings: S
    engine: PerProcess[sa.Engine]


def create_worker_app(
    name: str,
    *,
    settings: ProcessSettings,
    task_queue: str,
    include: list[str],
    beat_schedule: dict[str, dict[str, Any]],
    event_queues: Mapping[str, BatchHandler] | None = None,
    service: Any = None,
) -> Celery:
    """`event_queues`: the event queues it consumes, each with its batch handler (a consumer
    step per queue); `service`: what the tasks need (engine, mailer...), as `task.app.service`."""
    app = Celery(name, include=include)
    app.conf.update(reliable_settings(broker_url=settings.required_broker_url(), task_queue=task_queue))
    app.conf.beat_schedule = beat_schedule
    hide_periodic_ticks(beat_schedule)
    # With a receiver Celery leaves logging to us (no handler of its own, no stdout capture):
    # the worker, its pool children and embedded beat write JSON lines (messaging/logs.py).
    setup_logging.connect(json_logs, weak=False)
    for queue_name, handle_batch in (event_queues or {}).items():
        app.steps["consumer"].add(
            event_consumer_step(
                queue_name=queue_name, handle_batch=handle_batch, liveness_file=settings.liveness_file
            )
        )
    if settings.metrics_port:
        app.steps["worker"].add(metrics_server_step(settings.metrics_port))
    app.service = service
    return app


def json_logs(*, loglevel: int | str | None = None, **_: Any) -> None:
    """setup_logging's receiver: at the worker's --loglevel (celery passes it as a number)."""
    configure_logging(loglevel)


def metrics_server_step(port: int) -> type[bootsteps.StartStopStep]:
    """GET :port/metrics from the worker's main process, which reads every pool child's values
    too (messaging.metrics: multiprocess mode). A step, not code in create_worker_app: the app
    is also built by tests and by `celery inspect`, which must not take the port."""

    class MetricsServer(bootsteps.StartStopStep):
        def start(self, worker):
            serve_metrics(port)

    return MetricsServer


@worker_init.connect
@worker_process_init.connect
def trace_worker(**_: Any) -> None:
    """The main process (its consumer step handles the events) and each pool child (the
    tasks: dispatch, send). A child forked after the main process configured it keeps the
    provider, whose span processor the SDK restarts in the child (os.register_at_fork);
    connected here, not in create_worker_app: tests build apps in-process."""
    configure_tracing(process_name())


@worker_process_shutdown.connect
def forget_pool_child(**_: Any) -> None:
    """A pool child on its way out: its live gauges (breaker states) stop counting, and its
    queued spans are exported (it leaves by os._exit: no atexit)."""
    mark_process_dead(os.getpid())
    flush_tracing()


def worker_entry_point(build: Callable[[], Celery]) -> Callable[[str], Celery]:
    """A module `__getattr__` (PEP 562) that answers `app`, built once by `build` when first
    asked for (by `celery -A`), not when the module is imported."""
    once = cache(build)

    def module_getattr(name: str) -> Celery:
        if name != "app":
            raise AttributeError(name)
        return once()

    return module_getattr


def periodic_task(*, name: str, what: str, tick: Callable[[Any], int]) -> Task:
    """A task for beat to run: `tick(task.app.service)`, skipped (see
    skip_tick_when_database_down) while the database is down. `name`: the task's name, in
    the tasks module whose logger logs a skipped tick; `what`: the tick in that log line."""
    log = logging.getLogger(name.rpartition(".")[0])

    @shared_task(bind=True, name=name)
    def run(self: Task) -> int:
        return skip_tick_when_database_down(lambda: tick(self.app.service), what=what, log=log)

    return run


def skip_tick_when_database_down(tick: Callable[[], int], *, what: str, log: logging.Logger) -> int:
    """The body of a periodic task: beat runs it again at the next tick, and that is the
    retry, so a tick that finds the database down (restarting) is logged (as `what`, on the
    task module's `log`) and skipped, not retried or dead-lettered. Returns what `tick`
    returned, or 0."""
    try:
        return tick()
    except OperationalError as error:
        log.warning("%s skipped, database unavailable: %r", what, error)
        return 0
