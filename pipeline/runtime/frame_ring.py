"""Frames in shared memory: the socket carries where a frame is, not its pixels.

A 640x480x3 frame pushed through a ZeroMQ socket crosses the kernel twice (the sender's
I/O thread writes 0.9 MB into the socket, the receiver's reads it into a new message),
about 11x a memcpy here (BENCHMARKS.md). DeepStream keeps frames in one buffer pool and
passes references; this is the same idea for mestream's capture -> next-stage hop. Each
capture stream owns a :class:`FrameRingWriter`: one POSIX shared-memory segment of
``slots`` frame slots. The source decodes straight into a free slot, and the frame
message names ``(segment, slot, generation)`` instead of carrying the bytes
(``pipeline/runtime/wire.py``); the receiving stage maps the segment once
(:class:`FrameRingReader`), views the slot, and marks it released once the message is
handled.

Slot state lives in the segment itself: per slot, the generation the writer last filled
it with and the generation the reader last released. A slot is free when the two are
equal, so a reader that dies holding slots only stalls its writer until the supervisor
has the stream re-read (:meth:`FrameRingWriter.reclaim`); a stale message still queued
for a restarted reader names an old generation and is refused, never read as the new
frame. Same host only: a pipeline whose next stage is reached over tcp off loopback
sends pixels inline (``transport.frame_ring``).

Example:
    >>> import numpy as np
    >>> w = FrameRingWriter("mestream-doc", slots=2, slot_bytes=64)
    >>> slot, gen, view = w.acquire((4, 4, 3), np.uint8, wait=lambda: True)
    >>> view[:] = 7
    >>> r = FrameRingReader()
    >>> int(r.view(w.name, slot, gen, (4, 4, 3), "uint8").sum())
    336
    >>> r.release(w.name, slot, gen); r.close(); w.close()
"""

from __future__ import annotations

import itertools
import math
import os
import uuid
from collections import OrderedDict
from collections.abc import Callable
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from pipeline.errors import WireError

ALIGN = 64  # slot starts on a cache line
MAGIC = 0x6D657374_72696E67  # "mestring": a segment this module wrote
_META_INTS = 8  # magic, slots, stride, then reserved: one cache line


def _layout(slots: int, slot_bytes: int) -> tuple[int, int, int]:
    """(offset of the first slot, slot stride, total size) of a segment: a meta line,
    per slot (filled generation, released generation), then the slots."""
    header = -(-(_META_INTS + 2 * slots) * 8 // ALIGN) * ALIGN
    stride = -(-slot_bytes // ALIGN) * ALIGN
    return header, stride, header + slots * stride


_CREATED_HERE: set[str] = set()  # segments a writer in this process owns


def _untrack(shm: shared_memory.SharedMemory) -> None:
    # Python < 3.13 registers every attached segment with this process's resource
    # tracker, which unlinks it when the process exits: a reader would delete its
    # writer's ring. Only the creator owns (and unlinks) a segment here.
    if shm.name in _CREATED_HERE:
        return
    try:
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001  (not registered: nothing to undo)
        pass


class FrameRingWriter:
    """One stream's ring of frame slots (the capture side)."""

    _ids = itertools.count()

    def __init__(self, prefix: str, slots: int, slot_bytes: int):
        if slots < 2 or slot_bytes < 1:
            raise ValueError("a frame ring needs at least 2 slots of at least 1 byte")
        self.slots, self.slot_bytes = slots, slot_bytes
        header, self._stride, size = _layout(slots, slot_bytes)
        name = f"{prefix}-{os.getpid()}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        try:
            # Reserve the pages now: a full /dev/shm must be an error here, not a
            # SIGBUS on some later frame.
            os.posix_fallocate(self._shm._fd, 0, size)  # type: ignore[attr-defined]
        except OSError as exc:
            self._shm.close()
            self._shm.unlink()
            raise OSError(f"cannot reserve {size / 2**20:.0f} MiB of shared memory for a "
                          f"frame ring: {exc}") from None
        self._header = header
        _CREATED_HERE.add(self._shm.name)
        meta = np.ndarray((_META_INTS,), np.int64, buffer=self._shm.buf)
        meta[:3] = (MAGIC, slots, self._stride)
        del meta
        self._state = _state_array(self._shm, slots)
        self._state[:] = 0  # generation 0 filled and released: every slot free
        self._gen = 0
        self._cancelled = 0
        self._next = 0
        self._views: dict[tuple[int, tuple[int, ...], str], np.ndarray] = {}

    @property
    def name(self) -> str:
        return self._shm.name

    def fits(self, shape: tuple[int, ...], dtype: np.dtype | type) -> bool:
        return math.prod(shape) * np.dtype(dtype).itemsize <= self.slot_bytes

    def acquire(self, shape: tuple[int, ...], dtype: np.dtype | type,
                wait: Callable[[], bool]) -> tuple[int, int, np.ndarray] | None:
        """The next slot in ring order, as an array of ``shape`` to fill: ``(slot,
        generation, view)``. While the reader still holds it, calls ``wait``, which
        pauses briefly and returns False to give up (then None is returned)."""
        if not self.fits(shape, dtype):
            raise ValueError(f"a {np.dtype(dtype).name} {tuple(shape)} frame does not fit "
                             f"a {self.slot_bytes}-byte slot")
        slot = self._next
        while self._state[slot, 1] != self._state[slot, 0]:
            if not wait():
                return None
        self._next = (slot + 1) % self.slots
        self._gen += 1
        self._state[slot, 0] = self._gen
        key = (slot, tuple(shape), np.dtype(dtype).str)
        view = self._views.get(key)
        if view is None:  # one array per slot and frame format, made once
            offset = self._header + slot * self._stride
            nbytes = math.prod(shape) * np.dtype(dtype).itemsize
            view = np.ndarray(shape, dtype, buffer=self._shm.buf[offset:offset + nbytes])
            self._views[key] = view
        return slot, self._gen, view

    def cancel(self, slot: int, gen: int) -> None:
        """Give back a slot acquired for a frame that was not sent after all."""
        if self._state[slot, 0] == gen:
            self._state[slot, 1] = gen
            self._cancelled += 1

    def reclaim(self) -> None:
        """Mark every slot free: the reader that held them is gone (after a restart
        whose re-read supersedes every frame in flight)."""
        self._state[:, 1] = self._state[:, 0]

    @property
    def frames_written(self) -> int:
        """Slots filled and handed on (acquired and not cancelled)."""
        return self._gen - self._cancelled

    def held(self) -> int:
        """Slots filled and not yet released."""
        return int(np.count_nonzero(self._state[:, 1] != self._state[:, 0]))

    def close(self) -> None:
        self._state = None  # type: ignore[assignment]  (release the buffer exports)
        self._views.clear()
        try:
            self._shm.close()
        except BufferError:  # a frame view is still referenced: unmapped when it goes
            pass
        try:
            self._shm.unlink()
        except FileNotFoundError:
            pass
        _CREATED_HERE.discard(self._shm.name)


def _state_array(shm: shared_memory.SharedMemory, slots: int) -> np.ndarray:
    return np.ndarray((slots, 2), np.int64, buffer=shm.buf, offset=_META_INTS * 8)


class _Mapped:
    """A writer's segment as a reader sees it."""

    def __init__(self, name: str):
        try:
            self.shm = shared_memory.SharedMemory(name=name)
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise WireError(f"shared-memory frame ring {name!r}: {exc}") from None
        _untrack(self.shm)
        if self.shm.size < _META_INTS * 8:
            self.shm.close()
            raise WireError(f"{name!r} is not a mestream frame ring")
        meta = np.ndarray((_META_INTS,), np.int64, buffer=self.shm.buf)
        magic, slots, stride = (int(v) for v in meta[:3])
        del meta
        header, _, size = _layout(max(slots, 0), max(stride, 1))
        if magic != MAGIC or slots < 2 or stride < 1 or size > self.shm.size:
            self.shm.close()
            raise WireError(f"{name!r} is not a mestream frame ring")
        self.slots, self.stride, self.header = slots, stride, header
        self.state = _state_array(self.shm, slots)
        self.views: dict[tuple[int, tuple[int, ...], str], np.ndarray] = {}

    def close(self) -> None:
        self.state = None  # type: ignore[assignment]  (release the buffer exports)
        self.views.clear()
        try:
            self.shm.close()
        except BufferError:  # a stage still holds a frame view: unmapped when it goes
            pass


class FrameRingReader:
    """The receiving side: maps writers' segments on first use (a few at a time)."""

    def __init__(self, max_segments: int = 64):
        self.max_segments = max_segments
        self._mapped: OrderedDict[str, _Mapped] = OrderedDict()

    def _segment(self, name: str) -> _Mapped:
        mapped = self._mapped.get(name)
        if mapped is None:
            mapped = _Mapped(name)
            self._mapped[name] = mapped
            while len(self._mapped) > self.max_segments:
                _, old = self._mapped.popitem(last=False)
                old.close()
        self._mapped.move_to_end(name)
        return mapped

    def view(self, name: str, slot: int, gen: int, shape: tuple[int, ...] | list[int],
             dtype: str) -> np.ndarray:
        """The frame in ``slot`` of ring ``name``; WireError if it is not there (an
        unknown ring, a slot out of range, or a generation the writer has moved past)."""
        m = self._segment(name)
        if not 0 <= slot < m.slots:
            raise WireError(f"ring {name!r}: slot {slot} out of range (0..{m.slots - 1})")
        if m.state[slot, 0] != gen:
            raise WireError(f"ring {name!r} slot {slot}: generation {gen} was overwritten "
                            f"(now {int(m.state[slot, 0])})")
        key = (slot, tuple(shape), dtype)
        view = m.views.get(key)
        if view is None:
            dt = np.dtype(dtype).newbyteorder("<")
            nbytes = math.prod(shape) * dt.itemsize
            if nbytes > m.stride:
                raise WireError(f"ring {name!r}: a {dtype} {list(shape)} frame exceeds "
                                "its slot")
            offset = m.header + slot * m.stride
            view = np.ndarray(tuple(shape), dt, buffer=m.shm.buf[offset:offset + nbytes])
            view.flags.writeable = False  # the receiver reads; the writer owns the pixels
            if len(m.views) < 4 * m.slots:  # a few frame formats per slot at most
                m.views[key] = view
        return view

    def release(self, name: str, slot: int, gen: int) -> None:
        """The message viewing this slot is handled: the writer may fill it again."""
        m = self._mapped.get(name)
        if m is not None and 0 <= slot < m.slots and m.state[slot, 0] == gen:
            m.state[slot, 1] = gen

    def close(self) -> None:
        for mapped in self._mapped.values():
            mapped.close()
        self._mapped.clear()
