"""Gunicorn settings shared by the five APIs (override with GUNICORN_CMD_ARGS)."""

import os

bind = "0.0.0.0:8000"
# gthread keeps connections alive between services (the sync worker does not) and lets a
# worker wait on a downstream call without blocking the others.
worker_class = "gthread"
# One process of 16 threads per API: on the 2-core benchmark machine it confirmed ~25-30
# orders/s against ~19-21 for 2 x 8 and 4 x 4 (`make bench`); the threads mostly wait on
# Postgres and on the other APIs, and fewer processes mean fewer context switches among the
# stack's ~20 busy processes. The SQLAlchemy pool follows WEB_THREADS (messaging.database).
workers = int(os.environ.get("WEB_WORKERS", "1"))
threads = int(os.environ.get("WEB_THREADS", "16"))
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = "-" if os.environ.get("ACCESS_LOG") == "1" else None


def child_exit(server, worker):
    """A worker that exits (restarted after a timeout, or at shutdown): its live gauges stop
    counting in /metrics (messaging.metrics, multiprocess mode with several WEB_WORKERS)."""
    from messaging.metrics import mark_process_dead

    mark_process_dead(worker.pid)
