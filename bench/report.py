"""Turning raw step results into numbers, a printed table, and bench-results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.load import StepResult
from bench.measure import percentile


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def summarize(step: StepResult) -> dict[str, Any]:
    """Latency percentiles over every finished request (errors included: a client waited for
    them too); error rate over every attempt, unsent open-loop slots included."""
    attempted = step.attempted
    failed = attempted - step.confirmed
    return {
        "mode": step.mode,
        "concurrency": step.concurrency,
        "target_rate": None if step.target_rate is None else round(step.target_rate, 1),
        "seconds": round(step.seconds, 2),
        "attempted": attempted,
        "confirmed": step.confirmed,
        "confirmed_per_s": round(step.confirmed / step.seconds, 1) if step.seconds > 0 else 0.0,
        "p50_ms": _ms(percentile(step.latencies, 50)),
        "p95_ms": _ms(percentile(step.latencies, 95)),
        "p99_ms": _ms(percentile(step.latencies, 99)),
        "error_rate_pct": round(100 * failed / attempted, 2) if attempted else 0.0,
        "errors": dict(step.errors),
        "not_sent": step.not_sent,
        "generator_cpu_pct": round(100 * step.generator_cpu_seconds / step.seconds, 1)
        if step.seconds
        else None,
    }


def _cpu_ms_per_order(cpu_pct: float | None, rate: float | None) -> float | None:
    """CPU time per confirmed order: mean CPU over the sampled steps / their mean rate."""
    return round(cpu_pct * 10 / rate, 1) if cpu_pct and rate else None


def _fmt(value: Any, width: int) -> str:
    if isinstance(value, str):
        return value.ljust(width)  # names read better left-aligned, numbers right-aligned
    text = "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))
    return text.rjust(width)


def _table(title: str, header: list[tuple[str, int]], lines: list[list[Any]]) -> str:
    names = [name.ljust(width) if i == 0 else name.rjust(width) for i, (name, width) in enumerate(header)]
    out = [f"\n{title}", "  ".join(names)]
    out += ["  ".join(_fmt(v, w) for v, (_, w) in zip(line, header, strict=True)) for line in lines]
    return "\n".join(out)


def render(results: dict[str, Any]) -> str:
    parts: list[str] = []
    m = results.get("machine", {})
    parts.append(
        f"machine: {m.get('cores')} cores, {m.get('ram_gib')} GiB RAM; load path: {m.get('load_path')}; "
        f"profile: {'quick' if results.get('quick') else 'full'}; took {results.get('took_s')} s"
    )
    steps = results.get("closed_loop", [])
    if steps:
        parts.append(
            _table(
                "closed loop POST /orders (tok_visa, 1 line)",
                [
                    ("conc", 5),
                    ("sent", 6),
                    ("conf/s", 7),
                    ("p50ms", 7),
                    ("p95ms", 7),
                    ("p99ms", 7),
                    ("err%", 6),
                    ("gen cpu%", 8),
                    ("settle s", 8),
                ],
                [
                    [
                        s["concurrency"],
                        s["attempted"],
                        s["confirmed_per_s"],
                        s["p50_ms"],
                        s["p95_ms"],
                        s["p99_ms"],
                        s["error_rate_pct"],
                        s["generator_cpu_pct"],
                        s.get("settle_s"),
                    ]
                    for s in steps
                ],
            )
        )
        parts.append(
            f"max sustained rate (best closed-loop step): {results.get('max_rate')} confirmed orders/s"
        )
    steps = results.get("open_loop", [])
    if steps:
        parts.append(
            _table(
                "open loop (latency from the scheduled send time)",
                [
                    ("load", 5),
                    ("target/s", 8),
                    ("conf/s", 7),
                    ("p50ms", 7),
                    ("p95ms", 7),
                    ("p99ms", 8),
                    ("err%", 6),
                    ("unsent", 6),
                    ("settle s", 8),
                ],
                [
                    [
                        f"{int(100 * s['fraction'])}%",
                        s["target_rate"],
                        s["confirmed_per_s"],
                        s["p50_ms"],
                        s["p95_ms"],
                        s["p99_ms"],
                        s["error_rate_pct"],
                        s["not_sent"],
                        s.get("settle_s"),
                    ]
                    for s in steps
                ],
            )
        )
    lag = results.get("event_lag")
    if lag and lag.get("orders"):
        lines = [
            [
                name,
                lag[key]["n"],
                lag[key]["missing"],
                lag[key]["p50_ms"],
                lag[key]["p99_ms"],
                lag[key]["max_ms"],
            ]
            for name, key in (
                ("CONFIRMED -> shipment row", "to_shipment"),
                ("CONFIRMED -> order_confirmed sent", "to_email"),
            )
        ]
        parts.append(
            _table(
                f"event lag at {lag.get('rate')} orders/s ({lag.get('load_confirmed_per_s')} confirmed/s)",
                [("path", 34), ("n", 5), ("miss", 5), ("p50ms", 8), ("p99ms", 8), ("maxms", 8)],
                lines,
            )
        )
    parts.extend(_flows(results.get("flows")))
    rounds = results.get("backlog", [])
    lines = []
    for r in rounds:
        for q in r.get("queues", []):
            lines.append(
                [
                    r["warehouse_workers"],
                    r["orders_confirmed"],
                    r["placement_orders_per_s"],
                    q["queue"],
                    q["depth_at_start"],
                    q["events"],
                    q["drain_seconds"],
                    q["events_per_s"],
                    q["steady_events_per_s"],
                    r["finished"],
                ]
            )
    if lines:
        parts.append(
            _table(
                "backlog drain (consumers stopped, N orders placed, consumers started); ev/s = events / "
                "drain s; steady/s = first..last DB effect (shipment row; email sent)",
                [
                    ("wh", 3),
                    ("orders", 6),
                    ("place/s", 7),
                    ("queue", 20),
                    ("depth", 6),
                    ("events", 6),
                    ("drain s", 7),
                    ("ev/s", 7),
                    ("steady/s", 8),
                    ("done", 5),
                ],
                lines,
            )
        )
    usage = results.get("resources", {}).get("containers", {})
    if usage:
        ordered = sorted(usage.items(), key=lambda kv: -(kv[1]["cpu_mean_pct"] or 0))
        parts.append(
            _table(
                f"docker stats during the throughput phase (100% = one core); host CPU busy "
                f"{results['resources'].get('host_cpu_pct')}% of all cores; host processes (% of a core): "
                f"{results['resources'].get('host_processes_cpu_pct')}",
                [
                    ("container", 22),
                    ("samples", 7),
                    ("cpu mean%", 9),
                    ("cpu max%", 9),
                    ("mem peak MiB", 12),
                    ("cpu ms/order", 12),
                ],  # fmt: skip
                [
                    [
                        name,
                        u["samples"],
                        u["cpu_mean_pct"],
                        u["cpu_max_pct"],
                        u["mem_peak_mib"],
                        _cpu_ms_per_order(u["cpu_mean_pct"], results.get("sampled_rate")),
                    ]  # fmt: skip
                    for name, u in ordered
                ],
            )
        )
    parts.extend(_live(results.get("live")))
    parts.extend(_catalog(results.get("catalog")))
    if results.get("errors"):
        parts.append("\nphase errors: " + json.dumps(results["errors"]))
    return "\n".join(parts)


def _flows(flows: dict[str, Any] | None) -> list[str]:
    if not flows or "sync" not in flows:
        return []
    lines = []
    for name in ("hybrid", "sync"):
        flow = flows[name]
        steady, down = flow["open"], flow["warehouse_down"]
        lines.append([name, flow["max_rate"], steady["p50_ms"], steady["p99_ms"], steady["error_rate_pct"],
                      down["p50_ms"], down["p99_ms"], down["error_rate_pct"]])  # fmt: skip
    return [
        _table(
            f"hybrid vs all-synchronous (ORDER_FLOW=sync); open loop at {flows['rate']} orders/s, "
            "then again with warehouse-api and warehouse-worker stopped",
            [
                ("flow", 7),
                ("max/s", 6),
                ("p50ms", 7),
                ("p99ms", 7),
                ("err%", 5),
                ("down p50", 8),
                ("down p99", 8),
                ("down err%", 9),
            ],  # fmt: skip
            lines,
        ),
        f"hybrid/sync throughput: {flows['throughput_ratio']}x; "
        f"sync/hybrid p99 at the same rate: {flows['p99_ratio_sync_over_hybrid']}x",
    ]


def _live(live: dict[str, Any] | None) -> list[str]:
    if not live:
        return []
    idle, push = live["idle"], live["push"]
    p99 = f"{push['p99_ms']} ms" if push["p99_ms"] is not None else "not shown (under 1,000 samples)"
    connections = (
        f"\nstorefront push (one order-web process): {idle['held']} of {live['connections']} WebSockets "
        f"held idle; order-web CPU {idle['cpu_ms_per_s_without']} ms/s without them, "
        f"{idle['cpu_ms_per_s_with']} with ({idle['cpu_us_per_s_per_connection']} us/s per connection); "
        f"memory {idle['memory_mib_before']} -> {idle['memory_mib_after']} MiB "
        f"({idle['memory_kib_per_connection']} KiB per connection)"
    )
    latency = (
        f"push latency, publish -> watcher, orders at {live['rate']}/s for {live['seconds']:.0f} s "
        f"({push['orders']} orders): {push['samples']} steps, p50 {push['p50_ms']} ms, p99 {p99}, "
        f"max {push['max_ms']} ms; idle sockets still open after: {push['idle_sockets_still_open']}; "
        f"errors: {live['errors'] or 'none'}"
    )
    return [connections, latency]


def _catalog(catalog: dict[str, Any] | None) -> list[str]:
    if not catalog:
        return []
    lag, rebuild = catalog["lag"], catalog["rebuild"]
    p99 = f"{lag['p99_ms']} ms" if lag["p99_ms"] is not None else "not shown (under 1,000 samples)"
    return [
        f"\ncatalog copy: {lag['changes']} price changes at {lag['change_rate']}/s while orders were placed "
        f"at {lag['order_rate']}/s ({lag['orders_confirmed']} confirmed, "
        f"errors {lag['orders_errors'] or 'none'}): "
        f"lag inventory -> order service's copy p50 {lag['p50_ms']} ms, p99 {p99}, max {lag['max_ms']} ms",
        f"rebuild: a copy of {rebuild['products']} products replayed from the catalog stream "
        f"({rebuild['stream_messages']} messages) in {rebuild['seconds']} s",
    ]


def write(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
