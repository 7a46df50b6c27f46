"""Chaos fixtures: the seed (printed; set it with CHAOS_SEED), one run per test, the report.

Run: `.venv/bin/python -m pytest e2e_tests/chaos -q -s`. At the end the suite prints one table
(per fault kind) and writes it, with every run's details, to REPORT_FILE.
"""

from __future__ import annotations

import logging
import os
import random

import pytest

from e2e_tests.chaos import faults
from e2e_tests.chaos.scenario import ChaosReport, ChaosRun
from e2e_tests.stack import ROOT

REPORT_FILE = ROOT / "chaos-report.json"
REPORT = ChaosReport()


def _seed() -> int:
    raw = os.environ.get("CHAOS_SEED", "").strip()
    return int(raw) if raw else random.SystemRandom().randrange(1, 2**31)


SEED = _seed()
REPORT.seed = SEED
# pika logs every refused connection while the broker is down on purpose: noise in a failure's report.
logging.getLogger("pika").setLevel(logging.CRITICAL)


def pytest_report_header(config):
    return f"chaos seed: {SEED} (rerun with CHAOS_SEED={SEED})"


@pytest.fixture(scope="session")
def chaos_seed() -> int:
    print(f"\n[chaos] seed {SEED} (rerun with CHAOS_SEED={SEED})")
    return SEED


@pytest.fixture(scope="session")
def chaos_report() -> ChaosReport:
    return REPORT


@pytest.fixture
def chaos(request, chaos_seed, chaos_report):
    """A factory of one ChaosRun for the test; heals the stack before and after."""
    faults.heal_stack()
    runs: list[ChaosRun] = []

    def new_run(fault: str) -> ChaosRun:
        run = ChaosRun(fault=fault, test=request.node.name, seed=chaos_seed, report=chaos_report)
        runs.append(run)
        return run

    yield new_run
    failed = getattr(request.node, "chaos_call_error", None)
    for run in runs:
        run.abort(failed)
    faults.heal_stack()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except BaseException as error:
        item.chaos_call_error = error
        raise


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not REPORT.rows:
        return
    terminalreporter.section(f"chaos report (seed {SEED}; rerun with CHAOS_SEED={SEED})")
    for line in REPORT.lines():
        terminalreporter.write_line(line)
    broken = [(row, v) for row in REPORT.rows for v in row.violations][:25]
    if broken:
        terminalreporter.write_line("")
        terminalreporter.write_line("violations (first 25; all in the JSON report):")
        for row, violation in broken:
            terminalreporter.write_line(
                f"  [{row.fault}] {violation['kind']} ({violation['column']}) "
                f"order={violation['order_id']}: {violation['detail']}"[:300]
            )
    for row in REPORT.rows:
        if row.error:
            terminalreporter.write_line(f"  [{row.fault}] error: {row.error[:300]}")
    REPORT.write_json(REPORT_FILE)
    terminalreporter.write_line(f"written: {REPORT_FILE}")
