#!/bin/sh
# Every process of the image starts here; compose's `command:` is its arguments.
#
# prometheus_client's multiprocess mode (messaging/metrics.py): each process of the container
# (gunicorn workers, Celery pool children) writes its figures into PROMETHEUS_MULTIPROC_DIR and
# a scrape adds up every file there, so the folder must be empty when the container starts, or a
# restarted container would add up its previous run's processes too. Not a tmpfs: the Docker
# engine here remounts one as root 0755 when the container restarts, which the app user cannot
# write to, and every process then fails at its first metric.
set -e
if [ -n "$PROMETHEUS_MULTIPROC_DIR" ]; then
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
exec "$@"
