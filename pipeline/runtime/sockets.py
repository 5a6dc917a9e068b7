"""ZeroMQ sockets, created, configured and closed in one place.

Every socket in mestream comes from :func:`open_socket`, which sets the high-water
marks and ``LINGER`` (so ``ctx.term()`` never hangs on a forgotten socket), makes tcp
sockets CURVE servers or clients when the process has keys (:func:`use_curve`, from the
YAML's ``security:``; ipc sockets never), and closes the socket when its ``with``
block ends.

Example:
    >>> import zmq
    >>> ctx = zmq.Context()
    >>> with open_socket(ctx, zmq.PULL, "tcp://127.0.0.1:0", bind=True) as s:
    ...     s.getsockopt(zmq.LINGER)
    1000
    >>> ctx.term()
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import zmq


class SocketSecurity(Protocol):
    """What a socket needs of CURVE keys (:class:`pipeline.runtime.keys.CurveKeys` is one):
    set the socket up as a server or a client. A protocol, so this module needs
    nothing of the key files' module (which uses this one: no cycle)."""

    def apply(self, sock: zmq.Socket, address: str, bind: bool) -> None: ...

DEFAULT_HWM = 16
DEFAULT_LINGER_MS = 1000
# Unix domain socket paths are limited to 108 bytes including the terminating NUL.
MAX_IPC_PATH = 107

_process_curve: SocketSecurity | None = None


def use_curve(keys: SocketSecurity | None) -> None:
    """Set the CURVE keys every later tcp socket of this process uses (None: none)."""
    global _process_curve
    _process_curve = keys


@contextmanager
def open_socket(
    ctx: zmq.Context,
    kind: int,
    address: str,
    *,
    bind: bool,
    sndhwm: int = DEFAULT_HWM,
    rcvhwm: int = DEFAULT_HWM,
    linger_ms: int = DEFAULT_LINGER_MS,
    identity: bytes | None = None,
    subscribe: list[bytes] | None = None,
    immediate: bool = False,
    curve: SocketSecurity | None = None,
    max_message_bytes: int | None = None,
) -> Iterator[zmq.Socket]:
    """Create a socket, set its options, bind or connect it, and close it on exit.

    Args:
        ctx: the process's ZeroMQ context.
        kind: ``zmq.PUSH``, ``zmq.PULL``, ``zmq.PUB``, ...
        address: ``ipc://PATH`` or ``tcp://HOST:PORT``.
        bind: bind (the stable side) rather than connect.
        sndhwm, rcvhwm: high-water marks in messages.
        linger_ms: how long unsent messages are kept after close.
        identity: routing id for DEALER sockets.
        subscribe: topic prefixes for SUB sockets (default: everything).
        immediate: queue messages only to completed connections (``ZMQ_IMMEDIATE``):
            a send to a peer that is not there fails at once instead of waiting.
        curve: CURVE keys for a tcp address (default: the process's, :func:`use_curve`).
        max_message_bytes: a peer that sends a larger message is disconnected by
            ZeroMQ (``ZMQ_MAXMSGSIZE``) before it is buffered: a bound socket's guard
            against a process that floods it with huge frames.
    """
    sock = ctx.socket(kind)
    try:
        sock.setsockopt(zmq.LINGER, linger_ms)
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        if identity is not None:
            sock.setsockopt(zmq.IDENTITY, identity)
        if immediate:
            sock.setsockopt(zmq.IMMEDIATE, 1)
        if max_message_bytes is not None:
            sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)
        if kind == zmq.SUB:
            for topic in subscribe if subscribe is not None else [b""]:
                sock.setsockopt(zmq.SUBSCRIBE, topic)
        keys = curve or _process_curve
        if keys is not None and address.startswith("tcp://"):
            keys.apply(sock, address, bind)
        if bind:
            if address.startswith("ipc://"):
                prepare_ipc_path(address)
            sock.bind(address)
        else:
            sock.connect(address)
        yield sock
    finally:
        sock.close(linger=linger_ms)


def count_subscribers(sock: zmq.Socket, count: int) -> int:
    """``count`` updated by the subscription messages waiting on an XPUB socket (1 byte
    0x01 joins, 0x00 leaves; read without blocking)."""
    while True:
        try:
            sub = sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return count
        if sub[:1] == b"\x01":
            count += 1
        elif sub[:1] == b"\x00":
            count = max(0, count - 1)


def prepare_ipc_path(address: str) -> None:
    """Create the directory of an ``ipc://`` endpoint and remove a stale socket file."""
    path = Path(address.removeprefix("ipc://"))
    if len(str(path)) > MAX_IPC_PATH:
        raise ValueError(f"ipc path longer than {MAX_IPC_PATH} bytes: {path}")
    private_dir(path.parent)
    if path.exists():
        os.unlink(path)


def bound_address(sock: zmq.Socket) -> str:
    """The address a bound socket really listens on (resolves ``tcp://...:0``)."""
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def free_tcp_port(consecutive: int = 1, host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago, with the ``consecutive - 1``
    ports after it free too (a publish stage binds its replay endpoint at port + 1).
    For tests and benchmarks that start pipelines on loopback.

    Example:
        >>> port = free_tcp_port(consecutive=2)
        >>> 1024 <= port < 65535
        True
    """
    for _ in range(100):
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        try:
            for extra in range(1, consecutive):
                with socket.socket() as s:
                    s.bind((host, port + extra))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no {consecutive} adjacent free TCP ports on {host}")


def private_dir(directory: Path) -> None:
    """Create ``directory`` (and missing parents) as 0700, and refuse one another user
    owns: its sockets would let that user into the pipeline (or squat its endpoints)."""
    missing = []
    for d in [directory, *directory.parents]:
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    st = directory.stat()
    if st.st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to uid {st.st_uid}, not this user "
                              f"({os.getuid()}): set transport.ipc_dir to a folder of yours")
    if st.st_mode & 0o077 and missing:
        os.chmod(directory, 0o700)
