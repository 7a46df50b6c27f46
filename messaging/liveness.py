"""A liveness file for processes without an HTTP port (relays, workers).

The process touches the file while it makes progress; the container healthcheck runs
`python -m messaging.liveness FILE MAX_AGE_SECONDS` and fails if the file went stale.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def touch(path: str) -> None:
    Path(path).touch()


def is_fresh(path: str, *, max_age_seconds: float) -> bool:
    try:
        return time.time() - os.stat(path).st_mtime <= max_age_seconds
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(0 if is_fresh(sys.argv[1], max_age_seconds=float(sys.argv[2])) else 1)
