"""The reservation expirer: `python -m inventory_service.expiry` (DATABASE_URL,
RESERVATION_SWEEP_SECONDS, LIVENESS_FILE).

Every RESERVATION_SWEEP_SECONDS it releases the RESERVED reservations whose hold ran out
(`handlers.expire_reservations`), and touches LIVENESS_FILE after each pass that reached
the database. Database errors (down, restarting, migrations not applied yet) are logged
and retried with a growing backoff. It stops on SIGTERM or SIGINT, between two passes.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from inventory_service import handlers
from inventory_service.config import settings_from_env
from messaging.database import make_engine
from messaging.liveness import touch

log = logging.getLogger("inventory.expiry")
MAX_BACKOFF_SECONDS = 30.0
BATCH_SIZE = 100

Sweep = Callable[[], list[str]]


def backoff_seconds(*, failures: int, interval_seconds: float) -> float:
    """interval x 2^failures, capped, with jitter so that several expirers spread out."""
    return min(MAX_BACKOFF_SECONDS, interval_seconds * 2**failures) * random.uniform(0.5, 1.0)


def run_expirer(
    *, sweep: Sweep, interval_seconds: float, liveness_file: str | None, stop: threading.Event
) -> None:
    failures = 0
    while not stop.is_set():
        try:
            released = sweep()
        except SQLAlchemyError as error:
            failures += 1
            delay = backoff_seconds(failures=failures, interval_seconds=interval_seconds)
            log.warning("expiry pass failed (%r); retrying in %.1fs", error, delay)
            stop.wait(delay)
            continue
        failures = 0
        if liveness_file:
            touch(liveness_file)
        if released:
            log.info("released %d expired reservation(s): %s", len(released), ", ".join(released))
        # A full batch means more may be waiting: go again at once.
        stop.wait(0 if len(released) >= BATCH_SIZE else interval_seconds)
    log.info("expirer stopped")


def request_stop(stop: threading.Event) -> None:
    """For a signal handler: it runs on the main thread, which may hold the Event's own
    lock at that instant (inside stop.wait), so set it from another thread."""
    threading.Thread(target=stop.set, name="stop", daemon=True).start()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    settings = settings_from_env()
    engine = make_engine(settings.database_url, pool_size=1)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: request_stop(stop))
    log.info("expirer started: a pass every %.1fs", settings.reservation_sweep_seconds)
    try:
        run_expirer(
            sweep=lambda: handlers.expire_reservations(engine=engine, limit=BATCH_SIZE),
            interval_seconds=settings.reservation_sweep_seconds,
            liveness_file=settings.liveness_file,
            stop=stop,
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
