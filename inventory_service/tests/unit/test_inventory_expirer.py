"""The expirer's loop without a database: backoff on database errors, liveness, stop."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from inventory_service.config import ConfigurationError, settings_from_env
from inventory_service.expiry import BATCH_SIZE, MAX_BACKOFF_SECONDS, backoff_seconds, run_expirer


class CountingStop:
    """Stands in for threading.Event: records each wait, and is set after `passes` waits."""

    def __init__(self, *, passes: int) -> None:
        self.passes, self.waits = passes, []

    def is_set(self) -> bool:
        return len(self.waits) >= self.passes

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        return self.is_set()


def scripted(*outcomes):
    remaining = list(outcomes)

    def sweep() -> list[str]:
        outcome = remaining.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return sweep


DOWN = OperationalError("SELECT 1", {}, ConnectionRefusedError("database down"))


def test_database_errors_back_off_then_a_pass_resets_the_pace(tmp_path):
    alive = tmp_path / "alive"
    outcomes = scripted(DOWN, DOWN, ["o-1"], [])
    checked = []

    def sweep() -> list[str]:
        checked.append(alive.exists())
        return outcomes()

    stop = CountingStop(passes=4)

    run_expirer(sweep=sweep, interval_seconds=1.0, liveness_file=str(alive), stop=stop)

    assert 1.0 <= stop.waits[0] <= 2.0 and 2.0 <= stop.waits[1] <= 4.0  # growing, jittered
    assert stop.waits[2:] == [1.0, 1.0]
    assert checked == [False, False, False, True]  # touched only after a pass that worked


def test_a_full_batch_goes_again_at_once():
    stop = CountingStop(passes=2)

    run_expirer(
        sweep=scripted([f"o-{n}" for n in range(BATCH_SIZE)], []),
        interval_seconds=5.0,
        liveness_file=None,
        stop=stop,
    )

    assert stop.waits == [0, 5.0]


def test_a_bug_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        run_expirer(
            sweep=scripted(ZeroDivisionError()),
            interval_seconds=1,
            liveness_file=None,
            stop=CountingStop(passes=3),
        )


def test_the_backoff_is_capped():
    assert backoff_seconds(failures=30, interval_seconds=5.0) <= MAX_BACKOFF_SECONDS


def test_settings_have_defaults_and_refuse_nonsense():
    def shown(settings):
        return settings.reservation_hold_seconds, settings.reservation_sweep_seconds, settings.liveness_file

    assert shown(settings_from_env({"DATABASE_URL": "postgresql://x"})) == (600.0, 5.0, "/tmp/alive")
    custom = settings_from_env(
        {
            "DATABASE_URL": "postgresql://x",
            "RESERVATION_HOLD_SECONDS": "30",
            "RESERVATION_SWEEP_SECONDS": "0.5",
            "LIVENESS_FILE": "/run/alive",
        }
    )
    assert shown(custom) == (30.0, 0.5, "/run/alive")
    for name in ("RESERVATION_HOLD_SECONDS", "RESERVATION_SWEEP_SECONDS"):
        for bad in ("0", "-5", "soon"):
            with pytest.raises(ConfigurationError, match=name):
                settings_from_env({"DATABASE_URL": "postgresql://x", name: bad})
    with pytest.raises(ConfigurationError, match="DATABASE_URL"):
        settings_from_env({})
