"""The one backoff formula of the pipeline: exponential, capped, with optional jitter.

Every retry uses it (consumer redeliveries, HTTP calls, the relay and the expirer, the
order sweeper, Celery task retries), each with its own first delay and cap, so what a
reader learns once holds everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_seconds(
    attempt: int,
    *,
    first: float,
    cap: float,
    spread: float = 0.0,
    draw: Callable[[], float] = random.random,
) -> float:
    """`first` x 2^attempt, at most `cap`; then up to `spread` of it taken off at random
    (0: none; 0.5: between half and all of it; 1: "full jitter", between 0 and all of it),
    so that many clients retrying at once spread out. `draw` returns a number in [0, 1)."""
    # The exponent stops at 64: past it every delay is at its cap anyway, and a float cannot
    # hold 2^1024 (OverflowError: a relay after ~1000 failed rounds, an order's 1024th retry).
    delay = min(cap, first * 2 ** min(attempt, 64))
    return delay * (1.0 - spread * draw()) if spread else delay
