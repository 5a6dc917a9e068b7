"""What a producer stage (capture) has ready for the runner to send, per stream.

A stream's reader thread puts; the runner's thread peeks, sends, and pops
(:meth:`pipeline.runtime.runner.StageRunner`), so every message leaves through the
runner's sockets as in every other stage. A file stream's outbox is lossless: a full
one holds its reader back, as a full socket holds the runner back (back-pressure from
the next stage to the file). A live stream's drops its oldest frame instead (a camera
does not wait), and says which, so the frame's ring slot goes back.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from pipeline.runtime import wire
from pipeline.runtime.wire import Message


class Outbox:
    """A short FIFO of one stream's messages, guarded by the stage's shared condition
    (the runner waits on it for any stream's message)."""

    def __init__(self, ready: threading.Condition, size: int, lossless: bool):
        self.ready = ready
        self.size = size
        self.lossless = lossless
        self._items: deque[Message] = deque()

    def put(self, msg: Message, keep_waiting: Callable[[], bool]) -> list[Message]:
        """Queue ``msg``; returns what was dropped to make room (live: the oldest frame;
        lossless: ``msg`` itself when ``keep_waiting`` said to give up while full).
        Ends of stream and watermarks always go in: they are small and must not be lost."""
        control = msg.kind != wire.FRAME
        with self.ready:
            if self.lossless and not control:
                while len(self._items) >= self.size:
                    if not keep_waiting():
                        return [msg]
                    self.ready.wait(0.05)
            dropped = []
            if not self.lossless and not control:
                while self._frames() >= self.size:
                    dropped.append(self._pop_oldest_frame())
            self._items.append(msg)
            self.ready.notify_all()
            return dropped

    def peek(self) -> Message | None:
        """The next message to send, left in place until :meth:`pop`."""
        with self.ready:
            return self._items[0] if self._items else None

    def pop(self, msg: Message) -> None:
        """``msg`` (the one peeked) was sent; unless a re-read cleared it meanwhile."""
        with self.ready:
            if self._items and self._items[0] is msg:
                self._items.popleft()
                self.ready.notify_all()  # a lossless reader may be waiting for room

    def clear(self) -> list[Message]:
        """Empty it (a re-read supersedes what was queued); returns what was there."""
        with self.ready:
            items = list(self._items)
            self._items.clear()
            self.ready.notify_all()
            return items

    def __len__(self) -> int:
        return len(self._items)

    def _frames(self) -> int:
        return sum(1 for m in self._items if m.kind == wire.FRAME)

    def _pop_oldest_frame(self) -> Message:
        for i, m in enumerate(self._items):
            if m.kind == wire.FRAME:
                del self._items[i]
                return m
        raise IndexError("no frame queued")
