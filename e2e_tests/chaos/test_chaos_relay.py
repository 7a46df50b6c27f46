"""Fault 4: SIGKILL the order relay between publishing an event and marking it sent.

The relay is re-created with the test-only `RELAY_PAUSE_BEFORE_MARK_SECONDS` (compose passes
it through to `order-relay`), which widens that window. An event spy (an exclusive queue of
the test's own, bound to `events`) sees what the broker routed: the kill lands once the spy
has seen an event whose outbox row is still unsent. The event is then delivered at least
once (the spy saw every event of the run), more than once for the killed ones, and has its
effect once (the shipment, email and charge invariants).
"""

from __future__ import annotations

from e2e_tests.chaos import faults

INJECTIONS = 5
PAUSE_SECONDS = "2"
HOOK = "RELAY_PAUSE_BEFORE_MARK_SECONDS"
ORDER_EVENTS = (
    "order.confirmed",
    "order.rejected",
    "order.failed",
    "order.step",
)  # every event of the order outbox


def test_relay_killed_between_publish_and_mark_delivers_at_least_once_with_one_effect(chaos):
    run = chaos("4 kill relay pre-mark")
    spy = faults.EventSpy(name=f"chaos-spy-{run.run_id}", routing_keys=ORDER_EVENTS)
    with spy:
        try:
            faults.recreate_with_env("order-relay", {HOOK: PAUSE_SECONDS})
            if faults.container_env("order-relay").get(HOOK) != PAUSE_SECONDS:
                run.problem("hook-missing", f"{HOOK} did not reach the order-relay container")
            run.start()
            killed: list[str] = []
            for _ in range(INJECTIONS):
                run.moment(1, 2.5)
                with run.inject("kill order-relay") as injection:
                    in_window = faults.wait_for_window(run, spy, database="order_service", timeout=20)
                    faults.kill("order-relay")
                    injection.notes["in_window"] = bool(in_window)
                    injection.notes["published_not_marked"] = len(in_window)
                    killed += in_window
                    if not in_window:
                        run.problem("kill-missed-window", "no event was published-but-unmarked within 20s")
                    faults.wait_running("order-relay", running=False, timeout=30)
                    faults.start("order-relay")
                    faults.wait_ready("order-relay")
        finally:
            faults.recreate_with_env("order-relay", {HOOK: "0"})
        run.finish(after_converged=lambda: _check_deliveries(run, spy, killed))


def _check_deliveries(run, spy, killed: list[str]) -> None:
    """At least once: every order event of the run reached the broker; the killed ones again."""
    if spy.error is not None:
        run.problem("spy-failed", repr(spy.error))
        return
    ids = [r.order_id for r in run.driver.records if r.order_id]
    events = run.stores.rows(
        "order_service",
        "SELECT event_id, sent_at FROM outbox WHERE envelope->>'subject' = ANY(:ids)",
        ids=ids,
    )
    never = [e["event_id"] for e in events if spy.seen.get(e["event_id"], 0) == 0]
    for event_id in never[:20]:
        run.problem("event-never-delivered", f"outbox event {event_id} never reached the broker")
    again = sorted({event_id for event_id in killed if spy.seen.get(event_id, 0) < 2})
    for event_id in again:
        run.problem("killed-event-not-redelivered", f"{event_id} was published once only, its row unmarked")
    twice = sum(1 for e in events if spy.seen.get(e["event_id"], 0) > 1)
    print(f"[chaos]   {len(events)} order events, {twice} delivered more than once, {len(never)} never")
