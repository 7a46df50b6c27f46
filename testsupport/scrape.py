"""Reading a process's GET /metrics the way Prometheus does, for the tests."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


def scraped_value(url: str, name: str, **labels: str) -> float | None:
    """The sample `name` with (at least) these labels, summed over the others; None when the
    process exposes no such sample. `url`: the whole address, `.../metrics`."""
    text = requests.get(url, timeout=5).text
    found = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    return sum(found) if found else None
