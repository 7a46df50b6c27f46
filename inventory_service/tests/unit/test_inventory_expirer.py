"""The expirer without a database: its pass, its backoff, and how it is wired into
messaging.runloop (whose generic behaviour is tested in messaging/tests/unit/test_service_kit.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from inventory_service.config import settings_from_env
from inventory_service.expiry import BATCH_SIZE, MAX_BACKOFF_SECONDS, expire_once, retry_in, run_expirer
from messaging.settings import ConfigurationError


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


def test_a_full_batch_goes_again_at_once_else_the_pass_waits_the_interval(caplog):
    caplog.set_level("INFO", logger="inventory.expiry")
    full = [f"o-{n}" for n in range(BATCH_SIZE)]

    assert expire_once(sweep=lambda: full, interval_seconds=5.0) == 0
    assert expire_once(sweep=lambda: ["o-1"], interval_seconds=5.0) == 5.0
    assert expire_once(sweep=lambda: [], interval_seconds=5.0) == 5.0
    assert "released 1 expired reservation(s): o-1" in caplog.text


def test_a_pass_writes_the_catalog_snapshot_when_one_is_due(caplog):
    caplog.set_level("INFO", logger="inventory.expiry")
    asked = []

    def snapshot(products: int):
        def write() -> int:
            asked.append(products)
            return products

        return write

    assert expire_once(sweep=lambda: [], interval_seconds=5.0, snapshot=snapshot(7)) == 5.0
    assert "catalog snapshot: 7 product(s)" in caplog.text
    caplog.clear()
    assert expire_once(sweep=lambda: [], interval_seconds=5.0, snapshot=snapshot(0)) == 5.0
    assert "catalog snapshot" not in caplog.text  # none was due: nothing to say
    assert asked == [7, 0]  # asked at every pass


def test_a_failed_snapshot_fails_the_pass_and_is_retried_with_backoff(tmp_path):
    snapshots = scripted(DOWN, 0)
    stop = CountingStop(passes=2)

    run_expirer(sweep=lambda: [], snapshot=snapshots, interval_seconds=1.0, liveness_file=None, stop=stop)

    assert 1.0 <= stop.waits[0] <= 2.0 and stop.waits[1] == 1.0


def test_a_bug_is_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        run_expirer(
            sweep=scripted(ZeroDivisionError()),
            interval_seconds=1,
            liveness_file=None,
            stop=CountingStop(passes=3),
        )


def test_the_backoff_grows_from_the_interval_with_jitter_and_is_capped():
    assert all(1.0 <= retry_in(1, interval_seconds=1.0) <= 2.0 for _ in range(50))
    assert all(2.0 <= retry_in(2, interval_seconds=1.0) <= 4.0 for _ in range(50))
    assert all(
        MAX_BACKOFF_SECONDS / 2 <= retry_in(30, interval_seconds=5.0) <= MAX_BACKOFF_SECONDS
        for _ in range(50)
    )


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


def test_the_catalog_snapshot_is_daily_at_most():
    assert settings_from_env({"DATABASE_URL": "postgresql://x"}).catalog_snapshot_seconds == 86_400.0
    hourly = settings_from_env({"DATABASE_URL": "postgresql://x", "CATALOG_SNAPSHOT_SECONDS": "3600"})
    assert hourly.catalog_snapshot_seconds == 3600.0
    for bad in ("0", "0.5", "86401", "daily"):  # beyond a day, the stream's retention could drop a product
        with pytest.raises(ConfigurationError, match="CATALOG_SNAPSHOT_SECONDS"):
            settings_from_env({"DATABASE_URL": "postgresql://x", "CATALOG_SNAPSHOT_SECONDS": bad})
