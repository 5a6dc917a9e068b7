"""Dynamic batching across streams, as Triton does it: gather items until ``max_batch``
are waiting or the oldest has waited ``max_delay_ms``, then run them as one batch.

Example:
    >>> b = DynamicBatcher(max_batch=3, max_delay_ms=50)
    >>> b.add("a", now=0.0); b.add("b", now=0.01)
    >>> b.ready(now=0.02), round(b.next_deadline_s(now=0.02), 3)
    (False, 0.03)
    >>> b.ready(now=0.06), b.pop()
    (True, ['a', 'b'])
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DynamicBatcher(Generic[T]):
    def __init__(self, max_batch: int, max_delay_ms: float):
        if max_batch < 1 or max_delay_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_delay_ms >= 0")
        self.max_batch = max_batch
        self.max_delay_s = max_delay_ms / 1000.0
        self._items: deque[tuple[float, T]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T, now: float | None = None) -> None:
        self._items.append((time.monotonic() if now is None else now, item))

    def ready(self, now: float | None = None) -> bool:
        """A full batch is waiting, or the oldest item's deadline has passed."""
        if not self._items:
            return False
        if len(self._items) >= self.max_batch:
            return True
        now = time.monotonic() if now is None else now
        return now - self._items[0][0] >= self.max_delay_s

    def next_deadline_s(self, now: float | None = None) -> float | None:
        """Seconds until the oldest item must go (0 if overdue); None when empty."""
        if not self._items:
            return None
        now = time.monotonic() if now is None else now
        return max(0.0, self._items[0][0] + self.max_delay_s - now)

    def pop(self) -> list[T]:
        """Up to ``max_batch`` items, oldest first."""
        n = min(self.max_batch, len(self._items))
        return [self._items.popleft()[1] for _ in range(n)]

    def remove(self, drop: Callable[[T], bool]) -> int:
        """Take out every waiting item for which ``drop`` is true; returns how many."""
        kept = deque((t, item) for t, item in self._items if not drop(item))
        removed = len(self._items) - len(kept)
        self._items = kept
        return removed

    def items(self) -> list[T]:
        """The waiting items, oldest first (for inspection; the batcher keeps them)."""
        return [item for _, item in self._items]

    def waited_s(self, now: float | None = None) -> float:
        """How long the oldest item has waited."""
        if not self._items:
            return 0.0
        return (time.monotonic() if now is None else now) - self._items[0][0]
