"""Reading a message's buffers and meta keys as typed values: each refusal is a
:class:`~pipeline.errors.WireError` naming the kind, the key and what was wrong."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.errors import WireError
from pipeline.runtime.wire import Message


def array(buffers: dict[str, np.ndarray], name: str, kind: str, dtype: type,
           ndim: int) -> np.ndarray:
    a = buffers.get(name)
    if not isinstance(a, np.ndarray):
        raise WireError(f"{kind} message: no {name!r} buffer")
    if a.dtype != np.dtype(dtype) or a.ndim != ndim:
        raise WireError(f"{kind} message: {name!r} is {a.dtype}{list(a.shape)}, expected "
                        f"{np.dtype(dtype)} with {ndim} axes")
    return a


def integer(meta: dict[str, Any], key: str, kind: str) -> int:
    v = meta.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise WireError(f"{kind} message: meta {key!r} must be an integer, got {v!r}")
    return v


def optional_int(meta: dict[str, Any], key: str, kind: str) -> int | None:
    return None if meta.get(key) is None else integer(meta, key, kind)


def optional_number(meta: dict[str, Any], key: str, kind: str) -> float | None:
    v = meta.get(key)
    if v is None:
        return None
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise WireError(f"{kind} message: meta {key!r} must be a number, got {v!r}")
    return float(v)


def optional_str(meta: dict[str, Any], key: str, kind: str) -> str | None:
    v = meta.get(key)
    if v is not None and not isinstance(v, str):
        raise WireError(f"{kind} message: meta {key!r} must be a string, got {v!r}")
    return v


def optional_dict(meta: dict[str, Any], key: str, kind: str) -> dict[str, Any] | None:
    v = meta.get(key)
    if v is not None and not isinstance(v, dict):
        raise WireError(f"{kind} message: meta {key!r} must be an object, got {v!r}")
    return v


def expect(msg: Message, kind: str) -> None:
    if msg.kind != kind:
        raise WireError(f"expected a {kind} message, got a {msg.kind} message")


def track(msg: Message) -> int:
    if msg.track is None:
        raise WireError(f"{msg.kind} message of stream {msg.stream!r} has no track")
    return msg.track
