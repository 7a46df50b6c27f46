"""Live order steps for order-web: GET /ws/orders/{id} upgrades to a WebSocket that sends
each step of that order once, in order, with no gap: first the steps so far (the order's
timeline, `order_steps`), then each new one as its `order.step` event arrives from RabbitMQ.

The pieces, each small enough to test alone:

- `StepStream`: what one socket has sent, and what it sends next. A step whose seq it has
  sent already is dropped (the relay publishes at least once); a step past a gap is sent only
  after the steps between are read from the database (`db.steps_of(after=last sent)`), so the
  client never sees a gap or a duplicate.
- `Watcher`: one socket's mailbox, bounded (`limit` steps). The listener offers steps, the
  socket's own greenlet takes them. A socket whose mailbox fills has a reader that stopped
  reading (its TCP buffers are full, so its greenlet is stuck sending): it is closed, with 1013
  when its greenlet can still say so, else by shutting the connection down. The client
  reconnects with `after=` and loses nothing: the database has every step.
- `Fanout`: the process's watchers by order id; `refill_all` after the listener (re)binds.
- `StepListener`: one connection per process, as the order service's broker user, to a
  server-named, exclusive, auto-delete queue bound to `events` with `order.step`; it
  reconnects with the kit's backoff, and after every bind each open socket reads what it
  missed from the database (steps published while no queue was bound went nowhere).
- `watch_order` (the route) and `Session` (one socket's loop).

Why the handshake neither loses nor doubles a step: the socket's watcher is registered
before its snapshot is read. A step committed before the read is in the snapshot; one
committed after it is published after it (the outbox relays committed rows only), so it
reaches the watcher, or, if the listener had no queue bound then, the refill after the bind
reads it. A step in both is sent once: `StepStream` keeps the highest seq sent.

Writes: one writer per socket, its `Session`. simple-websocket's own `ping_interval` would
ping from its reader thread, a second writer that, with a slow client, waits on the same
socket as the session (gevent refuses two greenlets waiting to write on one socket); so the
session pings itself when idle, and checks the previous ping's pong. It also sends with
`sendall`: simple-websocket's `send` calls `socket.send`, which under gevent may send part
of a frame and drop the rest when the buffer is nearly full.

Server model: one gunicorn gevent worker (measured against gthread: CONTRIBUTING.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pika
import pika.exceptions
import sqlalchemy as sa
from flask import Blueprint, Response, request
from simple_websocket import ConnectionClosed, Server
from wsproto.events import Ping, TextMessage

from messaging.backoff import backoff_seconds
from messaging.broker import connection_parameters
from messaging.envelope import MalformedEvent, envelope_from_json
from messaging.http_input import query_int
from messaging.topology import EVENTS_EXCHANGE
from messaging.web import current_engine, extension
from order_service import db
from order_service.domain import Step, step_from_event

log = logging.getLogger(__name__)

STEP_EVENT = "order.step"
GOING_AWAY, POLICY_VIOLATION, TRY_AGAIN_LATER = 1001, 1008, 1013
# The kernel's send buffer per socket. Left alone, Linux grows it to 4 MB for a peer that does
# not read: a thousand such sockets would pin gigabytes before any mailbox filled. A step is
# ~150 bytes, so 64 KiB still holds hundreds.
SEND_BUFFER_BYTES = 64 * 1024
MAX_CLIENT_MESSAGE_BYTES = 1024  # the client has nothing to say; what it sends is dropped

ReadSteps = Callable[[int], Sequence[Step]]  # the order's steps with seq > the argument, oldest first


class StepStream:
    """The steps one socket sends, each once and in seq order, with no gap: `last` is the
    highest seq sent (the client's `after=` to begin with)."""

    def __init__(self, *, after: int) -> None:
        self.last = after
        self.ahead = after  # the highest seq heard of: above `last`, steps are still owed

    def first(self, snapshot: Sequence[Step]) -> list[Step]:
        """The steps read on connect (seq > after, oldest first)."""
        return self._contiguous(snapshot)

    def next(self, arrived: Iterable[Step], *, refill: bool, read_after: ReadSteps) -> list[Step]:
        """What to send now, given the steps that arrived live (any order, maybe twice) and
        whether the socket must read what it missed (`refill`, after the listener rebound)."""
        out = self._contiguous(read_after(self.last)) if refill else []
        for step in sorted(arrived, key=lambda each: each.seq):
            self.ahead = max(self.ahead, step.seq)
            if step.seq == self.last + 1:
                out.append(step)
                self.last = step.seq
            # else: sent already (a redelivery), or past a gap, which the read below fills
        if self.ahead > self.last:  # a gap: the steps between are in the database, and maybe more
            out += self._contiguous(read_after(self.last))
        return out

    def _contiguous(self, steps: Sequence[Step]) -> list[Step]:
        taken = []
        for step in steps:
            if step.seq <= self.last:
                continue
            if step.seq != self.last + 1:
                break  # a hole (a step not committed yet): its event brings it, and what follows
            taken.append(step)
            self.last = step.seq
        self.ahead = max(self.ahead, self.last)
        return taken


class Watcher:
    """One socket's mailbox: the listener offers steps of its order, the socket takes them.
    `wake` is set on every change (simple-websocket sets it too, when the client sends or
    closes: it is the socket's event). Thread-safe, for the gthread model as much as gevent."""

    def __init__(self, *, order_id: str, limit: int) -> None:
        self.order_id = order_id
        self.limit = limit
        self.wake = threading.Event()
        self.overflowed = False
        self.on_overflow: Callable[[], None] = lambda: None  # the session's: cut a stuck send short
        self._lock = threading.Lock()
        self._pending: deque[Step] = deque()
        self._refill = False

    def offer(self, step: Step) -> None:
        with self._lock:
            if self.overflowed:
                return
            if len(self._pending) >= self.limit:
                self.overflowed = True
                self._pending.clear()
            else:
                self._pending.append(step)
        if self.overflowed:
            log.warning("order %s: a socket stopped reading; closing it", self.order_id)
            self.on_overflow()
        self.wake.set()

    def request_refill(self) -> None:
        with self._lock:
            self._refill = True
        self.wake.set()

    def take(self) -> tuple[list[Step], bool]:
        """The steps offered since the last take, and whether to read what was missed."""
        self.wake.clear()  # before reading: an offer from now on sets it again
        with self._lock:
            steps, refill = list(self._pending), self._refill
            self._pending.clear()
            self._refill = False
        return steps, refill


class Fanout:
    """The process's open sockets by order: each step goes to the watchers of its order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, set[Watcher]] = {}

    def register(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.setdefault(watcher.order_id, set()).add(watcher)

    def unregister(self, watcher: Watcher) -> None:
        with self._lock:
            watchers = self._watchers.get(watcher.order_id, set())
            watchers.discard(watcher)
            if not watchers:
                self._watchers.pop(watcher.order_id, None)

    def deliver(self, step: Step) -> None:
        with self._lock:
            watchers = list(self._watchers.get(step.order_id, ()))
        for watcher in watchers:
            watcher.offer(step)

    def refill_all(self) -> None:
        with self._lock:
            watchers = [watcher for each in self._watchers.values() for watcher in each]
        for watcher in watchers:
            watcher.request_refill()

    def count(self) -> int:
        with self._lock:
            return sum(len(each) for each in self._watchers.values())


def step_of_message(body: bytes) -> Step:
    """An `order.step` event's step; MalformedEvent or ValueError for anything else."""
    envelope = envelope_from_json(body)
    if envelope.type != STEP_EVENT:
        raise MalformedEvent(f"not an {STEP_EVENT} event: {envelope.type!r}")
    return step_from_event(envelope.data)


class StepListener:
    """The process's `order.step` queue: server-named (amq.gen-...), exclusive and auto-delete,
    so it lives as long as this connection and no other process reads it. Every process binds
    its own, so each gets every step: it is a fan-out, not a work queue. Messages are acked
    once handed to the watchers; prefetch bounds what the broker pushes ahead."""

    def __init__(self, *, broker_url: str, fanout: Fanout, prefetch: int = 256) -> None:
        self.broker_url = broker_url
        self.fanout = fanout
        self.prefetch = prefetch
        self.bound = threading.Event()  # set while a queue is bound (tests wait on it)
        self._stopped = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="order-step-listener", daemon=True)
        thread.start()  # a greenlet under gevent's monkey patching
        return thread

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        attempt = 0
        while not self._stopped.is_set():
            try:
                self._listen()
                attempt = 0
            except (pika.exceptions.AMQPError, OSError) as error:
                log.warning("order.step listener: %s: %s; reconnecting", type(error).__name__, error)
            self.bound.clear()
            attempt += 1
            self._stopped.wait(backoff_seconds(attempt, first=0.5, cap=10.0, spread=0.5))

    def _listen(self) -> None:
        connection = pika.BlockingConnection(connection_parameters(self.broker_url))
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            channel.queue_bind(queue, EVENTS_EXCHANGE, routing_key=STEP_EVENT)
            self.bound.set()
            # Steps published while no queue of ours was bound reached nobody here: every open
            # socket reads what it missed from the database, now that new ones will arrive.
            self.fanout.refill_all()
            log.info("order.step listener: queue %s bound", queue)
            for method, _properties, body in channel.consume(queue, inactivity_timeout=1.0):
                if self._stopped.is_set():
                    break
                if method is None:
                    continue  # idle: the loop serves heartbeats
                self._deliver(body)
                channel.basic_ack(method.delivery_tag)
                time.sleep(0)  # let the sockets send before the next delivery (gevent: a yield)
        finally:
            if connection.is_open:
                connection.close()

    def _deliver(self, body: bytes) -> None:
        try:
            step = step_of_message(body)
        except (MalformedEvent, ValueError) as error:
            log.warning("order.step listener: dropped a malformed event: %s", error)
            return
        self.fanout.deliver(step)


class Session:
    """One socket's loop, its only writer: the steps, the pings, the close."""

    def __init__(
        self, *, ws: Server, watcher: Watcher, stream: StepStream, read_after: ReadSteps, ping_seconds: float
    ) -> None:
        self.ws, self.watcher, self.stream = ws, watcher, stream
        self.read_after = read_after
        self.ping_seconds = ping_seconds
        self.sending = False
        watcher.on_overflow = self._cut_short

    def run(self, snapshot: Sequence[Step]) -> None:
        try:
            self._send_steps(self.stream.first(snapshot))
            next_ping = time.monotonic() + self.ping_seconds
            while self.ws.connected:
                self.watcher.wake.wait(timeout=max(0.0, next_ping - time.monotonic()))
                self.ws.input_buffer.clear()  # what the client sends is not read
                if self.watcher.overflowed:
                    self._close(TRY_AGAIN_LATER, "too slow: reconnect with after=")
                    return
                arrived, refill = self.watcher.take()
                self._send_steps(self.stream.next(arrived, refill=refill, read_after=self.read_after))
                if time.monotonic() >= next_ping:
                    if not self.ws.pong_received:
                        self._close(GOING_AWAY, "no pong")
                        return
                    self.ws.pong_received = False
                    self._send(self.ws.ws.send(Ping()))
                    next_ping = time.monotonic() + self.ping_seconds
        except (OSError, ConnectionClosed):
            pass  # the client went away, or was cut off as a slow reader: it reconnects with after=
        finally:
            self._close(GOING_AWAY, "")

    def _send_steps(self, steps: Sequence[Step]) -> None:
        for step in steps:
            self._send(self.ws.ws.send(TextMessage(data=json.dumps(step.message()))))

    def _send(self, data: bytes) -> None:
        self.sending = True
        try:
            self.ws.sock.sendall(data)
        finally:
            self.sending = False

    def _cut_short(self) -> None:
        """The mailbox is full. A session stuck in a send cannot say 1013 (the client does not
        read): end the connection under it; a session between sends says it itself."""
        if self.sending:
            with contextlib.suppress(OSError):
                self.ws.sock.shutdown(socket.SHUT_RDWR)

    def _close(self, code: int, reason: str) -> None:
        if not self.ws.connected:
            return
        try:
            self.ws.close(reason=code, message=reason)
        except (OSError, ConnectionClosed):
            self.ws.connected = False


class WebSocketEnded(Response):
    """What a view returns once its WebSocket closed: gunicorn is told the connection was
    handled (it closes it, and writes no HTTP response on it); Werkzeug's server gets an empty one."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.mode == "gunicorn":
            raise StopIteration()
        return super().__call__(environ, start_response)


live = Blueprint("live", __name__)


# websocket=True: Werkzeug's router matches it for an upgrade request only (and, on a path of
# the storefront's, tells a plain request it is one: WebsocketMismatch, answered 426 there).
@live.route("/ws/orders/<order_id>", websocket=True)
def watch_order(order_id: str):
    """The steps of the order as a WebSocket: every step with seq > `after` (default 0) from
    the timeline, then each new one. Refused before the upgrade: a bad `after` (400
    `invalid-query`), a request that is not an upgrade (426 `websocket-required`), an unknown
    order (404 `order-not-found`)."""
    after = query_int("after", default=0, minimum=0, maximum=2_147_483_647)
    fanout: Fanout = extension("fanout")
    engine = current_engine()
    watcher = Watcher(order_id=order_id, limit=extension("settings").socket_queue_limit)
    fanout.register(watcher)  # first: a step committed from now on reaches it (module docstring)
    try:
        with engine.connect() as connection:
            db.get_order(connection, order_id=order_id)  # OrderNotFound: 404 (storefront's PROBLEMS)
            snapshot = db.steps_of(connection, order_id=order_id, after=after)
        ws = Server.accept(
            without_compression(request.environ),
            max_message_size=MAX_CLIENT_MESSAGE_BYTES,
            event_class=lambda: watcher.wake,
        )
        with contextlib.suppress(OSError):  # not a TCP socket (a test's socketpair): its default
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        Session(
            ws=ws,
            watcher=watcher,
            stream=StepStream(after=after),
            read_after=steps_reader(engine, order_id=order_id),
            ping_seconds=extension("settings").ping_seconds,
        ).run(snapshot)
    finally:
        fanout.unregister(watcher)
    return WebSocketEnded(ws.mode)


def without_compression(environ: dict[str, Any]) -> dict[str, Any]:
    """The request as simple-websocket sees it, without the client's offer of permessage-deflate
    (which it would accept): a step is ~150 bytes, and each socket's zlib state cost ~100 KiB
    of memory (measured: 138 KiB per idle socket with it, 49 KiB without; CONTRIBUTING.md)."""
    return {key: value for key, value in environ.items() if key != "HTTP_SEC_WEBSOCKET_EXTENSIONS"}


def steps_reader(engine: sa.Engine, *, order_id: str) -> ReadSteps:
    def read_after(last: int) -> list[Step]:
        with engine.connect() as connection:
            return db.steps_of(connection, order_id=order_id, after=last)

    return read_after
