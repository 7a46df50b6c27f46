"""Fault 3: restart RabbitMQ (graceful stop/start, and SIGKILL/start) while orders flow.

Publishers (the relays) and the Celery consumers reconnect by themselves: no container but
the broker is restarted, and after each restart the whole chain moves again.
"""

from __future__ import annotations

from e2e_tests.chaos import faults

INJECTIONS = 5


def test_broker_restarts_are_survived_without_restarting_anything_else(chaos):
    run = chaos("3 restart rabbitmq").start()
    before = faults.start_marks()
    modes = ["stop", "kill"] * 3
    run.rng.shuffle(modes)
    for mode in modes[:INJECTIONS]:
        run.moment(1, 3)
        with run.inject(f"{mode} rabbitmq") as injection:
            if mode == "stop":
                faults.graceful_rabbitmq_stop()
            else:
                faults.kill("rabbitmq")
            faults.wait_running("rabbitmq", running=False, timeout=30)
            run.moment(0.5, 2)  # the broker is away; orders are still placed (the outbox keeps them)
            faults.start("rabbitmq")
            injection.notes["broker_back_s"] = round(faults.wait_ready("rabbitmq"), 1)
            injection.notes["consumers_back_s"] = round(faults.wait_all_consuming(), 1)
            injection.notes["flowing_again_s"] = round(run.wait_flowing(), 1)
    run.expect_no_restarts(before, except_=("rabbitmq",))
    run.finish()
