"""Fault 9: SIGKILL the inventory's relay between publishing a product event and marking it
sent, during a burst of price changes, while orders flow.

As for the order relay (fault 4), the relay is re-created with the test-only pause before the
mark, and an event spy sees what the broker routed: the kill lands once a product event is
published and its outbox row still unsent. Afterwards the order service's catalog copy must
converge to the inventory's catalog (every run's invariants check it), the republished events
change nothing (a version the copy holds is ignored), and `reconcile` reports no difference.
"""

from __future__ import annotations

import threading

import requests

from e2e_tests.chaos import faults
from e2e_tests.stack import TIMEOUT, URLS, admin_headers, catalog_command, new_sku
from messaging.topology import CATALOG_EVENTS

INJECTIONS = 5
PRICED_SKUS = 5
CHANGES_PER_BURST = 40
HOOK = "INVENTORY_RELAY_PAUSE_BEFORE_MARK_SECONDS"  # compose passes it to inventory-relay
PAUSE_SECONDS = "2"


class PriceBurst:
    """Changes the prices of `skus` one after another on a thread: `changes` PUTs as the
    operator would make them (each a new version and one product.changed)."""

    def __init__(self, run, skus: list[str], *, changes: int) -> None:
        self.run, self.skus, self.changes = run, skus, changes
        self.thread = threading.Thread(target=self._change, daemon=True)
        self.made = 0

    def __enter__(self) -> PriceBurst:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.thread.join(timeout=120)

    def _change(self) -> None:
        for n in range(self.changes):
            sku = self.skus[n % len(self.skus)]
            price = 1000 + self.run.rng.randrange(1, 5000)
            answer = requests.put(
                f"{URLS.inventory}/products/{sku}",
                json={"name": f"Chaos priced {sku}", "price_cents": price, "available": 50},
                headers=admin_headers(),
                timeout=TIMEOUT,
            )
            if answer.status_code != 200:
                refused = f"{sku}: HTTP {answer.status_code} {answer.text[:200]}"
                self.run.problem("price-change-refused", refused)
            self.made += 1


def test_inventory_relay_killed_during_price_changes_the_copy_converges(chaos):
    run = chaos("9 kill inventory-relay pre-mark")
    skus = [new_sku(available=50) for _ in range(PRICED_SKUS)]
    spy = faults.EventSpy(name=f"chaos-spy-{run.run_id}", routing_keys=tuple(sorted(CATALOG_EVENTS)))
    with spy:
        try:
            faults.recreate_with_env("inventory-relay", {HOOK: PAUSE_SECONDS})
            hook = faults.container_env("inventory-relay").get("RELAY_PAUSE_BEFORE_MARK_SECONDS")
            if hook != PAUSE_SECONDS:
                run.problem("hook-missing", f"{HOOK} did not reach the inventory-relay container")
            run.start()
            killed: list[str] = []
            for _ in range(INJECTIONS):
                run.moment(1, 2.5)
                with (
                    run.inject("kill inventory-relay") as injection,
                    PriceBurst(run, skus, changes=CHANGES_PER_BURST),
                ):
                    in_window = faults.wait_for_window(run, spy, database="inventory_service", timeout=20)
                    faults.kill("inventory-relay")
                    injection.notes["published_not_marked"] = len(in_window)
                    killed += in_window
                    if not in_window:
                        missed = "no product event was published-but-unmarked within 20s"
                        run.problem("kill-missed-window", missed)
                    faults.wait_running("inventory-relay", running=False, timeout=30)
                    faults.start("inventory-relay")
                    faults.wait_ready("inventory-relay")
        finally:
            faults.recreate_with_env("inventory-relay", {HOOK: "0"})
        run.finish(after_converged=lambda: _check_copy(run, spy, killed))


def _check_copy(run, spy, killed: list[str]) -> None:
    """The killed events were published again (at least once), and reconcile, which compares
    the copy with the inventory's API, finds nothing."""
    if spy.error is not None:
        run.problem("spy-failed", repr(spy.error))
    again = sorted({event_id for event_id in killed if spy.seen.get(event_id, 0) < 2})
    for event_id in again:
        run.problem("killed-event-not-redelivered", f"{event_id} was published once only, its row unmarked")
    reconcile = catalog_command("reconcile")
    if reconcile.returncode != 0:
        run.problem("reconcile-differences", (reconcile.stdout + reconcile.stderr)[-1000:])
    print(f"[chaos]   {len(killed)} product events killed unmarked; reconcile: {reconcile.stderr.strip()}")
