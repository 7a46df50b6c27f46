"""`python -m messaging.migrate SERVICE_PACKAGE`: apply that service's migrations (DATABASE_URL)."""

from __future__ import annotations

import sys
import time
from importlib.util import find_spec
from pathlib import Path

from sqlalchemy.exc import OperationalError

from messaging.database import upgrade_to_head
from messaging.logs import configure_logging
from messaging.settings import Env


def service_dir(package: str) -> Path:
    spec = find_spec(package)
    if spec is None or spec.origin is None:
        raise SystemExit(f"no such service package: {package}")
    return Path(spec.origin).parent


def main() -> None:
    configure_logging()  # alembic's lines and a failure's traceback, as JSON like every process
    package = sys.argv[1]
    # Through Env like every process: a production start with a development password stops
    # here, before it migrates anything.
    database_url = Env().process()["database_url"]
    deadline = time.monotonic() + 60
    while True:  # the database may still be starting when the container starts
        try:
            upgrade_to_head(service_dir=service_dir(package), database_url=database_url)
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


if __name__ == "__main__":
    main()
