"""The warehouse's Celery tasks (run in the worker's pool, fed by beat)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from warehouse_service import handlers
from warehouse_service.celery_app import app, engine


@app.task(
    bind=True,
    name="warehouse_service.tasks.dispatch_due_shipments",
    autoretry_for=(OperationalError,),  # the database restarting: worth another try
    retry_backoff=True,
    max_retries=5,
)
def dispatch_due_shipments(self) -> int:
    return handlers.dispatch_due_shipments(engine=engine())
