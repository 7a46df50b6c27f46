"""Gunicorn settings shared by the five APIs (override with GUNICORN_CMD_ARGS)."""

import logging.config
import os

from gunicorn.glogging import Logger

from messaging.logs import ACCESS_LOG_FORMAT, log_level, logging_config

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
access_log_format = ACCESS_LOG_FORMAT


class JsonLogger(Logger):
    """gunicorn's logger, then every line as JSON on stderr like every process
    (messaging/logs.py): gunicorn's own, the app's, and with ACCESS_LOG=1 one per request
    (method, path, status, duration_ms). Not `logconfig_dict`: with one, gunicorn builds
    every request's log data even when no access log is kept (~30-50 us per request,
    measured); this way an API without ACCESS_LOG spends nothing on it. gunicorn reloads
    (SIGHUP) run `setup` again, and so this too."""

    def setup(self, cfg):
        super().setup(cfg)  # its own plain-text handlers, which dictConfig replaces
        logging.config.dictConfig(logging_config(level=log_level(), access_log=bool(cfg.accesslog)))


# The access log stays opt-in: a JSON line costs the worker ~45 us per request (0.2 us off,
# measured on the dev machine), and the Docker log driver some work per line; the order's own
# lines already tell its journey.
logger_class = JsonLogger


def post_worker_init(worker):
    """gunicorn's refusals (414 URI too long, 431, 400) as problem+json, like the app's errors;
    the worker's tracing (messaging.tracing), after the fork, so an exporter's thread is its own.
    Here, not at the top: the app's directory is on sys.path once the worker has loaded it."""
    from messaging.logs import process_name
    from messaging.server_problems import install
    from messaging.tracing import configure_tracing

    install()
    configure_tracing(process_name())


def child_exit(server, worker):
    """A worker that exits (restarted after a timeout, or at shutdown): its live gauges stop
    counting in /metrics (messaging.metrics, multiprocess mode with several WEB_WORKERS)."""
    from messaging.metrics import mark_process_dead

    mark_process_dead(worker.pid)
