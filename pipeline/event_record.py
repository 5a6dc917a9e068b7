"""Where an event record keeps its interval: one rule for every reader.

Two stages publish ``event`` records (docs/protocol.md): classify nests the spotted
interval under ``interval`` (beside ``label``, ``probs``, ``aus``); a pipeline that ends
at spot publishes the spotter's fields at the top level. Readers (the replay filter's
event identity, the CLI, ``eval``, the demo report) all go through :func:`interval_of`,
so they cannot disagree about where the times are.

Example:
    >>> interval_of({"interval": {"onset_ns": 1, "apex_ns": 2, "offset_ns": 3}})
    (1, 2, 3)
    >>> interval_of({"onset_ns": 1, "apex_ns": 2, "offset_ns": 3})
    (1, 2, 3)
    >>> interval_of({"type": "event"}) is None
    True
"""

from __future__ import annotations

from typing import Any


def interval_of(record: dict[str, Any]) -> tuple[int, int, int] | None:
    """(onset_ns, apex_ns, offset_ns) of an event record, None when it has none."""
    iv = record.get("interval")
    if not isinstance(iv, dict):
        iv = record
    on, apex, off = iv.get("onset_ns"), iv.get("apex_ns"), iv.get("offset_ns")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (on, off)):
        return None
    return int(on), int(apex if isinstance(apex, int) else on), int(off)
