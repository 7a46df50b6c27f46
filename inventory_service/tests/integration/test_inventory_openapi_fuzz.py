"""The inventory API against its OpenAPI document: generated requests, valid and invalid, to
every operation, on a real database; no 5xx and no answer the document does not describe."""

from __future__ import annotations

import pytest

from testsupport.openapi_fuzz import fuzz

pytestmark = pytest.mark.fuzz


def test_generated_requests_get_documented_answers(inventory_app, fuzz_summary):
    report = fuzz(inventory_app, service="inventory", examples=96)
    fuzz_summary(report.line())
    assert report.requests >= 1000
    assert report.failures == [], "\n".join(report.failures[:20])
