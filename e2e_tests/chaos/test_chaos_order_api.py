"""Fault 5: SIGKILL `order-api` in the middle of the synchronous saga.

order-api is re-created with the test-only `ORDER_SAGA_STEP_PAUSE_SECONDS` (it pauses after
each saga step), which widens the windows. Each kill is aimed, by polling the order and
payment databases (read-only), at an order of the run whose POST is not answered yet and that
is either reserved but not charged ("after-reserve") or already charged ("after-charge").
Then the order must not stay in flight (the sweeper resumes or compensates it after
`SWEEPER_STALE_AFTER_SECONDS`), no stock is leaked, and any captured payment ends in a
CONFIRMED order or is refunded (the invariants).
"""

from __future__ import annotations

import time

from e2e_tests.chaos import faults
from e2e_tests.chaos.snapshot import FINAL, PAID

INJECTIONS = 6  # three aimed at each window
PAUSE_SECONDS = "1.5"
HOOK = "ORDER_SAGA_STEP_PAUSE_SECONDS"
CONVERGE_SECONDS = 90.0  # the sweeper's stale delay (10 s) and its backoff, with room to spare


def _in_window(run, phase: str, skip: set[str]) -> list[str]:
    """Orders of the run in `phase` of a live saga: POST not answered yet, and moved within
    the pause (not one a previous kill left behind)."""
    rows = run.stores.rows(
        "order_service",
        "SELECT o.id, o.status FROM orders o JOIN idempotency_keys k ON k.order_id = o.id "
        "WHERE o.customer_id = :c AND k.response_status IS NULL "
        "AND o.updated_at > now() - make_interval(secs => :fresh)",
        c=run.driver.customer_id,
        fresh=float(PAUSE_SECONDS),
    )
    rows = [r for r in rows if r["id"] not in skip]
    if not rows:
        return []
    charged = {
        row["order_id"]
        for row in run.stores.rows(
            "payment_service",
            "SELECT order_id FROM payments WHERE order_id = ANY(:ids)",
            ids=[r["id"] for r in rows],
        )
    }
    if phase == "after-reserve":
        return [r["id"] for r in rows if r["status"] == "RESERVED" and r["id"] not in charged]
    return [r["id"] for r in rows if r["id"] in charged]


def _wait_for_window(run, phase: str, *, timeout: float, skip: set[str]) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _in_window(run, phase, skip)
        if found:
            return found
        time.sleep(0.1)
    return []


def test_order_api_killed_mid_saga_leaves_nothing_stuck_leaked_or_charged(chaos):
    run = chaos("5 kill order-api mid-saga")
    targets: dict[str, str] = {}
    try:
        faults.recreate_with_env("order-api", {HOOK: PAUSE_SECONDS})
        if faults.container_env("order-api").get(HOOK) != PAUSE_SECONDS:
            run.problem("hook-missing", f"{HOOK} did not reach the order-api container (compose.yaml?)")
        run.start(threads=4, pace=(0.1, 0.4))  # each order takes 2 pauses: more threads, same load
        phases = ["after-reserve", "after-charge"] * (INJECTIONS // 2)
        run.rng.shuffle(phases)
        for phase in phases:
            run.moment(1, 2.5)
            with run.inject(f"kill order-api {phase}") as injection:
                caught = _wait_for_window(run, phase, timeout=15, skip=set(targets))
                faults.kill("order-api")
                injection.notes["caught"] = len(caught)
                if not caught:
                    run.problem("kill-missed-window", f"no order {phase} within 15s")
                for order_id in caught:
                    targets[order_id] = phase
                faults.wait_running("order-api", running=False, timeout=30)
                run.moment(0.5, 1.5)
                faults.start("order-api")
                injection.notes["back_after_s"] = round(faults.wait_ready("order-api"), 1)
    finally:
        faults.recreate_with_env("order-api", {HOOK: "0"})
    run.finish(converge_timeout=CONVERGE_SECONDS, after_converged=lambda: _check_targets(run, targets))


def _check_targets(run, targets: dict[str, str]) -> None:
    """The orders caught mid-saga were finished or compensated (the invariants say how well)."""
    if not targets:
        return
    rows = run.stores.rows(
        "order_service", "SELECT id, status FROM orders WHERE id = ANY(:ids)", ids=list(targets)
    )
    outcome = {row["id"]: row["status"] for row in rows}
    for order_id, phase in targets.items():
        status = outcome.get(order_id)
        if status not in FINAL:
            run.problem("stuck-after-kill", f"killed {phase}, still {status}", order_id=order_id)
    resumed = sum(outcome.get(i) in PAID for i in targets)
    print(
        f"[chaos]   {len(targets)} orders caught mid-saga: {resumed} went on to be paid, "
        f"{len(targets) - resumed} failed or were compensated"
    )
