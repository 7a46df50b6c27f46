"""The docs' shell blocks, run against the stack, so the docs cannot drift from the code.

Every ```bash block in README.md, docs/*.md and bench/README.md is either run here (one
bash session per file, blocks in order, so a variable set in one block is there in the
next) and its output checked, or made only of commands listed in EXEMPT. A new block
needs a check in CHECKS; a block that is gone leaves a check unused: both fail the test.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e_tests.stack import ROOT, URLS

DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md")

# Commands the suite cannot run: they start, stop or test the stack itself, or take minutes.
EXEMPT = frozenset(
    {
        "../shared/docker-offline/prepare",
        "docker compose up --build -d",
        "docker compose down -v",
        "docker compose -f compose.yaml -f compose.web-replicas.yaml up --build -d",  # test_live_steps does
        "docker compose stop warehouse-worker notification-worker",
        "docker compose start warehouse-worker notification-worker",
        "docker compose stop inventory-api inventory-relay",  # test_catalog does
        "docker compose start inventory-api inventory-relay",
        "make test",
        "CHAOS_SEED=1564633845 make chaos",
        "BENCH_QUICK=1 make bench",
        "make down && make bench",
    }
)

# The docs name the default ports; the stack may be published on others (stack.py's variables).
DEFAULT_HOSTS = {
    "127.0.0.1:8001": URLS.order,
    "127.0.0.1:8002": URLS.inventory,
    "127.0.0.1:8003": URLS.payment,
    "127.0.0.1:8004": URLS.warehouse,
    "127.0.0.1:8005": URLS.notification,
}
SECONDS_PER_BLOCK = 45  # the slowest block polls for at most 20 s

BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MARKER = "@@ block {} @@"


@dataclass
class Seen:
    """What earlier blocks printed that a later check compares against."""

    values: dict[str, Any] = field(default_factory=dict)


# A check gets the JSON documents its block printed, in order.
Check = Callable[[list[Any], Seen], None]


def commands(block: str) -> list[str]:
    """The block's logical lines without comments: continuations joined, inline comments cut."""
    joined = re.sub(r"\s*\\\n\s*", " ", block)
    lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def is_exempt(block: str, where: str) -> bool:
    found = commands(block)
    exempt = [line for line in found if line in EXEMPT]
    assert not exempt or len(exempt) == len(found), (
        f"{where}: a block mixes exempt commands {exempt} with others; split it so the others run"
    )
    return bool(exempt)


def json_documents(output: str) -> list[Any]:
    """Every JSON object or array the block printed, in order (curl prints one per call)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while index < len(output):
        if output[index] in "[{":
            try:
                document, index = decoder.raw_decode(output, index)
            except json.JSONDecodeError:
                index += 1
                continue
            found.append(document)
        else:
            index += 1
    return found


def local_hosts(text: str) -> str:
    for default, url in DEFAULT_HOSTS.items():
        text = text.replace(default, urlsplit(url).netloc)
    return text


def run_session(blocks: list[str], *, where: str) -> list[str]:
    """Runs the blocks in one `bash -euo pipefail`; returns what each printed."""
    script = "".join(f"echo '{MARKER.format(i)}'\n{local_hosts(block)}\n" for i, block in enumerate(blocks))
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=SECONDS_PER_BLOCK * len(blocks),
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{where}: the blocks took longer than {error.timeout} s; printed: {error.stdout!r}")
    parts = re.split(r"^@@ block \d+ @@\n", done.stdout, flags=re.MULTILINE)[1:]
    assert done.returncode == 0, (
        f"{where}: block {len(parts) - 1} exited {done.returncode}:\n{blocks[len(parts) - 1]}\n"
        f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}"
    )
    assert len(parts) == len(blocks), done.stdout
    return parts


# --- the checks, one per run block, found by a string only that block contains ---------------


def product_created(docs: list[Any], seen: Seen) -> None:
    (product,) = docs
    assert product["sku"] == "SKU-DEMO" and product["available"] == 10, product


def order_confirmed(docs: list[Any], seen: Seen) -> None:
    (order,) = docs
    assert order["status"] == "CONFIRMED", order
    assert order["total_cents"] == 2 * 1200 and order["items"][0]["unit_price_cents"] == 1200, order
    seen.values["order"] = order


def same_key_replays(docs: list[Any], seen: Seen) -> None:
    replay, refused = docs
    assert replay == seen.values["order"], "a replay must answer exactly as the first request did"
    assert refused["code"] == "idempotency-key-reused" and refused["status"] == 422, refused


def shipped(docs: list[Any], seen: Seen) -> None:
    order, shipments, notifications, payments, journal = docs
    assert order["id"] == seen.values["order"]["id"] and order["status"] == "SHIPPED", order
    assert [s["status"] for s in shipments] == ["DISPATCHED"], shipments
    assert {"order_confirmed", "order_shipped"} <= {n["kind"] for n in notifications}, notifications
    assert [p["status"] for p in payments] == ["CAPTURED"], payments
    # Its steps and emails sent are there too, or on their way: the confirmation, then the dispatch.
    told = [e["type"] for e in journal["events"] if e["type"] in ("order.confirmed", "shipment.dispatched")]
    assert told == ["order.confirmed", "shipment.dispatched"], journal


def declined(docs: list[Any], seen: Seen) -> None:
    order, product = docs
    assert order["status"] == "FAILED" and order["failure_reason"] == "payment_declined", order
    # 10 put on the shelf, 2 sold to the first order; the declined order's 1 is back.
    assert product["available"] == 8 and product["reserved"] == 0, product


def cancelled(docs: list[Any], seen: Seen) -> None:
    order, payments, timeline = docs
    assert order["status"] == "CANCELLED", order
    assert [p["status"] for p in payments] == ["REFUNDED"], payments
    assert timeline["status"] == "CANCELLED" and timeline["stock_settled"] and timeline["payment_settled"]
    assert [t["to"] for t in timeline["transitions"]][-1] == "CANCELLED", timeline


def catalog_copied(docs: list[Any], seen: Seen) -> None:
    product, copy = docs
    assert product["price_cents"] == 1350, product
    assert (copy["price_cents"], copy["version"]) == (1350, product["version"]), copy


def problem_json(docs: list[Any], seen: Seen) -> None:
    missing_key, invalid = docs
    assert missing_key["code"] == "missing-idempotency-key" and missing_key["status"] == 400, missing_key
    assert invalid["code"] == "validation-error" and invalid["errors"], invalid


def one_trace(docs: list[Any], seen: Seen) -> None:
    *lines, dead_letters = docs
    traces = {line.get("trace_id") for line in lines}
    processes = {line.get("process") for line in lines}
    assert len(traces) == 1 and None not in traces, traces  # grep found only that trace's lines
    assert {"order-api", "inventory-api", "payment-api", "order-relay"} <= processes, processes
    assert isinstance(dead_letters, list) and all("queue" in letter for letter in dead_letters), dead_letters


CHECKS: dict[str, Check] = {
    "PUT 127.0.0.1:8002/products/SKU-DEMO": product_created,
    "ORDER=$(echo": order_confirmed,
    '"quantity": 5': same_key_replays,
    "grep -q order_shipped": shipped,
    "tok_chargeDeclined": declined,
    "/cancel": cancelled,
    "/catalog/SKU-DEMO": catalog_copied,
    "missing-idempotency-key": problem_json,
    'grep "$TRACE"': one_trace,
}


def check_for(block: str, where: str) -> str:
    markers = [marker for marker in CHECKS if marker in block]
    assert len(markers) == 1, f"{where}: a block needs exactly one check in CHECKS, found {markers}:\n{block}"
    return markers[0]


def test_every_doc_block_runs_or_is_exempt_and_prints_what_the_docs_say():
    used: list[str] = []
    exempted: set[str] = set()
    for path in DOCS:
        if not path.exists():
            continue
        where = path.relative_to(ROOT).as_posix()
        blocks = []
        for block in BLOCK.findall(path.read_text()):
            if is_exempt(block, where):
                exempted.update(commands(block))
            else:
                blocks.append(block)
        if not blocks:
            continue
        markers = [check_for(block, where) for block in blocks]
        used.extend(markers)
        seen = Seen()
        for index, output in enumerate(run_session(blocks, where=where)):
            try:
                CHECKS[markers[index]](json_documents(output), seen)
            except (AssertionError, ValueError, KeyError, TypeError) as error:
                detail = f"{where}, block {index}:\n{blocks[index]}\nprinted:\n{output}"
                raise AssertionError(detail) from error
    assert sorted(used) == sorted(CHECKS), f"checks whose block is gone: {set(CHECKS) - set(used)}"
    assert exempted == EXEMPT, f"exempt commands no doc holds any more: {EXEMPT - exempted}"


def test_commands_split_continuations_and_drop_comments():
    block = "# a comment\ncurl -s a \\\n  -d b   # why\nmake test  # slow\n"
    assert commands(block) == ["curl -s a -d b", "make test"]
    assert not is_exempt("curl -s a\n", "here")
    assert is_exempt("make test   # everything\n", "here")
    with pytest.raises(AssertionError, match="mixes"):
        is_exempt("make test\ncurl -s a\n", "here")


def test_json_documents_finds_each_printed_document():
    assert json_documents('HTTP/1.1 201\n{"a": 1}\n[{"b": 2}]{"c": [3]}\nnot json {') == [
        {"a": 1},
        [{"b": 2}],
        {"c": [3]},
    ]
