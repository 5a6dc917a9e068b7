"""Where a record keeps its interval and its score: one rule for every reader.

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

from collections.abc import Iterable
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


def track_scores(records: Iterable[dict[str, Any]]
                 ) -> tuple[list[tuple[int, float]], float | None]:
    """The spotter's score curve from ``track`` records (the spot stage's
    ``emit_tracks``): (pts_ns of the frame each score describes, score), sorted, each
    frame once; and the spotter's threshold when the records carry it."""
    scores: dict[int, float] = {}
    threshold = None
    for r in records:
        if r.get("type") != "track" or r.get("score") is None:
            continue
        pts = r.get("score_pts_ns", r.get("pts_ns"))
        if isinstance(pts, int):
            scores[pts] = float(r["score"])
        if isinstance(r.get("threshold"), int | float):
            threshold = float(r["threshold"])
    return sorted(scores.items()), threshold
