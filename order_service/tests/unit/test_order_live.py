"""order-web's live steps without servers: each step once, in order, with no gap (StepStream
with a fake database reader), the bounded mailbox of a socket, the fan-out by order, and what
the listener makes of a message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from messaging.envelope import MalformedEvent, new_event
from order_service.domain import Step
from order_service.live import Fanout, StepStream, Watcher, step_of_message

ROOT = Path(__file__).resolve().parents[3]
AT = datetime(2026, 1, 15, 10, 32, tzinfo=UTC)


def step(seq: int, order_id: str = "o-1", kind: str = "placed") -> Step:
    return Step(order_id=order_id, seq=seq, kind=kind, status="PENDING", at=AT, reason=None)


class FakeTimeline:
    """The order_steps table of one order, and the reads made of it."""

    def __init__(self, last: int) -> None:
        self.steps = [step(seq) for seq in range(1, last + 1)]
        self.reads: list[int] = []

    def read_after(self, last: int) -> list[Step]:
        self.reads.append(last)
        return [each for each in self.steps if each.seq > last]


def seqs(steps) -> list[int]:
    return [each.seq for each in steps]


def test_the_snapshot_is_sent_from_after_on_and_live_steps_follow_it_once():
    timeline = FakeTimeline(last=3)
    stream = StepStream(after=1)

    assert seqs(stream.first(timeline.read_after(1))) == [2, 3]
    # step 3 again (published after the snapshot read it), then 4: only 4 is new
    assert seqs(stream.next([step(3), step(4)], refill=False, read_after=timeline.read_after)) == [4]
    assert seqs(stream.next([step(4), step(2)], refill=False, read_after=timeline.read_after)) == []
    assert timeline.reads == [1]  # no gap: nothing read but the snapshot


def test_a_gap_is_filled_from_the_database_before_the_step_after_it():
    timeline = FakeTimeline(last=6)
    stream = StepStream(after=2)

    sent = stream.next([step(5)], refill=False, read_after=timeline.read_after)

    assert seqs(sent) == [3, 4, 5, 6]  # the read brings everything committed, 6 too
    assert timeline.reads == [2]
    assert seqs(stream.next([step(6)], refill=False, read_after=timeline.read_after)) == []


def test_steps_that_arrive_out_of_order_go_out_in_order():
    timeline = FakeTimeline(last=3)
    stream = StepStream(after=0)

    assert seqs(stream.next([step(2), step(1), step(3)], refill=False, read_after=timeline.read_after)) == [
        1,
        2,
        3,
    ]
    assert timeline.reads == []


def test_nothing_is_sent_past_a_step_the_database_does_not_have_yet():
    timeline = FakeTimeline(last=2)  # 3 not committed yet (or not visible): 4 must wait
    stream = StepStream(after=0)

    assert seqs(stream.next([step(4)], refill=False, read_after=timeline.read_after)) == [1, 2]
    timeline.steps += [step(3), step(4)]
    assert seqs(stream.next([step(3)], refill=False, read_after=timeline.read_after)) == [3, 4]


def test_a_refill_reads_what_was_missed_while_no_queue_was_bound():
    timeline = FakeTimeline(last=4)
    stream = StepStream(after=2)

    assert seqs(stream.next([], refill=True, read_after=timeline.read_after)) == [3, 4]
    assert seqs(stream.next([step(4)], refill=True, read_after=timeline.read_after)) == []


def test_a_full_mailbox_marks_a_slow_reader_and_keeps_nothing():
    cut_short = []
    watcher = Watcher(order_id="o-1", limit=3)
    watcher.on_overflow = lambda: cut_short.append(True)

    for seq in range(1, 4):
        watcher.offer(step(seq))
    assert not watcher.overflowed and watcher.wake.is_set()
    watcher.offer(step(4))

    assert watcher.overflowed and cut_short == [True]
    assert watcher.take() == ([], False)
    watcher.offer(step(5))  # nothing more is queued for a socket being closed
    assert watcher.take() == ([], False) and cut_short == [True]


def test_take_empties_the_mailbox_and_clears_its_event():
    watcher = Watcher(order_id="o-1", limit=10)
    watcher.offer(step(1))
    watcher.request_refill()

    assert (seqs(watcher.take()[0]), watcher.wake.is_set()) == ([1], False)
    assert watcher.take() == ([], False)


def test_the_fanout_gives_a_step_to_the_watchers_of_its_order_only():
    fanout = Fanout()
    mine, also_mine, other = (Watcher(order_id=order, limit=10) for order in ("o-1", "o-1", "o-2"))
    for watcher in (mine, also_mine, other):
        fanout.register(watcher)

    fanout.deliver(step(1, order_id="o-1"))
    fanout.unregister(also_mine)
    fanout.deliver(step(2, order_id="o-1"))
    fanout.refill_all()

    assert seqs(mine.take()[0]) == [1, 2]
    assert seqs(also_mine.take()[0]) == [1]
    assert other.take() == ([], True)
    assert fanout.count() == 2


def test_an_order_step_event_is_read_as_the_step_it_announces():
    example = json.loads((ROOT / "contracts/events/order.step/v1.example.json").read_text())

    parsed = step_of_message(json.dumps(example).encode())

    assert parsed.message() == {
        key: example["data"][key] for key in ("seq", "status", "kind", "at", "reason")
    }
    assert parsed.order_id == example["data"]["order_id"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        new_event(type="order.confirmed", source="order_service", data={}).to_json(),
        new_event(type="order.step", source="order_service", data={"order_id": "o-1", "seq": 0}).to_json(),
    ],
)
def test_anything_else_is_malformed(body):
    with pytest.raises((MalformedEvent, ValueError)):
        step_of_message(body)
