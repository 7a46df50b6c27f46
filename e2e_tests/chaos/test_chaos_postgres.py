"""Fault 7: restart PostgreSQL (graceful stop/start, and SIGKILL/start) while orders flow.

Every service recovers without a restart of its own, the chain moves again after each
restart, and no order is left half-written (the integrity invariants: every order final, its
last transition its status, its prices set, every Idempotency-Key pointing to it).
"""

from __future__ import annotations

from e2e_tests.chaos import faults
from e2e_tests.stack import URLS, get_json
from testsupport.polling import wait_until

INJECTIONS = 5


def test_database_restarts_are_survived_without_restarting_any_service(chaos):
    run = chaos("7 restart postgres").start()
    before = faults.start_marks()
    modes = ["stop", "kill"] * 3
    run.rng.shuffle(modes)
    for mode in modes[:INJECTIONS]:
        run.moment(1, 3)
        with run.inject(f"{mode} postgres") as injection:
            if mode == "stop":
                faults.stop("postgres", timeout=20)
            else:
                faults.kill("postgres")
            faults.wait_running("postgres", running=False, timeout=30)
            run.moment(0.5, 2)
            faults.start("postgres")
            injection.notes["db_back_s"] = round(faults.wait_ready("postgres"), 1)
            for name, url in faults.API_URLS.items():
                wait_until(
                    lambda url=url: get_json(f"{url}/readyz") is not None, timeout=60, what=f"{name} ready"
                )
            injection.notes["flowing_again_s"] = round(run.wait_flowing(), 1)
    run.expect_no_restarts(before, except_=("postgres",))
    assert URLS.order  # the stack's URLs, for the reader of a failure
    run.finish()
