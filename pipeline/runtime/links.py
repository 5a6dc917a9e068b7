"""What a stage sends on: a :class:`Sender` per DEALER link to the next stage's ROUTER
(back-pressure at the high-water mark, end-of-stream kept until acknowledged) and the
:class:`Output` a stage's ``process`` writes to."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import zmq

from pipeline.errors import WireError
from pipeline.runtime import wire
from pipeline.runtime.wire import Message

log = logging.getLogger(__name__)

POLL_MS = 100
SEND_GIVE_UP_S = 5.0  # after a stop request, how long to try to deliver what is in hand
# An end-of-stream not acknowledged within this long is sent again: the next stage may
# have been killed with it in its queue and restarted (it acks duplicates too).
EOS_RESEND_S = 2.0


class Sender:
    """Sends on a DEALER socket connected to the next stage's ROUTER.

    Sends block at the high-water mark (back-pressure) yet still notice a stop request.
    Every end-of-stream sent is remembered until the next stage acknowledges it
    (``ack``): ZeroMQ's linger does not promise that a socket closed right after its
    last send delivers it (measured: a capture that exited at once lost its last seven
    frames about one run in six under CPU load), so a finishing sender waits for the
    acks before it closes, as Savant's DEALER/ROUTER writers do.
    """

    def __init__(self, sock: zmq.Socket, stop: threading.Event,
                 on_wait: Callable[[], None] | None = None):
        self.sock = sock
        self.stop = stop
        self.on_wait = on_wait  # keeps heartbeats going while blocked: blocked != stalled
        # stream -> (seq, epoch) of its end-of-stream: an ack clears only the end of its
        # own epoch (a late ack of a re-read's earlier pass must not clear the next's).
        self.unacked: dict[str, tuple[int, int]] = {}
        self._eos_sent: dict[str, tuple[Message, float]] = {}  # for resending
        self._eos_first: dict[str, float] = {}  # when each was first sent

    def send(self, msg: Message) -> bool:
        parts = wire.encode(msg)
        give_up = None
        while True:
            try:
                self.sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
                break
            except zmq.Again:
                if self.stop.is_set():
                    give_up = give_up or time.monotonic() + SEND_GIVE_UP_S
                    if time.monotonic() > give_up:
                        return False
                self.sock.poll(POLL_MS, zmq.POLLOUT)
                self._read_acks()
                if self.on_wait is not None:
                    self.on_wait()
        self._sent(msg)
        return True

    def try_send(self, msg: Message) -> bool:
        """Send without waiting; False when the link is full (the caller keeps ``msg``
        and tries again once :attr:`sock` polls writable)."""
        try:
            self.sock.send_multipart(wire.encode(msg), flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        self._sent(msg)
        return True

    def _sent(self, msg: Message) -> None:
        if msg.kind == wire.EOS:
            self.unacked[msg.stream] = (msg.seq, msg.epoch)
            now = time.monotonic()
            self._eos_sent[msg.stream] = (msg, now)
            self._eos_first[msg.stream] = now

    def give_up_acks(self, older_than_s: float) -> list[str]:
        """Stop waiting for the acks of ends sent over ``older_than_s`` ago (the next
        stage is gone or wedged); returns their streams."""
        now = time.monotonic()
        late = [s for s in self.unacked
                if now - self._eos_first.get(s, now) > older_than_s]
        for stream in late:
            del self.unacked[stream]
        return late

    def wait_for_acks(self, timeout_s: float) -> list[str]:
        """Wait until every end-of-stream sent was acknowledged; return those that were
        not within ``timeout_s`` (the next stage is gone or wedged)."""
        deadline = time.monotonic() + timeout_s
        while self.unacked and time.monotonic() < deadline:
            if self.sock.poll(POLL_MS, zmq.POLLIN):
                self._read_acks()
            self._resend_overdue()
            if self.on_wait is not None:
                self.on_wait()
        return sorted(self.unacked)

    def _resend_overdue(self) -> None:
        now = time.monotonic()
        for stream in list(self.unacked):
            msg, sent = self._eos_sent[stream]
            if now - sent < EOS_RESEND_S:
                continue
            try:
                self.sock.send_multipart(wire.encode(msg), flags=zmq.NOBLOCK)
                log.info("end-of-stream of %s not acknowledged in %.0fs: sent again",
                         stream, now - sent)
            except zmq.Again:
                pass
            self._eos_sent[stream] = (msg, now)

    def _read_acks(self) -> None:
        while True:
            try:
                parts = self.sock.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                ack = wire.decode(parts)
            except WireError as exc:
                log.warning("dropped a malformed reply from the next stage: %s", exc)
                continue
            if ack.kind == wire.ACK and self.unacked.get(ack.stream) == (ack.seq, ack.epoch):
                del self.unacked[ack.stream]


class Output:
    """A stage's data output: one :class:`Sender` per replica of the next stage; each
    message goes to the replica that handles its stream (``PipelineConfig.shard_of``)."""

    def __init__(self, senders: list[Sender], route: Callable[[str], int]):
        self.senders = senders
        self.route = route

    def send(self, msg: Message) -> bool:
        return self.senders[self.route(msg.stream)].send(msg)

    def sender_for(self, stream: str) -> Sender:
        """The link that carries ``stream``."""
        return self.senders[self.route(stream)]

    @property
    def unacked(self) -> bool:
        """Whether some end-of-stream sent awaits its ack."""
        return any(sender.unacked for sender in self.senders)

    def broadcast_nowait(self, msg: Message) -> None:
        """For heartbeats: to every replica, never waiting for room."""
        parts = wire.encode(msg)
        for sender in self.senders:
            try:
                sender.sock.send_multipart(parts, flags=zmq.NOBLOCK)
            except zmq.Again:
                pass

    def service(self) -> None:
        """Read acks and resend overdue end-of-streams, without waiting (for a stage
        that has drained and waits to be released)."""
        for sender in self.senders:
            if sender.unacked:
                sender._read_acks()
                sender._resend_overdue()

    def wait_for_acks(self, timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        missing: list[str] = []
        for sender in self.senders:
            missing += sender.wait_for_acks(max(0.0, deadline - time.monotonic()))
        return sorted(missing)
