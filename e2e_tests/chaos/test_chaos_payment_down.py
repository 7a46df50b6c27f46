"""Fault 6: `docker stop payment-api` while orders flow.

New orders fail fast with a clear answer (503 problem+json `*-unavailable` with the FAILED
order, or a REJECTED order that never needed a payment), never hanging past the configured
timeouts; the stock reserved for them is released (the leaked-reservation and stock
invariants); once payment is back, orders are confirmed again.
"""

from __future__ import annotations

from collections import defaultdict

from e2e_tests.chaos import faults

INJECTIONS = 5
SLACK_SECONDS = 2.0  # backoff between attempts, the order service's own work, the proxy


def fail_fast_bound(env: dict[str, str]) -> float:
    """The longest a POST may take with payment down, from order-api's configured timeouts:
    every attempt at the charge times out on connect and read (it cannot be worse)."""

    def seconds(name: str, default: float) -> float:
        return float(env.get(f"PAYMENT_{name}", env.get(name, default)))

    attempts = int(env.get("PAYMENT_CALL_ATTEMPTS", env.get("CALL_ATTEMPTS", 3)))
    return (
        attempts * (seconds("CONNECT_TIMEOUT_SECONDS", 1) + seconds("READ_TIMEOUT_SECONDS", 3))
        + SLACK_SECONDS
    )


def test_payment_down_fails_orders_fast_and_releases_their_stock(chaos):
    run = chaos("6 stop payment-api").start()
    bound = fail_fast_bound(faults.container_env("order-api"))
    windows = []
    for _ in range(INJECTIONS):
        run.moment(1, 2.5)
        with run.inject("stop payment-api") as injection:
            faults.stop("payment-api", timeout=20)
            down_from = run.driver.now()
            run.moment(2, 4)
            down_until = run.driver.now()
            faults.start("payment-api")
            injection.notes["back_after_s"] = round(faults.wait_ready("payment-api"), 1)
            windows.append((down_from, down_until))
            injection.notes["flowing_again_s"] = round(run.wait_flowing(), 1)
    run.finish(after_converged=lambda: _judge_answers(run, windows, bound))


def _judge_answers(run, windows, bound: float) -> None:
    """Orders placed while payment was down (POST sent after the stop completed): every request
    answered within `bound`; every key got a clear answer (with a concurrent same-key pair, one
    of the two answers from the stored key while the other runs the saga: 202, honest)."""
    latencies = []
    answers_by_key: dict[str, list[tuple]] = defaultdict(list)
    for record in run.driver.records:
        window = next(((a, b) for a, b in windows if a <= record.started <= b), None)
        if window is None:
            continue
        first = record.attempts[0]
        latencies.append(first.seconds)
        if first.status is None:
            run.problem(
                "no-answer-while-payment-down",
                f"{first.error} after {first.seconds:.1f}s",
                order_id=record.order_id,
            )
            continue
        answer = first.answer or {}
        status = ((answer.get("order") or {}) if first.status == 503 else answer).get("status")
        if first.seconds > bound:
            run.problem(
                "slow-failure-while-payment-down",
                f"answered {first.status} {status} after {first.seconds:.1f}s (bound {bound:.0f}s)",
                order_id=record.order_id,
            )
        clear = (
            (
                first.status == 503
                and status == "FAILED"
                and str(answer.get("code", "")).endswith("unavailable")
            )
            or (first.status == 201 and status == "REJECTED")
            or (first.status == 201 and record.ended > window[1])  # payment was back in time
        )
        answers_by_key[record.key].append(
            (clear, record.order_id, f"{first.status} {status} {answer.get('code')}")
        )
    for answers in answers_by_key.values():
        if not any(clear for clear, _order_id, _said in answers):
            _clear, order_id, said = answers[0]
            run.problem("unclear-answer-while-payment-down", f"answered {said}", order_id=order_id)
    if not latencies:
        run.problem("no-order-while-payment-down", "no order was placed while payment-api was stopped")
    else:
        latencies.sort()
        print(
            f"[chaos]   {len(latencies)} requests while payment was down: latency median "
            f"{latencies[len(latencies) // 2]:.1f}s, max {latencies[-1]:.1f}s (bound {bound:.0f}s)"
        )
