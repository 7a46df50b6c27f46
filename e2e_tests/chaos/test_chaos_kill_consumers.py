"""Fault 1: SIGKILL the warehouse and notification workers mid-processing, then start them.

Orders flow all along; each kill lands at a random (seeded) moment, while the workers are
consuming order events, creating shipments, dispatching them and sending emails.
"""

from __future__ import annotations

from e2e_tests.chaos import faults

WORKERS = ("warehouse-worker", "notification-worker")
INJECTIONS = 6  # three each


def test_sigkill_of_a_worker_mid_processing_loses_and_duplicates_nothing(chaos):
    run = chaos("1 kill worker").start()
    run.moment(2, 4)  # let a backlog of work exist before the first kill
    for index in range(INJECTIONS):
        service = WORKERS[index % 2]
        with run.inject(f"kill {service}") as injection:
            faults.kill(service)
            faults.wait_running(service, running=False, timeout=30)
            run.moment(0.5, 2.5)  # dead for a while: its queue fills up
            faults.start(service)
            injection.notes["back_after_s"] = round(faults.wait_ready(service), 1)
        run.moment(1, 3)
    run.finish()
