"""Gunicorn settings shared by the five APIs (override with GUNICORN_CMD_ARGS)."""

import os

bind = "0.0.0.0:8000"
# gthread keeps connections alive between services (the sync worker does not) and lets a
# worker wait on a downstream call without blocking the others.
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = 30
graceful_timeout = 10
keepalive = 5
accesslog = "-" if os.environ.get("ACCESS_LOG") == "1" else None
