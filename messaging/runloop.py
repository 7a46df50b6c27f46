"""The loop of every long-running process that is not a web server or a Celery worker
(the outbox relays, the reservation expirer).

One unit of work at a time; SIGTERM or SIGINT lets the current unit finish, then the
loop ends and the process exits 0 (so `docker stop` is quick and clean). A transient
failure (the database or the broker restarting) is logged and the unit is tried again
after a backoff; anything else is a bug and ends the process.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from messaging.liveness import touch

log = logging.getLogger("runloop")


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM / SIGINT set `stop`. From another thread: the handler runs on the main thread,
    which may hold the Event's own lock at that instant (inside stop.wait)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=stop.set, name="stop", daemon=True).start())


def run_until_stopped(
    unit: Callable[[], float],
    *,
    stop: threading.Event,
    transient: tuple[type[BaseException], ...],
    backoff: Callable[[int], float],
    after_failure: Callable[[], None] = lambda: None,
    liveness_file: str | None = None,
) -> None:
    """Runs `unit` until `stop` is set. `unit` does one piece of work and returns how long
    to rest before the next (0: go on at once). After a `transient` failure, `after_failure`
    drops what may be broken (connections) and the unit runs again after `backoff(failures)`
    seconds. `liveness_file` is touched after every unit that succeeded."""
    failures = 0
    while not stop.is_set():
        try:
            rest = unit()
        except transient as error:
            failures += 1
            rest = backoff(failures)
            log.warning("pass failed (%r); retrying in %.1fs", error, rest)
            after_failure()
        else:
            failures = 0
            if liveness_file:
                touch(liveness_file)
        if rest:
            stop.wait(rest)
