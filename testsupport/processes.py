"""A process of the pipeline started as its container starts it, for a test: stopped with
SIGTERM at the end (killed if it does not stop), its log printed (pytest shows it on failure);
or its loop alone, on a thread of the test (`running_on_a_thread`)."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def running(command: list[str], *, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)  # a warm shutdown: finish what runs, then leave
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            print(log_path.read_text()[-20000:])


@contextmanager
def running_on_a_thread(loop: Any) -> Iterator[Any]:
    """A loop of the pipeline (a follower, a relay: anything with `run_forever(stop)`) on a
    thread for the block, then stopped as SIGTERM stops it: the unit in hand finishes."""
    stop = threading.Event()
    thread = threading.Thread(target=loop.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        stop.set()
        thread.join(timeout=10)
