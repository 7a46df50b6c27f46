"""What the benchmark observes besides HTTP answers: docker stats, host CPU, queues, event lag.

Containers come from `e2e_tests.stack.containers` (compose labels), queue depths from
`e2e_tests.stack.queue_state` (passive declares: exact, no management-stats lag), and the
event-lag timestamps from each service's database, read-only, through `database_url`.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from e2e_tests.stack import ROOT, database_url, queue_state


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(round(q / 100 * len(ordered) + 0.5 - 1e-9)))
    return ordered[min(rank, len(ordered)) - 1]


# --- docker stats -----------------------------------------------------------------------------


def stack_containers() -> list:
    """Every running container of this compose project (found by its labels, like stack.py)."""
    import docker

    client = docker.from_env()
    project = os.environ.get("COMPOSE_PROJECT_NAME")
    label = (
        f"com.docker.compose.project={project}"
        if project
        else f"com.docker.compose.project.working_dir={ROOT}"
    )
    return client.containers.list(filters={"label": label})


def _cpu_percent(stats: dict[str, Any]) -> float | None:
    """docker stats' formula: share of the host's CPU time, times the CPU count (100 = one core)."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    try:
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    return cpu_delta / system_delta * cpus * 100 if system_delta > 0 else None


def _memory_bytes(stats: dict[str, Any]) -> int | None:
    """Usage minus page cache, as docker stats shows it (cgroup v2: inactive_file; v1: cache)."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    extra = memory.get("stats") or {}
    return usage - extra.get("inactive_file", extra.get("total_inactive_file", extra.get("cache", 0)))


def _host_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


HOST_PROCESSES = ("docker-proxy", "dockerd")  # the userland proxy on the load path; the engine


def _process_ticks(names: tuple[str, ...]) -> dict[int, tuple[str, int]]:
    """{pid: (name, user + system jiffies)} of the host processes with these names."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                line = stat.read()
        except OSError:
            continue  # exited meanwhile
        name = line[line.index("(") + 1 : line.rindex(")")]
        if name in names:
            fields = line[line.rindex(")") + 2 :].split()
            found[int(entry)] = (name, int(fields[11]) + int(fields[12]))  # utime, stime
    return found


@dataclass
class ContainerUsage:
    cpu: list[float] = field(default_factory=list)
    memory: list[int] = field(default_factory=list)


class StatsSampler:
    """`container.stats(stream=False)` for every stack container, every `interval` seconds.

    One thread per container: a non-streaming stats call blocks ~1-2 s (docker takes two
    samples to compute the CPU delta), so one thread for all ~16 containers could not keep
    a 2 s cadence. Host-wide CPU comes from /proc/stat over the same window.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.usage: dict[str, ContainerUsage] = {}
        self._stop = threading.Event()
        self._recording = threading.Event()  # cleared while the benchmark waits between steps
        self._threads: list[threading.Thread] = []
        self._host_mark: tuple[int, int] | None = None
        self._host_busy = self._host_total = 0
        self._process_mark: dict[int, tuple[str, int]] = {}
        self._process_ticks: dict[str, int] = dict.fromkeys(HOST_PROCESSES, 0)
        self.process_cpu_percent: dict[str, float] = {}  # 100 = one core, like docker stats
        self.host_cpu_percent: float | None = None  # of all cores: 100 = the whole machine busy

    def pause(self) -> None:
        self._recording.clear()
        if self._host_mark:
            busy, total = _host_cpu_ticks()
            self._host_busy += busy - self._host_mark[0]
            self._host_total += total - self._host_mark[1]
            self._host_mark = None
            for pid, (name, ticks) in _process_ticks(HOST_PROCESSES).items():
                if pid in self._process_mark:
                    self._process_ticks[name] += ticks - self._process_mark[pid][1]

    def resume(self) -> None:
        self._host_mark = _host_cpu_ticks()
        self._process_mark = _process_ticks(HOST_PROCESSES)
        self._recording.set()

    def _sample(self, container) -> None:
        service = container.labels.get("com.docker.compose.service", container.name)
        number = container.labels.get("com.docker.compose.container-number", "1")
        usage = self.usage.setdefault(f"{service}#{number}" if number != "1" else service, ContainerUsage())
        while not self._stop.is_set():
            if not self._recording.is_set():  # between steps: spare dockerd the stats calls
                self._stop.wait(self.interval / 4)
                continue
            started = time.monotonic()
            try:
                stats = container.stats(stream=False)
            except Exception:  # noqa: BLE001 - a stopped container just stops reporting
                break
            cpu, memory = _cpu_percent(stats), _memory_bytes(stats)
            if cpu is not None:
                usage.cpu.append(cpu)
            if memory is not None:
                usage.memory.append(memory)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> StatsSampler:
        self.resume()
        for container in stack_containers():
            thread = threading.Thread(target=self._sample, args=(container,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pause()
        self._stop.set()
        if self._host_total > 0:
            self.host_cpu_percent = 100 * self._host_busy / self._host_total
            # /proc/stat's total counts every core's jiffies; a process's are per core used.
            elapsed = self._host_total / (os.cpu_count() or 1)
            self.process_cpu_percent = {
                name: round(100 * ticks / elapsed, 1) for name, ticks in self._process_ticks.items()
            }
        for thread in self._threads:
            thread.join(timeout=10)

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        return {
            name: {
                "samples": len(u.cpu),
                "cpu_mean_pct": sum(u.cpu) / len(u.cpu) if u.cpu else None,
                "cpu_max_pct": max(u.cpu) if u.cpu else None,
                "mem_peak_mib": max(u.memory) / 2**20 if u.memory else None,
            }
            for name, u in sorted(self.usage.items())
        }


# --- queues and databases ---------------------------------------------------------------------


def read_only_engine(database: str) -> sa.Engine:
    """The stack's superuser URL, but every transaction read-only (as the chaos invariants do)."""
    return sa.create_engine(
        database_url(database),
        poolclass=sa.pool.NullPool,
        connect_args={"options": "-c default_transaction_read_only=on", "connect_timeout": 5},
    )


def rows(database: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    engine = read_only_engine(database)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def wait_queues_empty(
    queues: tuple[str, ...], *, timeout: float, interval: float = 1.0, emails: bool = False
) -> float | None:
    """Seconds until every queue shows 0 ready messages and the order outbox is sent (and with
    `emails`, no notification is still PENDING and the notification outbox, their
    `notification.sent`, is sent too); None on timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            depths = queue_state(queues)
            unsent = rows("order_service", "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL")[0]["n"]
            # Emails are sent by Celery tasks after the event is consumed: an empty
            # notification.events queue does not mean the emails went out.
            pending_sql = "SELECT count(*) AS n FROM notifications WHERE status = 'PENDING'"
            pending = rows("notification_service", pending_sql)[0]["n"] if emails else 0
            if emails:
                unsent += rows(
                    "notification_service", "SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL"
                )[0]["n"]
            if unsent == 0 and pending == 0 and all(ready == 0 for ready, _ in depths.values()):
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - the broker may be busy for a moment; keep polling
            pass
        time.sleep(interval)
    return None


def event_lags(order_ids: list[str], *, timeout: float) -> dict[str, Any]:
    """Per confirmed order: CONFIRMED transition → shipment row, and → order_confirmed email sent.

    Waits (bounded) until every order has both, then reads the timestamps; all three databases
    live in one PostgreSQL server, so the clocks agree.
    """
    if not order_ids:
        return {"orders": 0}
    deadline = time.monotonic() + timeout
    while True:
        shipped = rows(
            "warehouse_service",
            "SELECT order_id, created_at FROM shipments WHERE order_id = ANY(:ids)",
            ids=order_ids,
        )
        mailed = rows(
            "notification_service",
            "SELECT order_id, sent_at FROM notifications "
            "WHERE kind = 'order_confirmed' AND sent_at IS NOT NULL AND order_id = ANY(:ids)",
            ids=order_ids,
        )
        if (len(shipped) >= len(order_ids) and len(mailed) >= len(order_ids)) or time.monotonic() > deadline:
            break
        time.sleep(1)
    confirmed = {
        row["order_id"]: row["at"]
        for row in rows(
            "order_service",
            "SELECT order_id, at FROM order_transitions "
            "WHERE to_status = 'CONFIRMED' AND order_id = ANY(:ids)",
            ids=order_ids,
        )
    }

    def lags(found: list[dict[str, Any]], column: str) -> list[float]:
        return [
            (row[column] - confirmed[row["order_id"]]).total_seconds()
            for row in found
            if row["order_id"] in confirmed
        ]

    out: dict[str, Any] = {"orders": len(order_ids), "confirmed_transitions": len(confirmed)}
    for name, values, missing in (
        ("to_shipment", lags(shipped, "created_at"), len(order_ids) - len(shipped)),
        ("to_email", lags(mailed, "sent_at"), len(order_ids) - len(mailed)),
    ):
        out[name] = {
            "n": len(values),
            "missing": missing,
            "p50_ms": _ms(percentile(values, 50)),
            "p99_ms": _ms(percentile(values, 99)),
            "max_ms": _ms(max(values) if values else None),
        }
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def machine() -> dict[str, Any]:
    """Cores, RAM, and the load path (stated, since it changes the numbers)."""
    with open("/proc/meminfo") as meminfo:
        total_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(total_kib / 2**20, 1),
        "load_path": "host -> 127.0.0.1 published ports -> docker userland proxy -> containers",
    }
