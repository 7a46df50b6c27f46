"""One chaos run: orders flowing, faults injected at random moments, then convergence and the
invariants, one row of the report. And the report itself (one table for the whole suite)."""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from e2e_tests.chaos import faults
from e2e_tests.chaos.driver import Catalog, OrderDriver, stock_catalog
from e2e_tests.chaos.invariants import COLUMNS, Findings, check
from e2e_tests.chaos.snapshot import Stores, read_full, wait_converged
from e2e_tests.stack import URLS
from testsupport.polling import wait_until

MIN_INJECTIONS = 5
CONVERGE_SECONDS = 120.0
# Where to look for evidence when an invariant breaks.
EVIDENCE_SERVICES = (
    "order-api",
    "order-worker",
    "order-relay",
    "inventory-api",
    "payment-api",
    "warehouse-worker",
    "notification-worker",
)


@dataclass
class Injection:
    what: str
    at: float  # driver time (seconds since the orders started)
    seconds: float = 0.0  # fault + recovery
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    fault: str
    test: str
    seed: int
    injections: int = 0
    placed: int = 0
    answered: int = 0
    unanswered: int = 0
    confirmed: int = 0
    failed: int = 0
    rejected: int = 0
    converge_seconds: float | None = None
    seconds: float = 0.0
    passed: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))
    figures: dict[str, Any] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    violations: list[dict[str, Any]] = field(default_factory=list)
    injection_log: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    error: str | None = None


class ChaosReport:
    """Rows per run; one table per fault kind at the end of the session."""

    HEADERS = (
        ("fault", 24),
        ("inj", 4),
        ("placed", 6),
        ("confirmed", 9),
        ("failed", 6),
        ("rejected", 8),
        ("no-answer", 9),
        ("lost", 4),
        ("dup ship", 8),
        ("dup mail", 8),
        ("dup charge", 10),
        ("charged!conf", 12),
        ("oversold", 8),
        ("leaked", 6),
        ("other", 5),
        ("converge max", 12),
        ("secs", 5),
        ("result", 6),
    )

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.seed: int | None = None

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def by_fault(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            entry = table.setdefault(
                row.fault,
                {
                    "injections": 0,
                    "placed": 0,
                    "confirmed": 0,
                    "failed": 0,
                    "rejected": 0,
                    "unanswered": 0,
                    "counts": dict.fromkeys(COLUMNS, 0),
                    "converge_max": 0.0,
                    "converged": True,
                    "seconds": 0.0,
                    "passed": True,
                },
            )
            for name in ("injections", "placed", "confirmed", "failed", "rejected", "unanswered", "seconds"):
                entry[name] += getattr(row, name)
            for column in COLUMNS:
                entry["counts"][column] += row.counts.get(column, 0)
            if row.converge_seconds is None:
                entry["converged"] = False
            else:
                entry["converge_max"] = max(entry["converge_max"], row.converge_seconds)
            entry["passed"] = entry["passed"] and row.passed
        return table

    def lines(self) -> list[str]:
        header = " | ".join(name.ljust(width) for name, width in self.HEADERS)
        out = [header, "-" * len(header)]
        for fault, e in self.by_fault().items():
            c = e["counts"]
            converge = f"{e['converge_max']:.1f}s" if e["converged"] else "TIMEOUT"
            cells = (
                fault,
                e["injections"],
                e["placed"],
                e["confirmed"],
                e["failed"],
                e["rejected"],
                e["unanswered"],
                c["lost"],
                c["dup_shipments"],
                c["dup_emails"],
                c["dup_charges"],
                c["charged_not_confirmed"],
                c["oversold"],
                c["leaked"],
                c["other"],
                converge,
                f"{e['seconds']:.0f}",
                "ok" if e["passed"] else "FAIL",
            )
            out.append(" | ".join(str(v).ljust(w) for v, (_n, w) in zip(cells, self.HEADERS, strict=True)))
        return out

    def write_json(self, path: Path) -> None:
        document = {
            "seed": self.seed,
            "written_at": datetime.now(UTC).isoformat(),
            "by_fault": self.by_fault(),
            "runs": [asdict(row) for row in self.rows],
        }
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")


class ChaosRun:
    """Use: `run.start()`, then injections (`with run.inject("kill x"): ...`) separated by
    `run.moment()`, then `run.finish()`, which asserts every invariant."""

    def __init__(self, *, fault: str, test: str, seed: int, report: ChaosReport) -> None:
        self.fault = fault
        self.seed = seed
        self.rng = random.Random(f"{seed}/{test}")
        self.run_id = uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]
        self.report = report
        self.row = Row(fault=fault, test=test, seed=seed)
        self.injections: list[Injection] = []
        self.problems = Findings()
        self.stores = Stores()
        self.catalog: Catalog | None = None
        self.driver: OrderDriver | None = None
        self.started_at = datetime.now(UTC)
        self._began = time.monotonic()
        self._pause = threading.Event()  # never set: waits on it are the random moments
        self.finished = False

    # --- the run ----------------------------------------------------------------------------

    def start(self, **driver_options: Any) -> ChaosRun:
        self.catalog = stock_catalog(run_id=self.run_id, rng=self.rng)
        self.driver = OrderDriver(run_id=self.run_id, catalog=self.catalog, rng=self.rng, **driver_options)
        self.driver.start()
        print(
            f"\n[chaos] {self.fault}: run {self.run_id}, seed {self.seed}, customer {self.driver.customer_id}"
        )
        return self

    def moment(self, low: float = 1.0, high: float = 3.0) -> float:
        """Waits a random (seeded) while, orders flowing: the next injection's random moment."""
        seconds = self.rng.uniform(low, high)
        self._pause.wait(seconds)
        return seconds

    @contextmanager
    def inject(self, what: str):
        injection = Injection(what=what, at=self.driver.now() if self.driver else 0.0)
        began = time.monotonic()
        try:
            yield injection
        finally:
            injection.seconds = time.monotonic() - began
            self.injections.append(injection)
            print(
                f"[chaos]   t={injection.at:6.1f}s {what} ({injection.seconds:.1f}s) {injection.notes or ''}"
            )

    def wait_flowing(self, *, timeout: float = 90.0) -> float:
        """Polls (deadline) until an order placed from now on is answered 201 CONFIRMED and then
        SHIPPED: the whole chain (relay, warehouse, its relay, order worker) moves again."""
        began = time.monotonic()
        after = self.driver.now()
        deadline = began + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no order placed after t={after:.1f}s was CONFIRMED within {timeout}s"
            record = self.driver.wait_for_success(after=after, timeout=remaining)
            if record.answered_status == "CONFIRMED":
                break
            after = record.started + 1e-6  # a decline or out of stock: wait for the next one
        order_id = record.order_id
        wait_until(
            lambda: requests.get(f"{URLS.order}/orders/{order_id}", timeout=5).json()["status"] == "SHIPPED",
            timeout=max(1.0, deadline - time.monotonic()),
            interval=0.5,
            what=f"order {order_id} (placed after recovery) SHIPPED",
        )
        return time.monotonic() - began

    def expect_no_restarts(self, before: dict, *, except_: tuple[str, ...] = ()) -> None:
        """No container but those of `except_` was restarted or re-created since `before`."""
        after = faults.start_marks()
        for service, mark in before.items():
            if service not in except_ and after.get(service) != mark:
                self.problem("service-restarted", f"{service}: {mark} -> {after.get(service)}")

    def problem(self, kind: str, detail: str, *, column: str = "other", order_id: str | None = None) -> None:
        """A broken promise seen during the run (not in the data afterwards)."""
        self.problems.add(column, kind, detail, order_id=order_id)

    def finish(
        self,
        *,
        converge_timeout: float = CONVERGE_SECONDS,
        min_injections: int = MIN_INJECTIONS,
        after_converged: Callable[[], None] | None = None,
    ) -> Findings:
        """Stops the orders, waits for convergence, checks every invariant, records the row, asserts.
        `after_converged` runs checks of the test's own (they call `problem`) once it converged."""
        assert self.driver is not None and self.catalog is not None, "start() first"
        self.finished = True
        try:
            self.driver.stop()
            seconds, gaps = wait_converged(
                self.stores, customer_id=self.driver.customer_id, timeout=converge_timeout
            )
            if after_converged is not None:
                after_converged()
            records = self.driver.records
            snapshot = read_full(
                self.stores,
                customer_id=self.driver.customer_id,
                catalog=self.catalog,
                keys=sorted({r.key for r in records}),
                emails=self.driver.emails,
            )
            found = check(snapshot, records=records, catalog=self.catalog)
        except BaseException as error:
            self._record(error=error)
            raise
        for violation in self.problems.violations:
            found.add(
                violation["column"], violation["kind"], violation["detail"], order_id=violation["order_id"]
            )
        if len(self.injections) < min_injections:
            found.add(
                "other", "too-few-injections", f"{len(self.injections)} injections, want {min_injections}"
            )
        self._record(found=found, converge_seconds=seconds, gaps=gaps)
        failures = []
        if seconds is None:
            failures.append(f"did not converge within {converge_timeout}s: {gaps}")
        if not found.clean:
            kinds = {}
            for violation in found.violations:
                kinds.setdefault(violation["kind"], []).append(violation)
            for kind, items in kinds.items():
                failures.append(f"{kind} x{len(items)} [{items[0]['column']}], e.g. {items[0]}")
        assert not failures, f"{self.fault} (seed {self.seed}, run {self.run_id}): " + "\n  ".join(
            ["", *failures]
        )
        return found

    def abort(self, error: BaseException | None) -> None:
        """A test body that failed before finish(): stop the orders, keep a row of what happened."""
        if self.finished:
            return
        self.finished = True
        if self.driver is not None:
            with suppress(AssertionError):  # threads still busy after 60 s: the row says what we know
                self.driver.stop(timeout=60)
        self._record(error=error)

    def _evidence(self, found: Findings) -> list[str]:
        """Log lines about the violations: those naming their orders, and for duplicate emails
        the notification worker's warnings and errors in the seconds before the second copy."""
        needles = sorted({v["order_id"] for v in found.violations if v.get("order_id")})[:15]
        evidence = faults.logs_mentioning(EVIDENCE_SERVICES, needles, since=self.started_at)
        for violation in [v for v in found.violations if v["kind"] == "duplicate-email"][:3]:
            times = re.findall(r"\d{4}-\d\d-\d\dT[\d:.]+Z", violation["detail"])
            if len(times) >= 2:
                first = datetime.fromisoformat(times[0].replace("Z", "+00:00"))
                last = datetime.fromisoformat(times[-1].replace("Z", "+00:00"))
                evidence.append(f"-- duplicate email of {violation['order_id']}: copies at {times}")
                evidence += faults.log_lines(
                    "notification-worker",
                    since=first - timedelta(seconds=2),
                    until=last + timedelta(seconds=1),
                    markers=("WARNING", "ERROR", "retry", "OperationalError"),
                )
        restarted = {v["detail"].split(":")[0] for v in found.violations if v["kind"] == "service-restarted"}
        for service in sorted(restarted):
            evidence.append(f"-- {service} was restarted: its last error before that")
            markers = ("Traceback", "Error:", "OperationalError", 'File "')
            evidence += faults.logs_mentioning([service], markers, since=self.started_at, limit=12)
        return evidence

    def _record(
        self,
        *,
        found: Findings | None = None,
        converge_seconds: float | None = None,
        gaps: list[str] | None = None,
        error: BaseException | None = None,
    ) -> None:
        row = self.row
        row.injections = len(self.injections)
        row.injection_log = [asdict(i) for i in self.injections]
        row.seconds = time.monotonic() - self._began
        row.converge_seconds = converge_seconds
        row.gaps = gaps or []
        if self.driver is not None:
            records = self.driver.records
            keys = {r.key for r in records}
            answered = {r.key for r in records if r.status is not None}
            row.placed, row.answered, row.unanswered = len(keys), len(answered), len(keys - answered)
        if found is not None:
            row.counts = dict(found.counts)
            row.figures = found.figures
            row.violations = found.violations
            row.confirmed = found.figures.get("confirmed", 0)
            row.failed = found.figures.get("failed", 0)
            row.rejected = found.figures.get("rejected", 0)
            row.passed = found.clean and converge_seconds is not None and error is None
            if not row.passed:
                row.evidence = self._evidence(found)
        if error is not None:
            row.error = f"{type(error).__name__}: {error}"[:2000]
            row.passed = False
        self.report.add(row)
        self.stores.dispose()
