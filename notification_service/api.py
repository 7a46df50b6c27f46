"""The notification API (Flask app factory): what was (or will be) sent to whom."""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify, request

from messaging.database import make_engine
from messaging.web import Problem, database_check, health_blueprint, install_error_handlers, query_int
from notification_service import handlers
from notification_service.config import settings_from_env

MAX_ORDER_ID_LENGTH = 100
notifications = Blueprint("notifications", __name__)


def _engine() -> sa.Engine:
    return current_app.extensions["notification_engine"]


@notifications.get("/notifications")
def list_notifications():
    order_id = request.args.get("order_id")
    if order_id is not None and not 1 <= len(order_id) <= MAX_ORDER_ID_LENGTH:
        raise Problem(
            status=422,
            code="validation-error",
            title="The query is invalid",
            errors=[{"field": "order_id", "message": f"must be 1 to {MAX_ORDER_ID_LENGTH} characters"}],
        )
    limit = query_int("limit", default=100, minimum=1, maximum=500)
    return jsonify(handlers.list_notifications(engine=_engine(), order_id=order_id, limit=limit))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    config = dict(test_config or {})
    engine = config.get("ENGINE")
    if engine is None:
        url = config.get("DATABASE_URL") or settings_from_env(os.environ).database_url
        engine = make_engine(url)
    app.config.update(config)
    app.extensions["notification_engine"] = engine
    install_error_handlers(app)
    app.register_blueprint(health_blueprint(checks={"database": database_check(engine)}))
    app.register_blueprint(notifications)
    return app
