"""End to end: every process compose.yaml starts, started as compose starts it (its `command:`)
with APP_ENV=production and compose's development credentials, exits at once naming the
variable. No server is needed: the refusal comes before any connection."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = (ROOT / "compose.yaml").read_text()
BIN = str(Path(sys.executable).parent)  # gunicorn and celery, next to this python
REAL_DATABASE_URL = "postgresql+psycopg2://order_service:Xk4v9q@127.0.0.1:1/order_service"
REAL_BROKER_URL = "amqp://pipeline:r7Tq2mZp@127.0.0.1:1/%2F"


def development(anchor: str) -> str:
    """An `x-credentials` value of compose.yaml, with its `${VAR:-default}` defaults filled in."""
    value = re.search(rf"&{anchor} (\S+)", COMPOSE)
    assert value, anchor
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value[1])


def app_commands() -> list[str]:
    """The distinct `command:`s of the pipeline's own processes (not the images' lists)."""
    return sorted({c for c in re.findall(r"^    command: (.+)$", COMPOSE, re.M) if not c.startswith("[")})


def start(command: str, **environ: str) -> subprocess.Popen:
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "APP_ENV": "production",
        "GUNICORN_CMD_ARGS": "--bind 127.0.0.1:0",  # were it to get that far, no fixed port
        "LIVENESS_FILE": os.devnull,
        **environ,
    }
    return subprocess.Popen(
        ["sh", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def last_words(line: str) -> str:
    """A line as a reader sees it: a JSON log line's (messaging/logs.py) traceback's last line,
    or its message; any other line as it is."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    return (record.get("traceback") or record.get("message") or "").rpartition("\n")[2]


def outcomes(processes: dict[str, subprocess.Popen]) -> dict[str, tuple[int, str]]:
    """{command: (exit status, the refusal line or the last output line)}; in parallel, since
    each is a Python start of 1-3 s."""
    found = {}
    for command, process in processes.items():
        output, _ = process.communicate(timeout=60)
        lines = [last_words(line) for line in output.strip().splitlines()] or [""]
        refusal = next((line for line in reversed(lines) if "APP_ENV=production" in line), lines[-1])
        found[command] = (process.returncode, refusal.rpartition("ConfigurationError: ")[2])
    return found


def test_every_process_of_the_stack_refuses_the_development_database_password():
    commands = app_commands()
    # Five APIs (migration, then gunicorn), three workers, the relay, the expirer, broker-setup,
    # the journal indexer, the catalog copy (order-catalog), the storefront (order-web).
    assert len(commands) == 14
    environ = {"DATABASE_URL": development("order-db"), "BROKER_URL": REAL_BROKER_URL}

    found = outcomes({command: start(command, **environ) for command in commands})

    refusal = "APP_ENV=production but DATABASE_URL still holds its development value"
    assert {command: (status != 0, line) for command, (status, line) in found.items()} == {
        command: (True, refusal) for command in commands
    }


def test_an_api_refuses_in_gunicorn_and_a_worker_and_a_relay_refuse_the_broker_password():
    """Migrations are the first process of an API container; gunicorn's app factory refuses
    too. The broker's password: the processes that are given one."""
    gunicorn = "exec gunicorn -c infra/gunicorn.conf.py 'payment_service.api:create_app()'"
    worker = "exec celery -A warehouse_service.celery_app worker --without-gossip --without-mingle -c 1"
    relay = "exec python -m messaging.relay"
    processes = {
        gunicorn: start(gunicorn, DATABASE_URL=development("payment-db")),
        worker: start(worker, DATABASE_URL=REAL_DATABASE_URL, BROKER_URL=development("broker-url")),
        relay: start(relay, DATABASE_URL=REAL_DATABASE_URL, BROKER_URL="amqp://guest:guest@127.0.0.1:1/%2F"),
    }

    found = outcomes(processes)

    assert found == {
        gunicorn: (
            3,
            "APP_ENV=production but DATABASE_URL still holds its development value",
        ),  # 3: no worker booted
        worker: (
            2,
            "APP_ENV=production but BROKER_URL still holds its development value",
        ),  # celery's usage error
        relay: (1, "APP_ENV=production but BROKER_URL still holds its development value"),
    }
